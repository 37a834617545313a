"""web.http's depth check on the raw bytes of a body: the same verdict as the walk over the parsed body, on
fixtures, examples and generated JSON full of quotes, backslashes and brackets inside strings, and never a
lower one (the walk confirms what the bytes say)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpt64640_cds.web.http import _deeper_than, _nests_deeper

from ...conftest import FIXTURES, ROOT

TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/u0aé\n\t\ud83d\ude00:,'), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4),
    max_leaves=40,
)


def _depth(value: object) -> int:
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max(map(_depth, children), default=0)
    return 0


@settings(max_examples=150, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=JSON_VALUES, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 2]), limit=st.integers(1, 8))
def test_the_raw_bytes_give_the_parsed_bodys_verdict(value, ensure_ascii, indent, limit):
    raw = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode("utf-8", "surrogatepass")
    assert _nests_deeper(raw, limit) == _deeper_than(json.loads(raw), limit)


FILES = sorted(FIXTURES.glob("scenarios/**/*.json")) + sorted((ROOT / "tests" / "examples").rglob("*.json"))


def test_fixtures_and_examples_nest_exactly_as_deep_in_their_bytes():
    checked = 0
    for path in FILES:
        raw = path.read_bytes()
        depth = _depth(json.loads(raw))
        if depth > 1:
            assert not _nests_deeper(raw, depth), path
            assert _nests_deeper(raw, depth - 1), path
            checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    ("raw", "limit", "deeper"),
    [
        (b'{"a": "[[[[[[", "b": "\\\\", "c": "\\"[[["}', 1, False),
        (b'{"a": "]]]]", "b": [[[1]]]}', 3, True),
        (b'{"[[[": {"}}}": 1}, "\\\\\\"": [[]]}', 2, True),
        (b'{"x": "\\u005b\\u005b"}', 1, False),
        (b'\xef\xbb\xbf{"x": [[1]]}', 2, True),  # a byte order mark
        (b"42", 1, False),
        (b'"[[["', 1, False),
        (b"[" * 9 + b"]" * 9, 8, True),
        (b"[" * 8 + b"]" * 8, 8, False),
        (b'[{}, [[[]]], {"a": {"b": {}}}]', 3, True),
        (b'[{}, [[[]]], {"a": {"b": {}}}]', 4, False),
    ],
)
def test_strings_escapes_and_bare_values(raw, limit, deeper):
    assert _nests_deeper(raw, limit) == deeper == _deeper_than(json.loads(raw), limit)


def test_a_dropped_duplicate_key_makes_the_bytes_say_deeper_and_the_walk_decides():
    raw = b'{"a": [[[[1]]]], "a": 1}'
    assert _nests_deeper(raw, 2) and not _deeper_than(json.loads(raw), 2)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32-le"])
def test_bodies_not_in_utf8_are_left_to_the_walk(encoding):
    raw = json.dumps({"x": "\u225b\u7b22"}).encode(encoding)  # code units holding the bytes of `"` and `[`
    assert json.loads(raw) == {"x": "\u225b\u7b22"}
    assert _nests_deeper(raw, 1) and not _deeper_than(json.loads(raw), 1)

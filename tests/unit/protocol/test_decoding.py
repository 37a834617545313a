"""protocol.decoding.fast_loads: orjson's answer only where it is exactly the standard library's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpt64640_cds.protocol.decoding import UNDECIDED, fast_loads

from ...conftest import FIXTURES


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True would hide a changed type)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)


_TRICKY = [
    b"123456789012345678901234567890",  # beyond 64 bits: orjson would give a float
    b'{"a": -9223372036854775809}',
    b'{"a": 9223372036854775807, "b": -0, "c": -0.0, "d": 1E2, "e": 1.5e-400, "f": 0.1}',
    b'{"a": 1, "a": 2}',
    b'"\\ud83d\\ude00 \\u00e9\\n\\t\\/\\"\\\\"',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud800\\u0041"',
    b'"\xed\xa0\x80"',
    b"[NaN]",
    b"[1e309]",
    b'\xef\xbb\xbf{"a": 1}',
    json.dumps({"a": "é"}).encode("utf-16"),
    b" [ ] ",
    b'"\xc3\xa9"',
]


@pytest.mark.parametrize("raw", _TRICKY)
def test_thefast_loadsr_gives_what_the_standard_library_gives_or_stands_aside(raw):
    fast = fast_loads(raw)
    if fast is UNDECIDED:
        return
    assert _same(fast, json.loads(raw))


def test_thefast_loadsr_reads_every_fixture_as_the_standard_library_does():
    files = sorted(FIXTURES.rglob("*.json"))
    decided = 0
    for path in files:
        raw = path.read_bytes()
        fast = fast_loads(raw)
        if fast is not UNDECIDED:
            decided += 1
            assert _same(fast, json.loads(raw)), path.name
    assert decided > 0.9 * len(files)  # the fast path is the usual one, not the exception


def test_long_integers_are_left_to_the_standard_library():
    assert fast_loads(b'{"a": 12345678901234567890}') is UNDECIDED
    assert fast_loads(b'{"a": 1234567890123456789.5}') is UNDECIDED  # any 19 digits in a row, to be sure
    assert fast_loads(b'{"a": 123456789012345678}') == {"a": 123456789012345678}
    assert fast_loads(bytearray(b'{"a": [1, 2.5, "x"]}')) == {"a": [1, 2.5, "x"]}

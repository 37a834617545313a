"""web.http.read_json inside a real Flask request: every body it refuses, with the status and field it names, and
the bodies it must take (a deep value dropped as a duplicate key, a deep-looking string)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from cpt64640_cds.config import Settings
from cpt64640_cds.errors import ApiError
from cpt64640_cds.web.environment import EXTENSION
from cpt64640_cds.web.http import MAX_CONTAINERS, read_json

from ...conftest import fixture_request

LIMIT = Settings().max_json_depth


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__)
    # read_json reads only the settings of the app's environment.
    app.extensions[EXTENSION] = SimpleNamespace(settings=Settings())
    return app


def _read(app: Flask, raw: bytes) -> Any:
    with app.test_request_context("/", method="POST", data=raw, content_type="application/json"):
        return read_json()


def _refusal(app: Flask, raw: bytes) -> tuple[int, str, str | None, str]:
    with pytest.raises(ApiError) as caught:
        _read(app, raw)
    [issue] = caught.value.issues
    return caught.value.status, issue.code, issue.expression, issue.diagnostics


def _nested(depth: int) -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_a_real_request_is_read_as_it_was_sent(app):
    body = fixture_request("order-sign-lfcn-left")
    assert _read(app, json.dumps(body).encode()) == body
    assert _read(app, json.dumps(body).encode("utf-16")) == body


def test_nesting_up_to_the_limit_is_read_and_beyond_it_refused(app):
    assert _read(app, _nested(LIMIT)) == {"a": json.loads(b"[" * (LIMIT - 1) + b"]" * (LIMIT - 1))}
    status, code, _, text = _refusal(app, _nested(LIMIT + 1))
    assert (status, code) == (400, "too-long") and f"deeper than {LIMIT} levels" in text
    status, code, _, _ = _refusal(app, _nested(LIMIT + 1).decode().encode("utf-32"))
    assert (status, code) == (400, "too-long")
    status, code, _, _ = _refusal(app, b"[" * 100_000 + b"]" * 100_000)
    assert (status, code) == (400, "too-long")


def test_what_only_looks_deep_is_read(app):
    brackets = "[" * (LIMIT * 3)
    assert _read(app, json.dumps({"text": brackets, brackets: 1}).encode()) == {"text": brackets, brackets: 1}
    # JSON keeps the last of two equal keys: the deep value is dropped, so the body is as flat as it reads.
    assert _read(app, b'{"a": ' + _nested(LIMIT * 2) + b', "a": 1}') == {"a": 1}


def test_too_many_containers_are_refused_before_parsing(app):
    status, code, where, _ = _refusal(app, b"[" + b"[]," * MAX_CONTAINERS + b"[]]")
    assert (status, code, where) == (413, "too-costly", "(body)")


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"a": {"b": "x\\ud800"}}', "a.b"),
        (b'{"a": [1, "\\uDFFF"]}', "a[1]"),
        (b'{"a": [1, "\xed\xa0\x80"]}', "a[1]"),  # the surrogate written out in UTF-8 bytes, not escaped
        (b'{"a": {"\xed\xb0\x80": 1}}', "a"),  # in a key: the object holding it is named
        ('{"a": {"b": "\ud800"}}'.encode("utf-16-le", "surrogatepass"), "a.b"),
    ],
)
def test_unpaired_surrogates_are_refused_naming_the_field(app, raw, where):
    status, code, expression, text = _refusal(app, raw)
    assert (status, code, expression) == (400, "structure", where) and "surrogate" in text


def test_paired_surrogates_are_text(app):
    assert _read(app, b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"x": NaN}', "x"),
        (b'{"x": {"y": -Infinity}}', "x.y"),
        (b'{"x": [1, 2, -1E400]}', "x[2]"),
        (b'{"x": 1' + b"0" * 400 + b".5}", "x"),
        (b"NaN", "(body)"),
    ],
)
def test_numbers_beyond_json_are_refused_naming_the_field(app, raw, where):
    status, code, expression, text = _refusal(app, raw)
    assert (status, code, expression) == (400, "invalid", where) and "finite number" in text


def test_large_finite_numbers_are_read(app):
    assert _read(app, b'{"x": [1e308, -1.5e-400, 12345678901234567890123]}') == {
        "x": [1e308, -0.0, 12345678901234567890123]
    }


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe\xff"])
def test_empty_and_broken_bodies_are_400(app, raw):
    status, _, _, _ = _refusal(app, raw)
    assert status == 400


def test_a_long_integer_is_read_whole(app):
    assert _read(app, b'{"a": 12345678901234567890}') == {"a": 12345678901234567890}

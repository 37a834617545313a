"""Each request's id: made by the service, sent back as X-Request-Id, on the app's log lines of that request,
and left in the WSGI environ with the route's label for the server's access line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cpt64640_cds.logs import LOGGER_NAME, REQUEST_ID, JsonFormatter
from cpt64640_cds.web.app import REQUEST_ID_ENVIRON, ROUTE_ENVIRON, create_app

SIGN = "cpt64640-order-sign"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    yield stream
    logging.getLogger(LOGGER_NAME).removeHandler(handler)


def _events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _app(tmp_path, announce: bool = True):
    config = {"database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}", "auth": "off"}
    return create_app(config, announce=announce)


def test_each_answer_has_its_own_id_also_on_the_apps_lines_and_not_the_clients(tmp_path, lines):
    client = _app(tmp_path).test_client()
    first = client.post(f"/cds-services/{SIGN}", json={}, headers={"X-Request-Id": "client-chosen"})
    second = client.get("/healthz")
    ids = first.headers["X-Request-Id"], second.headers["X-Request-Id"]
    assert ids[0] != ids[1] and "client-chosen" not in ids
    [hook] = [e for e in _events(lines) if e["event"] == "hook"]
    assert (hook["requestId"], hook["status"]) == (ids[0], 400)
    assert REQUEST_ID.get() is None  # nothing of the request outlives it


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", f"/cds-services/{SIGN}", f"/cds-services/{SIGN}"),
        ("POST", f"/cds-services/{SIGN}/feedback/", f"/cds-services/{SIGN}/feedback"),
        ("POST", "/cds-services/zq-unknown", "/cds-services/<service_id>"),
        ("GET", "/readyz?zq=1", "/readyz"),
        ("GET", "/zq-unknown", "other"),
    ],
)
def test_the_route_label_is_a_rule_of_ours_never_the_clients_path(tmp_path, method, path, route):
    app = _app(tmp_path)
    seen: list[dict] = []
    inner = app.wsgi_app

    def server(environ, start_response):  # as gunicorn would: it keeps the environ for its access line
        seen.append(environ)
        return inner(environ, start_response)

    app.wsgi_app = server  # type: ignore[method-assign]
    response = app.test_client().open(path, method=method, json={})
    assert seen[0][ROUTE_ENVIRON] == route
    assert seen[0][REQUEST_ID_ENVIRON] == response.headers["X-Request-Id"]


def test_the_development_warning_only_when_announced(tmp_path, lines):
    _app(tmp_path)
    _app(tmp_path, announce=False)  # serve's workers: serve has said it once
    assert [e["event"] for e in _events(lines)].count("authentication-off") == 1

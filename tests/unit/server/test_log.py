"""The JSON lines of `serve` beyond the app's own events: gunicorn's messages in their own words only, the access
line, nginx's stderr relayed without the client's part, and the request id on every line of a request."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from cpt64640_cds.logs import LOGGER_NAME, REQUEST_ID, JsonFormatter, event
from cpt64640_cds.server.front import Front, log_nginx_line
from cpt64640_cds.server.log import GUNICORN_OWN_VALUES, JsonLogger
from cpt64640_cds.web.app import REQUEST_ID_ENVIRON, ROUTE_ENVIRON

MARKER = "zq-client-chose-this"


def _line(formatter: JsonFormatter, name: str, msg: object, *args: object) -> dict:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)
    return json.loads(formatter.format(record))


def test_a_librarys_message_keeps_numbers_and_drops_every_other_value():
    formatter = JsonFormatter()
    line = _line(formatter, "gunicorn.error", "Closing connection. %s (pid %s)", ValueError(MARKER), 42)
    assert (line["event"], line["logger"]) == ("gunicorn", "gunicorn.error")
    assert line["message"] == "Closing connection. <ValueError> (pid 42)"
    assert _line(formatter, "gunicorn.error", "%s %s", "GET", f"/{MARKER}")["message"] == "<str> <str>"
    assert _line(formatter, "gunicorn.error", ValueError(MARKER))["message"] == "<ValueError>"
    assert _line(formatter, "urllib3.pool", "%d retries", "many")["message"] == "%d retries"  # no number there
    assert _line(formatter, "gunicorn.error", "Worker exiting")["message"] == "Worker exiting"


def test_a_trusted_template_is_written_whole():
    formatter = JsonFormatter(GUNICORN_OWN_VALUES)
    line = _line(formatter, "gunicorn.error", "Listening at: %s (%s)", "unix:/run/x/gunicorn.sock", 7)
    assert line["message"] == "Listening at: unix:/run/x/gunicorn.sock (7)"
    assert _line(formatter, "gunicorn.error", "Reason: %s", "the nginx front exited")["message"].endswith("exited")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield stream
    logger.handlers[:], logger.level, logger.propagate = saved


def _events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_logged_while_a_request_is_answered_carries_its_id(lines):
    token = REQUEST_ID.set("abc123")
    try:
        event(logging.getLogger(LOGGER_NAME), "hook", status=200)
    finally:
        REQUEST_ID.reset(token)
    event(logging.getLogger(LOGGER_NAME), "warm")
    hook, warm = _events(lines)
    assert hook["requestId"] == "abc123" and "requestId" not in warm


def _access(stream: io.StringIO, method: str, environ: dict) -> dict:
    JsonLogger(Config()).access(
        SimpleNamespace(status_code=201, sent=17), SimpleNamespace(method=method), environ, timedelta(seconds=0.25)
    )
    return _events(stream)[-1]


def test_the_access_line_names_the_route_the_app_labelled_and_a_known_method(lines):
    line = _access(lines, "POST", {REQUEST_ID_ENVIRON: "r1", ROUTE_ENVIRON: "/cds-services/cpt64640-order-sign"})
    assert {k: line[k] for k in ("event", "method", "route", "status", "bytes", "durationMs", "requestId")} == {
        "event": "access",
        "method": "POST",
        "route": "/cds-services/cpt64640-order-sign",
        "status": 201,
        "bytes": 17,
        "durationMs": 250.0,
        "requestId": "r1",
    }
    unlabelled = _access(lines, MARKER.upper().replace("-", ""), {})  # never reached the app's routing
    assert (unlabelled["method"], unlabelled["route"]) == ("other", "other")


def test_nginx_lines_are_relayed_without_the_clients_part(lines):
    log_nginx_line(
        f'2026/12/02 10:00:00 [alert] 12#12: *3 zero size buf, client: 10.1.2.3, server: _, request: "GET /{MARKER}"'
    )
    log_nginx_line("nginx: [emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)")
    log_nginx_line(f"something else {MARKER}")
    alert, emerg, other = _events(lines)
    assert (alert["event"], alert["level"], alert["message"]) == ("nginx", "error", "[alert] zero size buf")
    assert emerg["message"] == "[emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)"
    assert other["message"] == "[unknown] (a line not in nginx's format)"
    assert "10.1.2.3" not in lines.getvalue() and MARKER not in lines.getvalue()


def test_the_front_relays_nginxs_stderr_as_it_comes_and_the_rest_when_it_is_gone(lines):
    script = "echo '2026/12/02 10:00:00 [alert] 1#1: first'; read go; printf '2026/12/02 10:00:01 [crit] 1#1: last'"
    process = subprocess.Popen(["sh", "-c", f"({script}) >&2"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None and process.stdin is not None
    os.set_blocking(process.stderr.fileno(), False)
    front = Front(process)
    deadline = time.monotonic() + 10
    while not lines.getvalue() and time.monotonic() < deadline:  # the first line, while the process waits
        front.relay_log()
        time.sleep(0.01)
    process.stdin.close()
    process.wait(timeout=10)
    front.relay_log()
    assert [e["message"] for e in _events(lines)] == ["[alert] first"]  # the last line has no newline yet
    front.relay_log(final=True)
    assert [e["message"] for e in _events(lines)] == ["[alert] first", "[crit] last"]

"""Logs are JSON lines with the operational fields, and never carry patient identifiers, tokens or any other
client-chosen string. Everything `serve` writes to stderr is such a line: its own events, gunicorn's messages,
an access line per request carrying the request's id (the X-Request-Id header, and the id on the app's events)."""

from __future__ import annotations

import http.client
import json
import socket
import uuid
from dataclasses import dataclass

import pytest
import requests

from cpt64640_cds.tools.hook_requests import with_prefetch
from cpt64640_cds.tools.processes import start_service

from ..conftest import EXAMPLES, SIGN, fixture_request, load
from .conftest import post_hook, prefetch_from

TOKEN = "secret-token-4b9e1c"
MARKER = "zq" + uuid.uuid4().hex  # in a path, a query and a User-Agent: none of them may reach the log
METHOD_MARKER = "ZQ" + "".join(chr(ord("A") + int(c, 16)) for c in uuid.uuid4().hex[:12])  # a method is a token
RECYCLE_AFTER = 12  # CDS_MAX_REQUESTS: each worker is recycled during the session (gunicorn adds a jitter of 1)


@dataclass
class Session:
    lines: list[str]  # stdout and stderr of `serve`, as start_service keeps them: one file
    answers: dict[str, requests.Response]


@pytest.fixture(scope="module")
def session(tmp_path_factory, fhir_server) -> Session:
    server = start_service(tmp_path_factory.mktemp("logs"), CDS_MAX_REQUESTS=str(RECYCLE_AFTER))
    answers = {}
    try:
        body = fixture_request("order-sign-lfcn-left")
        answers["hook"] = post_hook(
            server.base_url,
            SIGN,
            with_prefetch(body, prefetch_from(fhir_server.base_url, body)),
            params={MARKER: MARKER},
            headers={"User-Agent": f"agent-{MARKER}"},
        )
        assert answers["hook"].ok
        fetched = dict(body, fhirServer=fhir_server.base_url)
        fetched["fhirAuthorization"] = {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "user/*.read",
            "subject": "cds",
        }
        assert post_hook(server.base_url, SIGN, fetched).ok
        assert post_hook(server.base_url, SIGN, body).status_code == 412
        bad = dict(body, context=dict(body["context"], patientId="Patient/neuro-1"))
        answers["bad"] = post_hook(server.base_url, SIGN, bad)
        assert answers["bad"].status_code == 400
        feedback = load(EXAMPLES / "feedback-overridden-with-reason.json")
        answers["feedback"] = requests.post(
            f"{server.base_url}/cds-services/{SIGN}/feedback", json=feedback, timeout=10
        )
        assert answers["feedback"].ok
        answers["unknown"] = requests.get(f"{server.base_url}/{MARKER}/x?{MARKER}=1", timeout=10)
        assert answers["unknown"].status_code == 404
        answers["method"] = requests.request(METHOD_MARKER, f"{server.base_url}/healthz", timeout=10)
        assert answers["method"].status_code == 405
        for _ in range(3 * RECYCLE_AFTER):  # both workers are recycled
            assert requests.get(f"{server.base_url}/healthz", timeout=10).ok
    finally:
        server.stop()
    return Session(server.log_lines(), answers)


@pytest.fixture(scope="module")
def session_log(session) -> list[str]:
    return session.lines


@pytest.fixture(scope="module")
def events(session) -> list[dict]:
    return [json.loads(line) for line in session.lines if not line.startswith("cpt64640-cds rule set ")]


def _one(events: list[dict], request_id: str, name: str) -> dict:
    [found] = [e for e in events if e.get("requestId") == request_id and e["event"] == name]
    return found


def test_every_line_serve_writes_is_json_but_its_one_line_for_people(session):
    """start_service keeps stdout and stderr in one file: stdout's line is the only one that is not JSON."""
    people = [line for line in session.lines if not line.startswith("{")]
    assert len(people) == 1 and people[0].startswith("cpt64640-cds rule set ")
    for line in session.lines:
        if line.startswith("{"):
            assert isinstance(json.loads(line), dict)


def test_gunicorn_speaks_json_and_the_workers_were_recycled(events):
    gunicorn = [e["message"] for e in events if e["event"] == "gunicorn"]
    assert any(message.startswith("Listening at: ") for message in gunicorn)
    assert gunicorn.count("Autorestarting worker after current request.") >= 2
    assert sum(message.startswith("Booting worker with pid: ") for message in gunicorn) >= 4
    assert "Handling signal: term" in gunicorn


def test_development_mode_is_announced_once_whatever_the_workers(events):
    assert [e["event"] for e in events].count("authentication-off") == 1


def test_an_access_line_per_request_with_the_id_the_answer_and_the_app_events_carry(session, events):
    accesses = [e for e in events if e["event"] == "access"]
    health = [e for e in accesses if (e["route"], e["status"]) == ("/healthz", 200)]
    assert len(accesses) - len(health) == 7  # 4 hooks, feedback, the unknown path, the unknown method
    assert len(health) >= 3 * RECYCLE_AFTER  # and start_service's own check
    ids = [e["requestId"] for e in accesses]
    assert len(set(ids)) == len(ids)
    hook = session.answers["hook"]
    access = _one(events, hook.headers["X-Request-Id"], "access")
    assert access["method"] == "POST" and access["route"] == f"/cds-services/{SIGN}" and access["status"] == 200
    assert access["bytes"] == len(hook.content)
    assert isinstance(access["durationMs"], float) and access["durationMs"] >= 0
    assert _one(events, hook.headers["X-Request-Id"], "hook")["status"] == 200
    assert _one(events, session.answers["bad"].headers["X-Request-Id"], "hook")["status"] == 400
    feedback = session.answers["feedback"].headers["X-Request-Id"]
    assert _one(events, feedback, "feedback")["service"] == SIGN
    assert _one(events, feedback, "access")["route"] == f"/cds-services/{SIGN}/feedback"
    unknown = _one(events, session.answers["unknown"].headers["X-Request-Id"], "access")
    assert (unknown["route"], unknown["status"]) == ("other", 404)
    method = _one(events, session.answers["method"].headers["X-Request-Id"], "access")
    assert (method["method"], method["route"], method["status"]) == ("other", "other", 405)  # no rule matched


def test_no_client_chosen_string_reaches_the_log(session):
    text = "\n".join(session.lines)
    assert MARKER not in text and METHOD_MARKER not in text
    assert "agent-" not in text


def test_one_json_line_per_hook_call_with_the_operational_fields(session_log):
    events = [json.loads(line) for line in session_log if line.startswith("{")]
    hooks = [e for e in events if e["event"] == "hook"]
    assert [h["status"] for h in hooks] == [200, 200, 412, 400]
    first = hooks[0]
    assert first["hookInstance"] == fixture_request("order-sign-lfcn-left")["hookInstance"]
    assert first["service"] == SIGN
    assert first["rules"] == ["line-suggestion"]
    assert isinstance(first["durationMs"], int)
    assert first["prefetch"]["conditions"]["source"] == "prefetch"
    fetched = hooks[1]["prefetch"]
    assert fetched["conditions"]["source"] == "fetched" and isinstance(fetched["conditions"]["ms"], int)
    assert hooks[3]["issues"] == ["context.patientId"]


def test_no_patient_identifier_name_or_token_in_any_log_line(session_log):
    text = "\n".join(session_log)
    assert text  # the log is not empty: the test would otherwise pass vacuously
    for secret in (
        "neuro-1",
        "Alex",
        "Sample",
        "1971-04-02",
        "dr-1",
        TOKEN,
        "G57.12",
        "Meralgia",
        "A comment entered by the clinician",
    ):
        assert secret not in text, secret


def test_a_request_gunicorn_refuses_has_its_id_too(tmp_path):
    """Without the front gunicorn answers a broken request itself: the answer and its line share an id."""
    server = start_service(tmp_path, CDS_FRONT="none")
    try:
        with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(f"GET /{MARKER} HTTP/1.1\r\nHost: x\r\nContent-Length: 12{MARKER}\r\n\r\n".encode())
            answer = http.client.HTTPResponse(sock)
            answer.begin()
    finally:
        server.stop()
    assert answer.status == 400
    events = [json.loads(line) for line in server.log_lines() if line.startswith("{")]
    [refused] = [e for e in events if e["event"] == "invalid-request"]
    assert refused["requestId"] == answer.getheader("X-Request-Id")
    assert MARKER not in "\n".join(server.log_lines())

"""Logs are JSON lines with the operational fields, and never carry patient identifiers or tokens."""

from __future__ import annotations

import json

import pytest

from cpt64640_cds.tools.hook_requests import with_prefetch
from cpt64640_cds.tools.processes import start_service

from ..conftest import EXAMPLES, SIGN, fixture_request, load
from .conftest import post_hook, prefetch_from

TOKEN = "secret-token-4b9e1c"


@pytest.fixture(scope="module")
def session_log(tmp_path_factory, fhir_server):
    server = start_service(tmp_path_factory.mktemp("logs"))
    try:
        body = fixture_request("order-sign-lfcn-left")
        assert post_hook(server.base_url, SIGN, with_prefetch(body, prefetch_from(fhir_server.base_url, body))).ok
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
        assert post_hook(server.base_url, SIGN, bad).status_code == 400
        feedback = load(EXAMPLES / "feedback-overridden-with-reason.json")
        import requests

        assert requests.post(f"{server.base_url}/cds-services/{SIGN}/feedback", json=feedback, timeout=10).ok
    finally:
        server.stop()
    return server.log_lines()


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

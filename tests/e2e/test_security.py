"""Security and reliability end to end, the service under gunicorn:
- client authentication with `CDS_AUTH=required`: discovery, service and feedback each need a JWT from a
  trusted issuer whose `aud` is that exact URL; preflight does not; failures are a bare 401;
- outbound calls only to allowed FHIR servers (no SSRF), bound to the client's own servers when configured;
- input limits and FHIR server faults: an OperationOutcome or a degraded answer within the deadline, never a
  5xx, never a hang; nothing about the patient or the tokens in the logs.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from cpt64640_cds.config import ConfigError
from cpt64640_cds.tools.hook_requests import fetching, null_prefetch
from cpt64640_cds.tools.processes import free_port, start_service
from cpt64640_cds.web.app import create_app

from ..conftest import SIGN, fixture_request
from .conftest import post_hook

ISSUER = "https://ehr.example.org"
KID = "test-key-1"
TOKEN = "fhir-token-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def signing_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def secured(tmp_path_factory, signing_key, fhir_server):
    """The service with authentication required, a trusted-issuer file and a shared replay cache."""
    folder = tmp_path_factory.mktemp("secured")
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing_key.public_key()))
    issuers = {
        ISSUER: {
            "jwks": {"keys": [{**public, "kid": KID, "use": "sig", "alg": "ES384"}]},
            "algorithms": ["ES384"],
            "fhir_servers": [fhir_server.base_url],
        }
    }
    (folder / "issuers.json").write_text(json.dumps(issuers))
    port = free_port()
    server = start_service(
        folder,
        port,
        CDS_AUTH="required",
        CDS_TRUSTED_ISSUERS=str(folder / "issuers.json"),
        CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        CDS_FHIR_ALLOWLIST="https://fhir.example.org",
    )
    yield server
    server.stop()


def _token(key, audience: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def _auth(key, audience: str, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(key, audience, **claims)}"}


def test_discovery_needs_a_token_for_its_own_url(secured, signing_key):
    url = f"{secured.base_url}/cds-services"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers=_auth(signing_key, url), timeout=10).status_code == 200
    wrong = _auth(signing_key, f"{secured.base_url}/cds-services/{SIGN}")
    assert requests.get(url, headers=wrong, timeout=10).status_code == 401


def test_service_call_needs_its_own_audience_and_a_fresh_jti(secured, signing_key):
    url = f"{secured.base_url}/cds-services/{SIGN}"
    body = null_prefetch(fixture_request("order-sign-lfcn-left"))
    token = _token(signing_key, url)
    ok = post_hook(secured.base_url, SIGN, body, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["cards"]
    replayed = post_hook(secured.base_url, SIGN, body, headers={"Authorization": f"Bearer {token}"})
    assert replayed.status_code == 401  # the same jti again, whichever worker answers
    discovery_token = _auth(signing_key, f"{secured.base_url}/cds-services")
    assert post_hook(secured.base_url, SIGN, body, headers=discovery_token).status_code == 401


def test_feedback_needs_the_feedback_url_as_audience(secured, signing_key):
    url = f"{secured.base_url}/cds-services/{SIGN}/feedback"
    feedback = {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-27T10:00:00Z"}
    assert requests.post(url, json=feedback, headers=_auth(signing_key, url), timeout=10).status_code == 200
    service_aud = _auth(signing_key, f"{secured.base_url}/cds-services/{SIGN}")
    assert requests.post(url, json=feedback, headers=service_aud, timeout=10).status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        lambda key, aud: _token(key, aud, exp=int(time.time()) - 3600, iat=int(time.time()) - 3900),
        lambda key, aud: _token(key, aud, iss="https://evil.example"),
        lambda key, aud: _token(ec.generate_private_key(ec.SECP384R1()), aud),
        lambda key, aud: jwt.encode({"iss": ISSUER, "aud": aud, "jti": "x"}, "s" * 32, algorithm="HS256"),
        lambda key, aud: _token(key, aud) + "tampered",
        lambda key, aud: "not-a-jwt",
    ],
    ids=["expired", "unknown-issuer", "other-key", "hmac", "tampered", "garbage"],
)
def test_failures_are_a_bare_401(secured, signing_key, forge):
    url = f"{secured.base_url}/cds-services"
    response = requests.get(url, headers={"Authorization": f"Bearer {forge(signing_key, url)}"}, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json()["issue"][0]["diagnostics"] == "authentication required"  # no reason given away


def test_preflight_and_health_need_no_token(secured):
    preflight = requests.options(
        f"{secured.base_url}/cds-services/{SIGN}",
        headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(f"{secured.base_url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{secured.base_url}/readyz", timeout=10).status_code == 200


def test_fhir_server_outside_the_allowlist_is_never_contacted(secured, signing_key, start_fhir_server):
    outsider = start_fhir_server()  # a real server the token must not reach: not on the allowlist
    url = f"{secured.base_url}/cds-services/{SIGN}"
    body = fetching(fixture_request("order-sign-lfcn-left"), outsider.base_url, TOKEN)
    response = post_hook(secured.base_url, SIGN, body, headers=_auth(signing_key, url))
    assert response.status_code == 412
    assert "allowlist" in json.dumps(response.json())
    assert requests.get(f"{outsider.base_url}/_stats", timeout=5).json()["requests"] == 0


def test_required_authentication_without_trusted_issuers_refuses_to_start():
    # Nobody is trusted by accident: not the public sandbox either (its preset is off by default).
    with pytest.raises(ConfigError, match="CDS_TRUSTED_ISSUERS"):
        create_app({"auth": "required"})


def test_sandbox_issuer_is_trusted_only_when_asked(tmp_path):
    app = create_app(
        {
            "auth": "required",
            "sandbox_issuer": True,
            "public_base_urls": ("https://cds.example.org",),
            "database_url": f"sqlite:///{tmp_path / 'db'}",
        }
    )
    assert "https://sandbox.cds-hooks.org" in app.extensions["cpt64640"].authenticator.issuers


def test_https_required_for_the_allowlist_outside_development():
    with pytest.raises(ConfigError, match="https"):
        create_app(
            {
                "auth": "required",
                "sandbox_issuer": True,
                "public_base_urls": ("https://cds.example.org",),
                "fhir_allowlist": ("http://fhir.example.org",),
            }
        )


def test_logs_carry_neither_tokens_nor_patient_data(secured, signing_key):
    url = f"{secured.base_url}/cds-services/{SIGN}"
    token = _token(signing_key, url)
    post_hook(
        secured.base_url,
        SIGN,
        null_prefetch(fixture_request("order-sign-lfcn-left")),
        headers={"Authorization": f"Bearer {token}"},
    )
    requests.get(f"{secured.base_url}/cds-services", headers={"Authorization": "Bearer junk.junk.junk"}, timeout=10)
    text = "\n".join(secured.log_lines())
    assert '"event": "auth-failed"' in text and '"reason": "malformed"' in text
    assert token not in text and token.split(".")[2] not in text and "junk.junk" not in text
    assert TOKEN not in text and "neuro-1" not in text and "Practitioner/dr-1" not in text


# Input limits and faults of the client's FHIR server (development mode: loopback FHIR servers allowed).


def test_prefetch_with_too_many_entries_is_413(service):
    body = fixture_request("order-sign-lfcn-left")
    entry = {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/neuro-1"}}}
    body["prefetch"] = {"conditions": {"resourceType": "Bundle", "entry": [entry] * 5001}, "procedures": None}
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 413
    assert response.json()["issue"][0]["expression"] == ["prefetch.conditions"]


def test_json_nested_too_deep_is_400(service):
    body = fixture_request("order-sign-lfcn-left")
    deep: dict = {}
    cursor = deep
    for _ in range(100):
        cursor["x"] = {}
        cursor = cursor["x"]
    body["extension"] = {"deep": deep}
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 400 and "CDS_MAX_JSON_DEPTH" in json.dumps(response.json())


def _fetching(base: str) -> dict:
    return fetching(fixture_request("order-sign-lfcn-left"), base, TOKEN)


@pytest.mark.parametrize(
    "fault",
    [("--fail-rate", "1"), ("--malformed-rate", "1"), ("--latency", "20000"), ("--token", "other")],
    ids=["http-500", "malformed-json", "hanging", "token-refused"],
)
def test_fhir_server_faults_give_412_within_the_deadline(service, start_fhir_server, fault):
    server = start_fhir_server(*fault)
    started = time.monotonic()
    response = post_hook(service.base_url, SIGN, _fetching(server.base_url))
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert time.monotonic() - started < 1.5 + 2.0


def test_operation_outcome_from_the_fhir_server_is_412(service, start_fhir_server):
    server = start_fhir_server()
    body = _fetching(f"{server.base_url}/no-such-base")  # every search answers 404 with an OperationOutcome
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 412


def test_enormous_fhir_response_is_cut_off(tmp_path, start_fhir_server):
    small = start_service(tmp_path, CDS_FHIR_MAX_CALL_BYTES="2000")
    try:
        server = start_fhir_server()
        response = post_hook(small.base_url, SIGN, _fetching(server.base_url))
        assert response.status_code == 412
        assert "response budget of 2000 bytes for this call exceeded" in json.dumps(response.json())
    finally:
        small.stop()


def test_connection_refused_is_412(service):
    response = post_hook(service.base_url, SIGN, _fetching(f"http://127.0.0.1:{free_port()}"))
    assert response.status_code == 412 and "connection failed" in json.dumps(response.json())


def test_metrics_count_requests_rules_and_fetches(service, fhir_server):
    post_hook(service.base_url, SIGN, _fetching(fhir_server.base_url))
    text = requests.get(f"{service.base_url}/metrics", timeout=10).text
    assert f'cds_requests_total{{service="{SIGN}",status="200"}}' in text
    assert 'cds_rule_firings_total{rule="line-suggestion"}' in text
    assert 'cds_prefetch_fetch_seconds_count{key="conditions"}' in text

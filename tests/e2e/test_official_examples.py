"""The official CDS Hooks examples (tests/examples/cds-hooks, copied from ../shared with SOURCES.md) replayed
against the running service: never a 5xx, good requests accepted, bad ones refused with a 4xx; our discovery
document held to the schema in hooks/ (the examples' responses and discovery documents against the schemas:
tests/unit/protocol/test_contract.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from cpt64640_cds.protocol import contract

from ..conftest import EXAMPLES, SELECT, SIGN, TEST_CASES, expected_errors, load
from .conftest import post_hook

SERVICE_FOR_HOOK = {"order-sign": SIGN, "order-select": SELECT}


def _loopback(body: dict[str, Any], fhir_base: str) -> dict[str, Any]:
    """Point example fhirServer URLs at the fixture server: tests never leave loopback."""
    if "fhirServer" in body:
        body["fhirServer"] = fhir_base
    return body


def _all_requests() -> list[Path]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.json")):
        try:
            data = load(path)
        except ValueError:
            continue
        if isinstance(data, dict) and "hook" in data and "hookInstance" in data:
            found.append(path)
    return found


@pytest.mark.parametrize("path", sorted(TEST_CASES.glob("cdshooks-request-*.json")), ids=lambda p: p.stem)
def test_validator_request_cases(service, fhir_server, path):
    body = _loopback(load(path), fhir_server.base_url)
    good = expected_errors(path) == 0
    assert (contract.issues("cds-request", body) == []) or not good
    service_id = SERVICE_FOR_HOOK.get(body["hook"], SIGN)
    response = post_hook(service.base_url, service_id, body)
    assert response.status_code < 500
    if body["hook"] not in SERVICE_FOR_HOOK:
        # A good patient-view request is a valid CDS Hooks request, but not for an order service.
        assert response.status_code == 400
        assert "hook" in json.dumps(response.json())
    elif good:
        assert response.status_code == 200, response.text
    else:
        assert 400 <= response.status_code < 500
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("name", "hook"),
    [
        ("order-sign-context-r4.json", "order-sign"),
        ("order-sign-context-stu3.json", "order-sign"),
        ("order-select-context-r4.json", "order-select"),
        ("order-select-context-stu3.json", "order-select"),
    ],
)
def test_hook_library_contexts_wrapped_as_requests(service, name, hook):
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), **load(EXAMPLES / name)}
    body["prefetch"] = {"conditions": None, "procedures": None}
    response = post_hook(service.base_url, SERVICE_FOR_HOOK[hook], body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}  # diet and medication orders: nothing to code


def test_legacy_request_is_refused_with_4xx(service):
    body = load(EXAMPLES / "legacy" / "order-sign-request-opioid-legacy.json")
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 400
    named = {e for issue in response.json()["issue"] for e in issue.get("expression", [])}
    assert "context.draftOrders" in named
    assert "prefetch.medication.resourceType" in named


@pytest.mark.parametrize("path", _all_requests(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_request_gets_an_answer_never_a_5xx(service, fhir_server, path):
    body = _loopback(load(path), fhir_server.base_url)
    service_id = SERVICE_FOR_HOOK.get(body.get("hook"), SIGN)
    response = post_hook(service.base_url, service_id, body)
    assert response.status_code in (200, 400, 412), response.text
    if response.status_code != 200:
        assert response.json()["resourceType"] == "OperationOutcome"


def test_our_discovery_passes_the_schema_the_examples_pass(service):
    ours = requests.get(f"{service.base_url}/cds-services", timeout=10).json()
    assert contract.issues("discovery", ours) == []
    for name in ("discovery-response.json", "discovery-response-with-extension.json"):
        assert contract.issues("discovery", load(EXAMPLES / name)) == []

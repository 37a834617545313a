"""Prefetch completion end to end: the service under gunicorn, the fixture FHIR server on loopback."""

from __future__ import annotations

import json
import time

import requests

from cpt64640_cds.tools.cards import proposed_lines, topics
from cpt64640_cds.tools.hook_requests import fetching, null_prefetch, with_prefetch
from cpt64640_cds.tools.processes import free_port

from ..conftest import SIGN, fixture_request
from .conftest import post_hook, prefetch_from

LFCN = ("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")
GON = ("64640", ("RT",), 1, "greater occipital nerve", "right")
TOKEN = "fixture-token-7d1f"
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


def _fetching(body: dict, server: str) -> dict:
    return fetching(body, server, TOKEN)


def test_prefetch_given(service, fhir_server):
    body = fixture_request("order-sign-lfcn-left")
    response = post_hook(service.base_url, SIGN, with_prefetch(body, prefetch_from(fhir_server.base_url, body)))
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert proposed_lines(cards) == [LFCN]
    reason = cards[0]["suggestions"][0]["actions"][0]["resource"]["reason"][0]["coding"][0]
    assert reason["code"] == "G57.12"  # resolved through reasonReference in the prefetched Conditions
    assert "Data not available" not in cards[0]["detail"]


def test_prefetch_keys_null_mean_no_data(service):
    body = null_prefetch(fixture_request("order-sign-lfcn-left"))
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert proposed_lines(cards) == [LFCN]
    assert "reason" not in cards[0]["suggestions"][0]["actions"][0]["resource"]  # no Conditions: none to cite


def test_prefetch_absent_is_fetched_in_parallel_with_the_token(service, start_fhir_server):
    # Each response takes 300 ms: seven keys fetched one after the other would not fit the 1.5 s deadline.
    server = start_fhir_server("--latency", "300", "--token", TOKEN)
    body = _fetching(fixture_request("order-sign-performed-in-encounter"), server.base_url)
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 200
    assert proposed_lines(response.json()["cards"]) == [GON]
    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()
    assert stats["requests"] >= 7
    assert stats["maxInFlight"] >= 2
    assert stats["authorization"] == [f"Bearer {TOKEN}"]


def test_fetched_and_given_prefetch_give_the_same_cards(service, fhir_server):
    for name in ("order-sign-lfcn-left", "order-sign-performed-in-encounter", "order-sign-unrelated"):
        body = fixture_request(name)
        given = post_hook(service.base_url, SIGN, with_prefetch(body, prefetch_from(fhir_server.base_url, body)))
        fetched = post_hook(service.base_url, SIGN, _fetching(body, fhir_server.base_url))
        assert given.status_code == fetched.status_code == 200
        assert proposed_lines(given.json()["cards"]) == proposed_lines(fetched.json()["cards"])
        assert topics(given.json()["cards"]) == topics(fetched.json()["cards"])


def test_prefetch_absent_and_no_fhir_server_is_412(service):
    body = fixture_request("order-sign-lfcn-left")
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    named = {e for issue in outcome["issue"] for e in issue["expression"]}
    assert named == {"prefetch.conditions", "prefetch.procedures"}  # the required keys, not the optional ones


def test_optional_keys_missing_degrade_instead_of_412(service):
    body = fixture_request("order-sign-lfcn-left")
    body["prefetch"] = {"conditions": None, "procedures": None}
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 200
    detail = response.json()["cards"][0]["detail"]
    assert "Data not available" in detail and "imagingStudies" in detail


def test_fhir_server_down_is_412(service):
    body = _fetching(fixture_request("order-sign-lfcn-left"), f"http://127.0.0.1:{free_port()}/fhir")
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 412
    assert "connection failed" in json.dumps(response.json())


def test_fhir_server_hanging_is_412_within_the_deadline(service, start_fhir_server):
    server = start_fhir_server("--latency", "20000")
    body = _fetching(fixture_request("order-sign-lfcn-left"), server.base_url)
    started = time.monotonic()
    response = post_hook(service.base_url, SIGN, body)
    elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert {issue["code"] for issue in response.json()["issue"]} == {"timeout"}
    assert elapsed < 1.5 + 2.0  # the 1.5 s deadline plus generous slack, far below the 20 s hang


def test_operation_outcome_in_prefetch(service, fhir_server):
    body = fixture_request("order-sign-lfcn-left")
    # A required key that failed on the client side and nowhere to fetch it again: 412 naming it.
    failed = with_prefetch(body, {"conditions": OUTCOME, "procedures": None})
    response = post_hook(service.base_url, SIGN, failed)
    assert response.status_code == 412
    assert [e for i in response.json()["issue"] for e in i["expression"]] == ["prefetch.conditions"]
    # With fhirServer the failed key is fetched again and the answer is complete.
    refetched = _fetching(body, fhir_server.base_url)
    refetched["prefetch"] = {"conditions": OUTCOME, "procedures": None}
    response = post_hook(service.base_url, SIGN, refetched)
    assert response.status_code == 200
    assert response.json()["cards"][0]["suggestions"][0]["actions"][0]["resource"]["reason"]
    # An optional key that failed degrades: the card says which data it lacked.
    degraded = with_prefetch(body, {"conditions": None, "procedures": None, "imagingStudies": OUTCOME})
    response = post_hook(service.base_url, SIGN, degraded)
    assert response.status_code == 200
    assert "imagingStudies" in response.json()["cards"][0]["detail"]


def test_fhir_server_rejecting_the_token_is_412(service, start_fhir_server):
    server = start_fhir_server("--token", "another-token")
    response = post_hook(service.base_url, SIGN, _fetching(fixture_request("order-sign-lfcn-left"), server.base_url))
    assert response.status_code == 412
    assert "HTTP 401" in json.dumps(response.json())

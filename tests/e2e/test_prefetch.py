"""Prefetch completion through the app: paging of prefetched Bundles, page limits, foreign next links, outcome
entries and reads that find nothing (the templates themselves: tests/unit/protocol/test_templates.py)."""

from __future__ import annotations

import copy

import requests

from cpt64640_cds.web.app import create_app

from ..conftest import SIGN, fixture_request
from .conftest import call

BODY = fixture_request("order-sign-lfcn-left")


def _paged_body(fhir_base: str, count: int = 1) -> dict:
    """Conditions prefetched as the first page of a paged search; the cited one sits on the last page."""
    first = requests.get(f"{fhir_base}/Condition?patient=neuro-1&_sort=date&_count={count}", timeout=5).json()
    body = copy.deepcopy(BODY)
    body["fhirServer"] = fhir_base
    body["prefetch"] = {"conditions": first, "procedures": None}
    return body


def _reason_codes(response) -> list[str]:
    item = response.get_json()["cards"][0]["suggestions"][0]["actions"][0]["resource"]
    return [c["code"] for r in item.get("reason", []) for c in r["coding"]]


def test_next_pages_of_a_prefetched_bundle_are_followed(client, fhir_server):
    response = call(client, SIGN, _paged_body(fhir_server.base_url))
    assert response.status_code == 200
    assert _reason_codes(response) == ["G57.12"]


def test_paging_stops_at_the_page_limit(tmp_path, fhir_server):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}", "fhir_max_pages": 2})
    response = call(app.test_client(), SIGN, _paged_body(fhir_server.base_url))
    assert response.status_code == 200
    assert "G57.12" not in _reason_codes(response)  # the third page, with the order's reason, was never read
    assert (
        "**Data incomplete (not every page could be read):** conditions." in response.get_json()["cards"][0]["detail"]
    )


def test_next_link_to_another_server_is_not_followed(client, fhir_server):
    body = _paged_body(fhir_server.base_url)
    for link in body["prefetch"]["conditions"]["link"]:
        if link["relation"] == "next":
            link["url"] = link["url"].replace("127.0.0.1", "localhost")
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert "G57.12" not in _reason_codes(response)
    assert "Data incomplete" in response.get_json()["cards"][0]["detail"]


def test_paged_prefetch_without_fhir_server_uses_the_first_page(client, fhir_server):
    body = _paged_body(fhir_server.base_url, count=5)
    del body["fhirServer"]
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert _reason_codes(response) == ["G57.12"]  # all three fit on the first page
    body = _paged_body(fhir_server.base_url, count=1)
    del body["fhirServer"]
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert "Data incomplete" in response.get_json()["cards"][0]["detail"]


def test_search_outcome_entries_inside_a_bundle_are_skipped(client):
    body = copy.deepcopy(BODY)
    conditions = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "incomplete"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "cond-meralgia",
                    "subject": {"reference": "Patient/neuro-1"},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G57.12"}]},
                }
            },
        ],
    }
    body["prefetch"] = {"conditions": conditions, "procedures": None}
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert _reason_codes(response) == ["G57.12"]


def test_read_that_is_not_found_is_no_data_not_a_failure(client, fhir_server):
    body = copy.deepcopy(BODY)
    body["context"]["encounterId"] = "no-such-encounter"
    body["fhirServer"] = fhir_server.base_url
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert "Data not available" not in response.get_json()["cards"][0]["detail"]

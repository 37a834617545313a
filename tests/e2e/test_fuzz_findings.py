"""Regressions for the findings of the property-based runs (docs/reliability.md, "Findings"), one test each.

Every body is the order-sign fixture with null prefetch, changed the way the finding describes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cpt64640_cds.tools.cards import topics
from cpt64640_cds.tools.hook_requests import null_prefetch

from ..conftest import SIGN, fixture_request
from .conftest import call

CPT = "http://www.ama-assn.org/go/cpt"


def _body() -> dict[str, Any]:
    return null_prefetch(fixture_request("order-sign-lfcn-left"))


def _order(body: dict[str, Any]) -> dict[str, Any]:
    return body["context"]["draftOrders"]["entry"][0]["resource"]


@pytest.mark.parametrize("server", ["http://[", "http://x]", "http://[::1"])
def test_1_an_unparseable_fhir_server_is_never_contacted(client, server):
    body = _body()
    body["fhirServer"] = server
    assert call(client, SIGN, body).status_code == 200  # everything prefetched: the server is not needed
    del body["prefetch"]
    response = call(client, SIGN, body)
    assert response.status_code == 412  # required data missing, and this server is not one we may call
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_1_a_fhir_server_url_with_non_ascii_is_a_400_naming_it(client):
    body = _body()
    body["fhirServer"] = "http://a\uff03b"
    response = call(client, SIGN, body)
    assert response.status_code == 400
    assert any("fhirServer" in issue["expression"][0] for issue in response.get_json()["issue"])


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"resourceType": "Bundle", "entry": 1}, "prefetch.conditions.entry"),  # 2
        ({"resourceType": "Bundle", "link": 1}, "prefetch.conditions.link"),  # 3
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": []}}]},
            "prefetch.conditions.entry[0].resource.resourceType",
        ),  # 4
    ],
)
def test_2_to_4_malformed_prefetch_bundles_are_400_naming_the_field(client, conditions, field):
    body = _body()
    body["prefetch"]["conditions"] = conditions
    response = call(client, SIGN, body)
    assert response.status_code == 400
    assert [i["expression"][0] for i in response.get_json()["issue"]] == [field]


def test_6_a_date_at_the_end_of_the_calendar_does_not_overflow_the_global_period(client):
    body = _body()
    order = _order(body)
    order["code"] = {"coding": [{"system": CPT, "code": "64620"}], "text": "Chemical neurolysis (phenol)"}
    order["bodySite"] = [{"text": "Left intercostal nerve"}]
    order["occurrenceDateTime"] = order["authoredOn"] = "9999-12-31"
    visit = copy.deepcopy(order)
    visit.update(id="sr-visit", code={"coding": [{"system": CPT, "code": "99214"}]})
    del visit["bodySite"]
    body["context"]["draftOrders"]["entry"].append({"resource": visit})
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert topics(response.get_json()["cards"]) == ["global-period"]


def test_7_identifiers_with_a_trailing_newline_are_rejected(client):
    body = _body()
    body["context"]["patientId"] = "neuro-1\n"
    response = call(client, SIGN, body)
    assert response.status_code == 400
    assert any("context.patientId" in i["expression"][0] for i in response.get_json()["issue"])


def test_8_an_order_with_code_null_is_recoded(client):
    body = _body()
    order = _order(body)
    order["code"] = None
    order["bodySite"] = [{"text": "right knee"}]
    order["note"] = [{"text": "Radiofrequency ablation of the right genicular nerves, CPT 64640"}]
    response = call(client, SIGN, body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert "more-specific-code" in topics(cards)
    update = next(a for c in cards for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == "update")
    assert update["resource"]["code"]["coding"][-1]["code"] == "64624"


def test_9_very_long_notes_are_answered(client):
    body = _body()
    _order(body)["note"] = [{"text": "6% phenol 1 ml " * 4000}, {"text": "phenol " * 20000}]
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert "line-suggestion" in topics(response.get_json()["cards"])


@pytest.mark.parametrize(("method", "path"), [("TRACE", "/healthz"), ("PUT", f"/cds-services/{SIGN}")])
def test_10_a_wrong_method_is_405_with_allow(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"]
    assert response.get_json()["resourceType"] == "OperationOutcome"

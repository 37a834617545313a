"""Request handling: bad input gets a 4xx with an OperationOutcome naming the field; odd but legal input
from real clients is tolerated."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cpt64640_cds.tools.cards import proposed_lines, topics
from cpt64640_cds.tools.hook_requests import null_prefetch

from ..conftest import SELECT, SIGN, fixture_request
from .conftest import call

GOOD = null_prefetch(fixture_request("order-sign-lfcn-left"))


def _without(path: str) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    del target[last]
    return body


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


def _expressions(response) -> list[str]:
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], outcome
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without("hook"), "hook"),
        (_without("hookInstance"), "hookInstance"),
        (_without("context"), "context"),
        (_without("context.patientId"), "context.patientId"),
        (_without("context.draftOrders"), "context.draftOrders"),
        (_with("context.draftOrders", []), "context.draftOrders"),
        (_with("context.draftOrders", {"resourceType": "Patient", "id": "x"}), "context.draftOrders.resourceType"),
        (_with("context.draftOrders", "Bundle"), "context.draftOrders"),
        (_with("context.patientId", "Patient/neuro-1"), "context.patientId"),
        (_with("context.userId", "dr-1"), "context.userId"),
        (_with("hook", "order-select"), "hook"),
        (_with("hookInstance", 42), "hookInstance"),
        (_with("fhirAuthorization", {"access_token": "t", "token_type": "Bearer"}), "fhirServer"),
        (_with("fhirServer", "ftp://example.org"), "fhirServer"),
        (_with("prefetch", {"conditions": {"response": {"status": "200 OK"}}}), "prefetch.conditions.resourceType"),
        (_with("prefetch", []), "prefetch"),
        (
            _with("context.draftOrders.entry", [{"resource": "ServiceRequest/1"}]),
            "context.draftOrders.entry[0].resource",
        ),
    ],
)
def test_malformed_request_names_the_field(client, body, field):
    response = call(client, SIGN, body)
    assert response.status_code == 400
    assert response.mimetype == "application/fhir+json"
    assert field in _expressions(response)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2, 3]",
        b'"order-sign"',
        b"false",
        b"42",
        b"null",
        b"NaN",
        b"",
        b"{",
        b"\xff\xfe",
        b"[" * 100000 + b"]" * 100000,
    ],
    ids=[
        "text",
        "array",
        "string",
        "false",
        "number",
        "null",
        "nan",
        "empty",
        "truncated",
        "not-utf8",
        "deeply-nested",
    ],
)
def test_body_that_is_not_a_json_object_is_400(client, raw):
    response = client.post(f"/cds-services/{SIGN}", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_order_select_without_selections_is_400(client):
    body = null_prefetch(fixture_request("order-select-lfcn-left"), SELECT)
    del body["context"]["selections"]
    assert "context.selections" in _expressions(call(client, SELECT, body))


def test_order_select_selection_must_be_type_slash_id(client):
    body = null_prefetch(fixture_request("order-select-lfcn-left"), SELECT)
    body["context"]["selections"] = ["sr-lfcn"]
    assert "context.selections[0]" in _expressions(call(client, SELECT, body))


def test_unknown_service_id_is_404_with_outcome(client):
    response = call(client, "no-such-service", GOOD)
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["code"] == "not-found"


def test_get_on_a_service_is_405_with_outcome(client):
    response = client.get(f"/cds-services/{SIGN}")
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_path_is_404_json_not_html(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_body_over_the_limit_is_413(tmp_path):
    from cpt64640_cds.web.app import create_app

    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}", "max_body_bytes": 2000})
    body = copy.deepcopy(GOOD)
    body["extension"] = {"padding": "x" * 5000}
    response = app.test_client().post(f"/cds-services/{SIGN}", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert "CDS_MAX_BODY_BYTES" in response.get_json()["issue"][0]["diagnostics"]


def test_error_bodies_never_carry_a_stack_trace(client):
    for response in (
        client.post(f"/cds-services/{SIGN}", data=b"{", content_type="application/json"),
        call(client, SIGN, _without("context")),
    ):
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and 'File "' not in text


# Tolerance: what real clients send and the spec allows.


def test_unknown_context_keys_are_tolerated(client):
    body = copy.deepcopy(GOOD)
    body["context"]["selections"] = ["ServiceRequest/sr-lfcn"]  # the sandbox sends this on order-sign
    body["context"]["vendorThing"] = {"a": 1}
    body["extension"] = {"com.example.flag": True}
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert topics(response.get_json()["cards"])[0] == "line-suggestion"


def test_missing_bundle_type_and_unknown_resource_types_are_tolerated(client):
    body = copy.deepcopy(GOOD)
    del body["context"]["draftOrders"]["type"]
    body["context"]["draftOrders"]["entry"] += [
        {"resource": {"resourceType": "NutritionOrder", "id": "n1", "status": "draft", "intent": "order"}},
        {"resource": {"resourceType": "VisionPrescription", "id": "v1"}},
        {"resource": {"resourceType": "MedicationOrder", "id": "dstu2"}},
        {"fullUrl": "urn:uuid:no-resource"},
    ]
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert proposed_lines(response.get_json()["cards"]) == [
        ("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")
    ]


def test_re_signed_active_order_is_still_coded(client):
    body = copy.deepcopy(GOOD)
    body["context"]["draftOrders"]["entry"][0]["resource"]["status"] = "active"
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert [line[1] for line in proposed_lines(response.get_json()["cards"])] == [("LT",)]


def test_entered_in_error_order_gives_no_line(client):
    body = copy.deepcopy(GOOD)
    body["context"]["draftOrders"]["entry"][0]["resource"]["status"] = "entered-in-error"
    response = call(client, SIGN, body)
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_one_bad_draft_order_does_not_lose_the_others(client):
    body = copy.deepcopy(GOOD)
    broken = copy.deepcopy(body["context"]["draftOrders"]["entry"][0])
    broken["resource"]["id"] = "sr-broken"
    broken["resource"]["occurrenceDateTime"] = "not a date"
    broken["resource"]["unknownField"] = True
    body["context"]["draftOrders"]["entry"].insert(0, broken)
    response = call(client, SIGN, body)
    assert response.status_code == 200
    card = response.get_json()["cards"][0]
    assert proposed_lines([card]) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    assert "ServiceRequest at context.draftOrders.entry[0]" in card["detail"]


def test_text_that_is_not_unicode_is_400_not_a_crash(client):
    # Found by the property tests (tests/e2e/test_fuzz_bundles.py): JSON may escape a lone surrogate, which no
    # database or JSON encoder can store or echo.
    body = json.dumps(null_prefetch(fixture_request("order-sign-lfcn-left"))).replace(
        '"hookInstance": "', '"hookInstance": "\\ud800', 1
    )
    response = client.post(f"/cds-services/{SIGN}", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in response.get_json()["issue"][0]["diagnostics"]
    feedback = '{"card": "\\udc00", "outcome": "overridden", "outcomeTimestamp": "2026-11-27T10:00:00Z"}'
    response = client.post(f"/cds-services/{SIGN}/feedback", data=feedback, content_type="application/json")
    assert response.status_code == 400

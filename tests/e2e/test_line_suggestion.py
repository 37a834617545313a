"""line-suggestion through the app: the proposed 64640 lines as ChargeItems, the recoding, the payer profiles
(the modifier policy itself: tests/unit/coding/test_lines.py)."""

from __future__ import annotations

import copy

import pytest

from cpt64640_cds.tools.cards import proposed_lines, topics
from cpt64640_cds.tools.hook_requests import null_prefetch, with_prefetch
from cpt64640_cds.web.app import create_app

from ..conftest import REQUESTS, SELECT, SIGN, fixture_request, load
from .conftest import call, prefetch_from

CPT = "http://www.ama-assn.org/go/cpt"


def test_draft_order_for_one_sided_nerve_gives_one_line(client):
    body = fixture_request("order-sign-lfcn-left")
    response = call(client, SIGN, with_prefetch(body, prefetch_from(None, body)))
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert topics(cards) == ["line-suggestion"]
    assert proposed_lines(cards) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    card = cards[0]
    assert card["indicator"] == "info"
    assert card["selectionBehavior"] == "at-most-one"
    item = card["suggestions"][0]["actions"][0]["resource"]
    assert item["status"] == "planned"
    assert item["subject"] == {"reference": "Patient/neuro-1"}
    assert item["context"] == {"reference": "Encounter/enc-order"}
    assert item["service"] == [{"reference": "ServiceRequest/sr-lfcn"}]
    assert item["occurrenceDateTime"] == "2026-11-20"
    assert item["enterer"] == {"reference": "Practitioner/dr-1"}
    assert item["reason"][0]["coding"][0]["code"] == "G57.12"
    assert item["extension"][0]["url"].endswith("modifier")
    # The card explains itself: rule id, rule-set version, the resource and fields that fired it.
    explanation = card["extension"]["cpt64640-cds.explanation"]
    assert explanation["ruleId"] == "line-suggestion"
    assert explanation["ruleSetVersion"] in card["detail"]
    assert explanation["evidence"][0]["reference"] == "ServiceRequest/sr-lfcn"
    assert "bodySite[0].text" in explanation["evidence"][0]["fields"]


def test_order_select_codes_only_the_selected_order(client):
    body = fixture_request("order-select-lfcn-left")
    response = call(client, SELECT, with_prefetch(body, prefetch_from(None, body, SELECT)))
    assert response.status_code == 200
    assert proposed_lines(response.get_json()["cards"]) == [
        ("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")
    ]
    unselected = copy.deepcopy(body)
    unselected["context"]["selections"] = ["MedicationRequest/mr-1"]
    response = call(client, SELECT, with_prefetch(unselected, prefetch_from(None, body, SELECT)))
    assert response.get_json() == {"cards": []}


def test_two_nerves_same_side_get_59_on_the_second(client):
    response = call(client, SIGN, null_prefetch(fixture_request("order-sign-two-nerves-same-side")))
    assert proposed_lines(response.get_json()["cards"]) == [
        ("64640", ("LT",), 1, "obturator nerve", "left"),
        ("64640", ("LT", "59"), 1, "musculocutaneous nerve", "left"),
    ]


def test_distinct_modifier_xs_through_configuration(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}", "distinct_modifier": "XS"})
    response = call(app.test_client(), SIGN, null_prefetch(fixture_request("order-sign-two-nerves-same-side")))
    assert [line[1] for line in proposed_lines(response.get_json()["cards"])] == [("LT",), ("LT", "XS")]


def test_bilateral_is_two_lines_rt_and_lt(client):
    response = call(client, SIGN, null_prefetch(fixture_request("order-sign-bilateral-lfcn")))
    assert proposed_lines(response.get_json()["cards"]) == [
        ("64640", ("RT",), 1, "lateral femoral cutaneous nerve", "right"),
        ("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left"),
    ]


def test_completed_procedure_in_the_current_encounter_is_billable(client):
    body = fixture_request("order-sign-performed-in-encounter")
    response = call(client, SIGN, with_prefetch(body, prefetch_from(None, body)))
    cards = response.get_json()["cards"]
    assert proposed_lines(cards) == [("64640", ("RT",), 1, "greater occipital nerve", "right")]
    item = cards[0]["suggestions"][0]["actions"][0]["resource"]
    assert item["status"] == "billable"
    assert item["service"] == [{"reference": "Procedure/proc-gon-right"}]
    assert item["occurrenceDateTime"] == "2026-11-10"
    assert item["reason"][0]["coding"][0]["code"] == "M54.81"


def test_procedure_of_another_encounter_is_not_billed_again(client):
    body = fixture_request("order-sign-performed-in-encounter")
    body["context"]["encounterId"] = "enc-order"
    response = call(client, SIGN, with_prefetch(body, prefetch_from(None, body)))
    assert response.get_json() == {"cards": []}


def test_same_nerve_and_side_twice_is_one_line(client):
    body = fixture_request("order-sign-lfcn-left")
    second = copy.deepcopy(body["context"]["draftOrders"]["entry"][0])
    second["resource"]["id"] = "sr-lfcn-2"
    second["resource"]["bodySite"] = [{"text": "LFCN, left side"}]
    body["context"]["draftOrders"]["entry"].append(second)
    response = call(client, SIGN, null_prefetch(body))
    cards = response.get_json()["cards"]
    assert proposed_lines(cards) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    services = cards[0]["suggestions"][0]["actions"][0]["resource"]["service"]
    assert services == [{"reference": "ServiceRequest/sr-lfcn"}, {"reference": "ServiceRequest/sr-lfcn-2"}]


def test_nerve_not_in_the_knowledge_base_is_billed_as_written(client):
    body = fixture_request("order-sign-lfcn-left")
    body["context"]["draftOrders"]["entry"][0]["resource"]["bodySite"] = [
        {"text": "Medial antebrachial cutaneous n."},
        {"coding": [{"system": "http://snomed.info/sct", "code": "24028007"}]},
    ]
    cards = call(client, SIGN, null_prefetch(body)).get_json()["cards"]
    assert proposed_lines(cards) == [("64640", ("RT",), 1, "medial antebrachial cutaneous nerve", "right")]
    assert "Not in the knowledge base, billed as written: medial antebrachial cutaneous nerve" in cards[0]["detail"]


def test_unrelated_order_gives_no_cards(client):
    body = fixture_request("order-sign-unrelated")
    response = call(client, SIGN, with_prefetch(body, prefetch_from(None, body)))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


@pytest.mark.parametrize(
    "change",
    [
        # a block with a block's agents, coded as a block
        lambda sr: sr.update(
            code={"coding": [{"system": CPT, "code": "64450"}], "text": "LFCN block with bupivacaine"}
        ),
        # no CPT coding and no words of neurolysis or agent
        lambda sr: sr.update(code={"text": "Pain clinic follow-up"}),
        lambda sr: sr.update(bodySite=[{"text": "lateral femoral cutaneous nerve"}]),  # side not written
    ],
    ids=["block-code", "not-neurolysis", "no-side"],
)
def test_near_misses_give_no_line(client, change):
    body = fixture_request("order-sign-lfcn-left")
    change(body["context"]["draftOrders"]["entry"][0]["resource"])
    response = call(client, SIGN, null_prefetch(body))
    assert response.status_code == 200
    assert proposed_lines(response.get_json()["cards"]) == []


def test_order_not_coded_64640_gets_a_recode_suggestion(client):
    body = fixture_request("order-sign-lfcn-left")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"] = {"coding": [{"system": CPT, "code": "64450"}], "text": "LFCN block"}
    order["note"] = [{"text": "phenol 6% 3 mL, ultrasound guided"}]
    card = call(client, SIGN, null_prefetch(body)).get_json()["cards"][0]
    assert card["selectionBehavior"] == "any"
    [_, recode] = card["suggestions"]
    assert proposed_lines([card]) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [update] = recode["actions"]
    assert update["type"] == "update"
    assert update["resource"]["id"] == "sr-lfcn"
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["64640"]  # 64450 replaced
    assert update["resource"]["bodySite"] == order["bodySite"]  # the whole order, otherwise unchanged


def test_bilateral_as_modifier_50_profile(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}", "bilateral_modifier_50": True})
    response = call(app.test_client(), SIGN, null_prefetch(fixture_request("order-sign-bilateral-lfcn")))
    assert proposed_lines(response.get_json()["cards"]) == [
        ("64640", ("50",), 1, "lateral femoral cutaneous nerve", "bilateral")
    ]


def test_readme_example_gives_one_complete_line_card(client):
    """README quickstart: the prefetched example answers with exactly one line card and no data gaps."""
    body = load(REQUESTS / "order-sign-lfcn-left-prefetched.json")
    cards = call(client, SIGN, body).get_json()["cards"]
    assert topics(cards) == ["line-suggestion"]
    assert proposed_lines(cards) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    assert "Data not available" not in cards[0]["detail"]
    assert cards[0]["suggestions"][0]["actions"][0]["resource"]["reason"][0]["coding"][0]["code"] == "G57.12"

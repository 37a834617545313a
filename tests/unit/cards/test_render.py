"""cards.render: findings as CDS Hooks 2.0 cards that keep the contract of docs/cards.md."""

from __future__ import annotations

from cpt64640_cds.cards.context import CardContext
from cpt64640_cds.cards.render import render
from cpt64640_cds.facts.model import Coding, Indication
from cpt64640_cds.rules.catalogue import run_all
from cpt64640_cds.tools.cards import proposed_lines, response_problems, topics

from ..factory import KB, episode, facts, inputs

ORDER = {
    "resourceType": "ServiceRequest",
    "id": "sr-1",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/p-1"},
    "code": {"coding": [{"system": KB.cpt_system, "code": "64450"}], "text": "LFCN block with phenol"},
}


def _cards(record, resources=None):
    return render(run_all(record, inputs(record)), CardContext(KB, record, resources or {}))


def test_a_line_card_keeps_the_contract_and_proposes_its_charge_item():
    cards = _cards(facts(episode()))
    assert response_problems({"cards": cards}) == []
    assert topics(cards) == ["line-suggestion"]
    assert proposed_lines(cards) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [card] = cards
    item = card["suggestions"][0]["actions"][0]["resource"]
    assert (item["status"], item["service"], item["context"]) == (
        "planned",
        [{"reference": "ServiceRequest/sr-1"}],
        {"reference": "Encounter/enc-1"},
    )
    assert item["reason"][0]["coding"][0]["code"] == "G57.12"
    explanation = card["extension"]["cpt64640-cds.explanation"]
    assert (explanation["ruleId"], explanation["ruleSetVersion"]) == ("line-suggestion", KB.version)
    assert card["overrideReasons"] and card["selectionBehavior"] == "at-most-one"


def test_a_recoding_updates_the_order_as_sent_and_only_when_it_was_sent():
    record = facts(episode(codes=("64450",)))
    [card] = _cards(record, {"ServiceRequest/sr-1": ORDER})
    [update] = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["64640"]  # 64450 replaced
    assert update["resource"]["code"]["text"] == ORDER["code"]["text"]
    [card] = _cards(record)  # the order's JSON is unknown: the line stands, no update
    assert [a["type"] for s in card["suggestions"] for a in s["actions"]] == ["create"]


def test_missing_elements_are_listed_in_the_explanation_and_the_detail():
    [card] = _cards(facts(episode(agent=None, volume_ml=None, side=None)))
    missing = card["extension"]["cpt64640-cds.explanation"]["missing"]
    assert missing == ["the specific nerve(s) injected, with side", "the neurolytic agent"]
    assert all(label in card["detail"] for label in missing)
    assert "suggestions" not in card


def test_a_charge_item_reason_carries_only_icd_10_cm_codings_with_their_titles():
    both = Indication(
        (Coding(KB.snomed_system, "test-meralgia", "Meralgia paresthetica"), Coding(KB.icd10cm_system, "G57.12")),
        "Left meralgia paresthetica",
        group="neuropathic-pain",
    )
    [card] = _cards(facts(episode(indications=(both,))))
    item = card["suggestions"][0]["actions"][0]["resource"]
    assert item["reason"] == [
        {
            "coding": [
                {"system": KB.icd10cm_system, "code": "G57.12", "display": "Meralgia paresthetica, left lower limb"}
            ],
            "text": "Left meralgia paresthetica",
        }
    ]
    [card] = _cards(facts(episode(indications=(Indication((), "meralgia", group="neuropathic-pain", by_text=True),))))
    assert "reason" not in card["suggestions"][0]["actions"][0]["resource"]

"""Rule scenarios end to end: every folder in fhir-fixtures/scenarios is a full hook request (the patient's
data comes from the fixture EHR as prefetch) with its expected cards: topics, indicators, and the exact lines
(code, modifiers, units, nerve, side) and suggested codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FIXTURES, SELECT, SIGN, lines_of, load, post_hook, prefetch_from, with_prefetch

SCENARIOS = sorted(p for p in (FIXTURES / "scenarios").iterdir() if (p / "request.json").exists())
SERVICE_FOR_HOOK = {"order-sign": SIGN, "order-select": SELECT}


def _codes(card: dict) -> list[str]:
    """CPT codes the card proposes: on the lines it creates and on the orders it recodes."""
    codes = set()
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            resource = action.get("resource", {})
            if action["type"] == "create" and resource.get("resourceType") != "ChargeItem":
                continue
            codes |= {
                c["code"]
                for c in resource.get("code", {}).get("coding", [])
                if c.get("system") == "http://www.ama-assn.org/go/cpt"
            }
    return sorted(codes)


def outcome(cards: list[dict]) -> list[dict]:
    """The comparable part of a response: what a golden expectation holds."""
    return [
        {
            "topic": card["source"]["topic"]["code"],
            "indicator": card["indicator"],
            "lines": [[code, list(mods), units, nerve, side] for code, mods, units, nerve, side in lines_of([card])],
            "codes": _codes(card),
            "missing": card["extension"]["cpt64640-cds.explanation"].get("missing", []),
        }
        for card in cards
    ]


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_scenario(service, folder: Path):
    request = load(folder / "request.json")
    expected = load(folder / "expected.json")["cards"]
    service_id = SERVICE_FOR_HOOK[request["hook"]]
    response = post_hook(service.base_url, service_id, with_prefetch(request, prefetch_from(None, request, service_id)))
    assert response.status_code == 200, response.text
    got = outcome(response.json()["cards"])
    assert [(c["topic"], c["indicator"]) for c in got] == [(c["topic"], c["indicator"]) for c in expected]
    for got_card, want in zip(got, expected, strict=True):
        assert got_card["lines"] == want["lines"], got_card["topic"]
        for key in ("codes", "missing"):
            if key in want:
                assert got_card[key] == want[key], (got_card["topic"], key)


def test_every_rule_has_a_firing_and_a_near_miss_scenario():
    fired = {card["topic"] for folder in SCENARIOS for card in load(folder / "expected.json")["cards"]}
    assert {"line-suggestion", "more-specific-code", "not-neurolytic", "imaging-bundled", "duplicate-nerve"} <= fired
    near = [folder.name for folder in SCENARIOS if folder.name.startswith("near-")]
    assert len(near) >= 5

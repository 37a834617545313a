"""The scenario corpus, once per mode, over HTTP against the service under gunicorn.

Every scenario of fhir-fixtures/ (the rule scenarios with their golden cards, and the external records that
must give none) is replayed as an EHR would send it: discovery, then the hook, with the prefetch answered from
the scenario's record (`prefetch`) or with no prefetch and a fixture FHIR server for the service to fetch from
(`fetch`). Each run must answer 200 with exactly the golden cards (topics, indicators, lines, codes, missing
elements), and every card must explain itself and be declinable. This is the only place the whole corpus runs;
the replay command itself is tested on single scenarios in test_replay.py.
"""

from __future__ import annotations

import pytest

from cpt64640_cds.cards.evidence import resource_word
from cpt64640_cds.knowledge.loader import load as load_knowledge
from cpt64640_cds.tools.replay import OverHttp, run_scenario
from cpt64640_cds.tools.scenarios import discover

from ..conftest import FIXTURES

KB = load_knowledge()
SCENARIOS = discover([FIXTURES])
MODES = ("prefetch", "fetch")


@pytest.fixture(scope="module")
def target(service):
    return OverHttp(service.base_url)


@pytest.fixture(scope="module")
def services(target):
    return target.discover()


def _explains_itself(card: dict) -> None:
    """The rule, the rule-set version, the evidence (in coders' words in the detail, as references and FHIR paths
    in the extension) and what is missing are in the card; it can be declined."""
    explanation = card["extension"]["cpt64640-cds.explanation"]
    rule = explanation["ruleId"]
    assert f"rule `{rule}`, rule set {KB.version}" in card["detail"]
    read = card["detail"].split("**Why:**")[1].split("Read from the ")[1].split("\n\n")[0]
    assert all(resource_word(e["reference"]) in read for e in explanation["evidence"])
    for missing in explanation.get("missing", []):
        assert missing in card["detail"]
    reasons = card["overrideReasons"]
    assert reasons and all(r["display"] and r["system"] == KB.override_system for r in reasons)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(target, services, scenario, mode):
    run = run_scenario(scenario, mode, target, services)
    assert run.error is None, run.error
    assert run.summary == scenario.expected
    for card in run.cards:
        _explains_itself(card)


def test_every_rule_has_a_firing_and_a_near_miss_scenario():
    fired = {card["topic"] for s in SCENARIOS for card in s.expected}
    assert fired == {
        "line-suggestion",
        "more-specific-code",
        "not-neurolytic",
        "imaging-bundled",
        "duplicate-nerve",
        "indication-missing",
        "documentation-incomplete",
        "image-guidance-missing",
        "global-period",
        "billed-differs",
    }
    assert fired == set(KB.rules)  # so every rule's cards are checked for their explanation above
    near = [s.name for s in SCENARIOS if s.name.startswith("near-")]
    assert len(near) >= 9
    # billed-differs' near misses: encounters billed as documented (a ChargeItem, a Claim, a block beside a
    # neurolysis) draw no card.
    right = ("discharge-billed-correctly", "discharge-claim-correct", "discharge-block-billed")
    billed_right = [s for s in SCENARIOS if s.name in right]
    assert len(billed_right) == 3 and all(s.expected == [] for s in billed_right)
    assert len([s for s in SCENARIOS if (s.path / "request.json").exists()]) >= 40
    names = [s.name for s in SCENARIOS]  # with the external records: the HL7 examples, the SMART sandbox patients
    assert "hl7" in names and sum(n.startswith("smart-sandbox/") for n in names) >= 4 and len(names) >= 53

"""Every card explains itself (rule, rule-set version, evidence, what is missing) and can be declined with a
coded reason that feedback stores per rule."""

from __future__ import annotations

from cpt64640_cds.knowledge.loader import load as load_knowledge
from cpt64640_cds.tools.hook_requests import with_prefetch

from ..conftest import FIXTURES, SIGN, load
from .conftest import call, prefetch_from

KB = load_knowledge()
SCENARIOS = sorted(p for p in (FIXTURES / "scenarios").iterdir() if (p / "request.json").exists())


def _all_cards(client):
    for folder in SCENARIOS:
        request = load(folder / "request.json")
        service = "cpt64640-order-select" if request["hook"] == "order-select" else SIGN
        response = call(client, service, with_prefetch(request, prefetch_from(None, request, service)))
        yield from response.get_json()["cards"]


def test_every_card_names_rule_version_evidence_and_can_be_declined(client):
    seen = set()
    for card in _all_cards(client):
        explanation = card["extension"]["cpt64640-cds.explanation"]
        rule = explanation["ruleId"]
        seen.add(rule)
        assert f"rule `{rule}`, rule set {KB.version}" in card["detail"]
        for evidence in explanation["evidence"]:
            assert evidence["reference"] in card["detail"]
        for missing in explanation.get("missing", []):
            assert missing in card["detail"]
        reasons = card["overrideReasons"]
        assert reasons and all(r["display"] and r["system"] == KB.override_system for r in reasons)
    assert seen == set(KB.rules)  # the scenarios exercise every rule


def test_override_reason_is_stored_with_the_rule(app, client):
    request = load(FIXTURES / "scenarios" / "documentation-order-no-agent" / "request.json")
    cards = call(client, SIGN, with_prefetch(request, prefetch_from(None, request))).get_json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "documentation-incomplete")
    reason = card["overrideReasons"][0]
    feedback = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"system": reason["system"], "code": reason["code"]}},
        "outcomeTimestamp": "2026-11-27T12:00:00Z",
    }
    assert client.post(f"/cds-services/{SIGN}/feedback", json=feedback).status_code == 200
    [row] = app.extensions["cpt64640"].store.feedback_rows()
    assert (row["rule_id"], row["override_code"]) == ("documentation-incomplete", reason["code"])

"""Real-world records without neurolysis give no facts and no findings: every encounter of each SMART sandbox
patient (fhir-fixtures/external/smart-sandbox, Synthea) as the hook's encounter, through fhir, facts, coding
and rules called directly (the same records over HTTP: tests/e2e/test_negatives.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from cpt64640_cds.coding.coded import code
from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.facts.extract import extract
from cpt64640_cds.fhir.record import build
from cpt64640_cds.knowledge.loader import load as load_knowledge
from cpt64640_cds.protocol.prefetch.completion import KeyResult, PrefetchResult
from cpt64640_cds.rules.catalogue import run_all
from cpt64640_cds.rules.inputs import RuleInputs
from cpt64640_cds.tools.fhirserver import resources_in
from cpt64640_cds.tools.scenarios import DEFAULT_AROUND, around_request

from ...conftest import FIXTURES, load

SMART = sorted(p for p in (FIXTURES / "external" / "smart-sandbox").glob("*.json") if p.name != "replay.json")
KB = load_knowledge()


@pytest.mark.parametrize("path", SMART, ids=lambda p: p.stem.split("_")[0])
def test_smart_sandbox_patients_give_no_findings_in_any_encounter(path):
    """Every encounter of each patient as the hook's encounter: no rule finds anything."""
    data = load(path)
    resources = resources_in(data)
    encounters = sorted({r["id"] for r in resources if r["resourceType"] == "Encounter"})
    # Synthea transaction bundles reference by urn:uuid; rewrite as an EHR's FHIR server would serve them.
    text = json.dumps(data)
    for r in resources:
        text = text.replace(f'"urn:uuid:{r["id"]}"', f'"{r["resourceType"]}/{r["id"]}"')
    prefetch = PrefetchResult({"everything": KeyResult("everything", "prefetch", json.loads(text))})
    # The replayer's request around an unrelated draft order: the patient of the record, no encounter yet.
    context = around_request([path], DEFAULT_AROUND, f"neg-{path.stem}")["context"]
    context.pop("encounterId", None)
    record = build(context, None, prefetch)
    assert record.dropped == []
    assert encounters
    for encounter in encounters:
        record.encounter_id = encounter
        facts = extract(record, KB, date(2026, 11, 27))
        assert facts.episodes == [] and facts.guidance_services == []
        assert run_all(facts, RuleInputs(KB, ModifierPolicy.of(KB), code(facts, KB, ModifierPolicy.of(KB)))) == []

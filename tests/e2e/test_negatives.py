"""Real-world records without neurolysis produce no cards: the HL7 R4 examples and the SMART sandbox patients
(fhir-fixtures/external, copied from ../shared/fhir-examples with their SOURCES.md), sent as prefetch
around an unrelated draft order, over HTTP to the service under gunicorn (every encounter of the SMART patients,
stage by stage: tests/unit/rules/test_real_records.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cpt64640_cds.tools.fhirserver import resources_in
from cpt64640_cds.tools.scenarios import DEFAULT_AROUND, around_request

from ..conftest import FIXTURES, SIGN, load
from .conftest import post_hook

EXTERNAL = FIXTURES / "external"
SMART = sorted(p for p in (EXTERNAL / "smart-sandbox").glob("*.json") if p.name != "replay.json")


def _unrelated_request(patient: str, encounter: str | None, resources: list[dict]) -> dict:
    """The replayer's request around an unrelated draft order, with `resources` as the prefetched record."""
    body = around_request([], DEFAULT_AROUND, f"neg-{patient}-{encounter}")
    body["context"]["patientId"] = patient
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {"reference": f"Patient/{patient}"}
    if encounter:
        body["context"]["encounterId"] = encounter
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    body["prefetch"] = {"conditions": bundle, "procedures": bundle}
    return body


def test_hl7_examples_give_no_cards(service):
    resources = [r for path in sorted((EXTERNAL / "hl7").rglob("*.json")) for r in resources_in(load(path))]
    assert len(resources) > 80
    encounters = sorted({r["id"] for r in resources if r["resourceType"] == "Encounter" and "id" in r})
    for encounter in [None, *encounters]:
        response = post_hook(service.base_url, SIGN, _unrelated_request("example", encounter, resources))
        assert response.status_code == 200, response.text
        assert response.json() == {"cards": []}, encounter


def _synthea_ids(path: Path) -> tuple[str, list[str]]:
    resources = resources_in(load(path))
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    by_encounter = Counter(
        p["encounter"]["reference"].split(":")[-1]
        for p in resources
        if p["resourceType"] == "Procedure" and "encounter" in p
    )
    return patient, [e for e, _ in by_encounter.most_common()]


@pytest.mark.parametrize("path", SMART, ids=lambda p: p.stem.split("_")[0])
def test_smart_sandbox_patients_give_no_cards_over_http(service, path):
    patient, encounters = _synthea_ids(path)
    body = _unrelated_request(patient, encounters[0] if encounters else None, [])
    body["prefetch"] = {"conditions": load(path), "procedures": load(path)}
    response = post_hook(service.base_url, SIGN, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}

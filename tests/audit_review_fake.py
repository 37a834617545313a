"""A stand-in for audit.review.review_patient that both engines' tests ship to their workers ("module:function"
tests.audit_review_fake:review, importable with the repository root on PYTHONPATH): one row per Procedure, built
from the resources alone, and the patient's encounters counted, so a row or a count lost, doubled or given to
the wrong patient shows."""

from __future__ import annotations

from typing import Any

from cpt64640_cds.audit.model import FindingRow

REVIEW = "tests.audit_review_fake:review"


def review(patient_id: str, resources: list[dict[str, Any]]) -> tuple[list[FindingRow], int]:
    encounters = sum(1 for resource in resources if resource["resourceType"] == "Encounter")
    rows = []
    for position, resource in enumerate(resources):
        if resource["resourceType"] != "Procedure":
            continue
        reference = (resource.get("encounter") or {}).get("reference", "")
        performed = resource.get("performedDateTime")
        rows.append(
            FindingRow(
                patient_id=patient_id,
                encounter_id=reference.removeprefix("Encounter/"),
                date_of_service=performed[:10] if isinstance(performed, str) else None,
                rule_id="fake.procedure",
                indicator="info",
                proposed_code=None,
                proposed_modifiers=None,
                proposed_units=position,  # where the review saw it: the resources' order matters too
                nerve=None,
                side=None,
                billed_code=None,
                billed_modifiers=None,
                billed_units=len(resources),
                evidence=f"Procedure/{resource.get('id')}",
                rule_set_version="fake",
            )
        )
    return rows, encounters

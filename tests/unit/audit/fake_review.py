"""A stand-in for audit/review.py, importable by name ("tests.unit.audit.fake_review:review_patient") so spawned
workers can load it: one finding per Procedure, every Encounter counted as reviewed."""

from __future__ import annotations

from typing import Any

from cpt64640_cds.audit.model import FindingRow

NAME = f"{__name__}:review_patient"


def review_patient(patient_id: str, resources: list[dict[str, Any]]) -> tuple[list[FindingRow], int]:
    rows = []
    for resource in resources:
        if resource["resourceType"] != "Procedure":
            continue
        encounter = (resource.get("encounter") or {}).get("reference", "Encounter/none").split("/")[-1]
        performed = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get("start")
        rows.append(
            FindingRow(
                patient_id,
                encounter,
                performed[:10] if performed else None,
                f"fake-{resource.get('status')}",
                "warning",
                "64640",
                "LT",
                1,
                "lateral femoral cutaneous",
                "left",
                None,
                None,
                None,
                f"Procedure/{resource['id']} Patient/{patient_id}",
                "test",
            )
        )
    return rows, sum(1 for resource in resources if resource["resourceType"] == "Encounter")

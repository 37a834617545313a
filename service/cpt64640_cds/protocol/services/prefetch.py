"""The prefetch every service declares: what the coding rules read besides the draft orders."""

from __future__ import annotations

from ..declarations import Prefetch

PREFETCH = {
    "patient": Prefetch("Patient/{{context.patientId}}", required=False, purpose="subject of the billing lines"),
    "encounter": Prefetch("Encounter/{{context.encounterId}}", required=False, purpose="encounter and date of service"),
    "conditions": Prefetch(
        "Condition?patient={{context.patientId}}",
        required=True,
        purpose="supporting diagnoses for the billing lines",
    ),
    "procedures": Prefetch(
        "Procedure?patient={{context.patientId}}&_sort=-date&_count=100",
        required=True,
        purpose="procedures already performed in the encounter (duplicates, performed neurolysis)",
    ),
    "imagingStudies": Prefetch(
        "ImagingStudy?patient={{context.patientId}}&_sort=-started&_count=50",
        required=False,
        purpose="evidence of image guidance",
    ),
    "medicationAdministrations": Prefetch(
        "MedicationAdministration?patient={{context.patientId}}&_sort=-effective-time&_count=100",
        required=False,
        purpose="neurolytic agent and volume actually given",
    ),
    "medicationRequests": Prefetch(
        "MedicationRequest?patient={{context.patientId}}&_count=100",
        required=False,
        purpose="pain and spasticity medications tried before (failed conservative care)",
    ),
    "medicationStatements": Prefetch(
        "MedicationStatement?patient={{context.patientId}}&_count=100",
        required=False,
        purpose="pain and spasticity medications tried before (failed conservative care)",
    ),
    "chargeItems": Prefetch(
        "ChargeItem?patient={{context.patientId}}&_count=100",
        required=False,
        purpose="what was billed: E/M services on the procedure date (global period), lines at discharge",
    ),
    "documentReferences": Prefetch(
        "DocumentReference?patient={{context.patientId}}&_sort=-date&_count=50",
        required=False,
        purpose="procedure notes (documentation elements)",
    ),
}

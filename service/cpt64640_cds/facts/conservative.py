"""Less invasive care tried before: earlier procedures, pain and spasticity medications, words in notes."""

from __future__ import annotations

from datetime import date

from ..fhir.elements import cpt_codes, first_date, reference_to, texts_of
from ..fhir.record import Record
from ..knowledge.model import Knowledge
from ..reading.text import read
from .documents import Document
from .model import (
    ConservativeCare,
)


def conservative_care(
    record: Record, kb: Knowledge, documents: list[Document], episode_sources: set[str], today: date
) -> list[ConservativeCare]:
    """Less invasive care tried before: earlier procedures, pain and spasticity medications, notes."""
    found: list[ConservativeCare] = []
    for procedure in record.of_type("Procedure"):
        reference = reference_to(procedure)
        if reference in episode_sources or procedure.status not in ("completed", "in-progress"):
            continue
        when = first_date(procedure.performedDateTime, procedure.performedPeriod)
        if when is not None and when > today:
            continue
        codes, _ = cpt_codes(procedure.code, "code")
        if any(kb.family(code) == "nerve-block" for code in codes):
            found.append(ConservativeCare(reference, "procedure:diagnostic-block", "code"))
        for text, path in texts_of(procedure.code, "code"):
            found += [ConservativeCare(reference, kind, path) for kind in sorted(read(text, path, kb).conservative)]
        for i, note in enumerate(procedure.note or []):
            if note.text:
                kinds = read(note.text, f"note[{i}].text", kb).conservative
                found += [ConservativeCare(reference, kind, f"note[{i}].text") for kind in sorted(kinds)]
    for resource_type in ("MedicationStatement", "MedicationRequest"):
        for medication in record.of_type(resource_type):
            if medication.status == "entered-in-error" or medication.medicationCodeableConcept is None:
                continue
            for text, path in texts_of(medication.medicationCodeableConcept, "medicationCodeableConcept"):
                kinds = {k for k in read(text, path, kb).conservative if k.startswith("medication:")}
                found += [ConservativeCare(reference_to(medication), kind, path) for kind in sorted(kinds)]
    for document in documents:
        found += [ConservativeCare(document.reference, kind, "content") for kind in sorted(document.found.conservative)]
    return list(dict.fromkeys(found))

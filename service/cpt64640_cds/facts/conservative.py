"""Less invasive care tried before: earlier procedures, pain and spasticity medications, words in notes."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..fhir.elements import codes_in, first_date, reference_to, texts_of
from ..fhir.models import MedicationRequest, MedicationStatement, Procedure
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.text import conservative_in, read
from .documents import Document
from .model import ConservativeCare, Evidence


def conservative_care(
    record: Record, kb: Knowledge, documents: list[Document], episode_sources: set[str], today: date
) -> tuple[list[ConservativeCare], list[Evidence]]:
    """Less invasive care tried before: earlier procedures, pain and spasticity medications, notes; and the
    fields of those procedures and medications that were too long to be read whole."""
    found: list[ConservativeCare] = []
    unread: list[Evidence] = []
    for procedure in record.of_type(Procedure):
        reference = reference_to(procedure)
        if reference in episode_sources or procedure.status not in ("completed", "in-progress"):
            continue
        when = first_date(procedure.performedDateTime, procedure.performedPeriod)
        if when is not None and when > today:
            continue
        codes, _ = codes_in(procedure.code, "code", kb.cpt_systems)
        for kind in dict.fromkeys(f.prior_care for code in codes if (f := kb.family_of(code)) and f.prior_care):
            found.append(ConservativeCare(reference, kind, "code"))
        texts = [*texts_of(procedure.code, "code"), *((n.text, f"note[{i}].text") for i, n in _notes(procedure))]
        for text, path in texts:
            kinds, too_long = _note(text, path, kb) if path.startswith("note") else conservative_in(text, kb)
            found += [ConservativeCare(reference, kind, path) for kind in sorted(kinds)]
            unread += [Evidence(reference, (path,))] if too_long else []
    medications: list[MedicationStatement | MedicationRequest] = [
        *record.of_type(MedicationStatement),
        *record.of_type(MedicationRequest),
    ]
    for medication in medications:
        if medication.status == "entered-in-error" or medication.medicationCodeableConcept is None:
            continue
        for text, path in texts_of(medication.medicationCodeableConcept, "medicationCodeableConcept"):
            kinds, too_long = conservative_in(text, kb)
            found += [
                ConservativeCare(reference_to(medication), kind, path)
                for kind in sorted(kinds)
                if kind.startswith("medication:")
            ]
            unread += [Evidence(reference_to(medication), (path,))] if too_long else []
    for document in documents:
        found += [ConservativeCare(document.reference, kind, "content") for kind in sorted(document.found.conservative)]
    return list(dict.fromkeys(found)), unread


def _note(text: str, path: str, kb: Knowledge) -> tuple[frozenset[str], bool]:
    reading = read(text, path, kb)
    return frozenset(reading.conservative), bool(reading.unread)


def _notes(procedure: Procedure) -> list[tuple[int, Any]]:
    return [(i, note) for i, note in enumerate(procedure.note or []) if note.text]

"""Less invasive care tried before: earlier procedures, pain and spasticity medications, words in notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ..fhir.elements import codes_in, first_date, reference_to, texts_of
from ..fhir.models import MedicationRequest, MedicationStatement, Procedure
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.text import conservative_in, read
from .concepts import PerConcept
from .documents import Document
from .model import ConservativeCare, Evidence


def conservative_care(
    record: Record, kb: Knowledge, documents: list[Document], episode_sources: set[str], today: date
) -> tuple[list[ConservativeCare], list[Evidence]]:
    """Less invasive care tried before: earlier procedures, pain and spasticity medications, notes; and the
    fields of those procedures and medications that were too long to be read whole."""
    found: list[ConservativeCare] = []
    unread: list[Evidence] = []
    procedure_care = PerConcept(lambda concept: _procedure_care(concept, kb))
    for procedure in record.of_type(Procedure):
        if procedure.status not in ("completed", "in-progress"):
            continue
        named = _NOTHING if procedure.code is None else procedure_care(procedure.code)
        notes = _notes(procedure)
        if not (named.care or named.unread or notes):
            continue  # most procedures of a history are no such care: which one and when does not matter
        reference = reference_to(procedure)
        if reference in episode_sources:
            continue
        when = first_date(procedure.performedDateTime, procedure.performedPeriod)
        if when is not None and when > today:
            continue
        found += [ConservativeCare(reference, kind, path) for kind, path in named.care]
        unread += [Evidence(reference, (path,)) for path in named.unread]
        for i, note in notes:
            kinds, too_long = _note(note.text, f"note[{i}].text", kb)
            found += [ConservativeCare(reference, kind, f"note[{i}].text") for kind in sorted(kinds)]
            unread += [Evidence(reference, (f"note[{i}].text",))] if too_long else []
    medication_care = PerConcept(lambda concept: _medication_care(concept, kb))
    medications: list[MedicationStatement | MedicationRequest] = [
        *record.of_type(MedicationStatement),
        *record.of_type(MedicationRequest),
    ]
    for medication in medications:
        concept = medication.medicationCodeableConcept
        if medication.status == "entered-in-error" or concept is None:
            continue
        named = medication_care(concept)
        if named.care or named.unread:
            reference = reference_to(medication)
            found += [ConservativeCare(reference, kind, path) for kind, path in named.care]
            unread += [Evidence(reference, (path,)) for path in named.unread]
    for document in documents:
        found += [ConservativeCare(document.reference, kind, "content") for kind in sorted(document.found.conservative)]
    return list(dict.fromkeys(found)), unread


@dataclass(frozen=True)
class _Named:
    """The care a procedure's or medication's concept names, as (kind, field) in order of its fields, and the
    fields too long to be read whole."""

    care: tuple[tuple[str, str], ...]
    unread: tuple[str, ...]


_NOTHING = _Named((), ())


def _procedure_care(concept: Any, kb: Knowledge) -> _Named:
    codes, _ = codes_in(concept, "code", kb.cpt_systems)
    families = (kb.family_of(code) for code in codes)
    care = [(kind, "code") for kind in dict.fromkeys(f.prior_care for f in families if f and f.prior_care)]
    unread = []
    for text, path in texts_of(concept, "code"):
        kinds, too_long = conservative_in(text, kb)
        care += [(kind, path) for kind in sorted(kinds)]
        unread += [path] if too_long else []
    return _Named(tuple(care), tuple(unread))


def _medication_care(concept: Any, kb: Knowledge) -> _Named:
    care, unread = [], []
    for text, path in texts_of(concept, "medicationCodeableConcept"):
        kinds, too_long = conservative_in(text, kb)
        care += [(kind, path) for kind in sorted(kinds) if kind.startswith("medication:")]
        unread += [path] if too_long else []
    return _Named(tuple(care), tuple(unread))


def _note(text: str, path: str, kb: Knowledge) -> tuple[frozenset[str], bool]:
    reading = read(text, path, kb)
    return frozenset(reading.conservative), bool(reading.unread)


def _notes(procedure: Procedure) -> list[tuple[int, Any]]:
    return [(i, note) for i, note in enumerate(procedure.note or []) if note.text]

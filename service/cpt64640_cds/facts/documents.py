"""What documents say about a procedure: plain-text notes (DocumentReference) linked to it, and the
MedicationAdministrations given as part of it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.medicationadministration import MedicationAdministration

from ..fhir.elements import first_date, reference_to, relative, texts_of
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.findings import AgentMention, TextFindings
from ..reading.text import read


def _document_texts(document: Any) -> Iterator[tuple[str, str]]:
    """Plain-text attachments of a DocumentReference (base64 `data`); other content types are not read."""
    for i, content in enumerate(document.content or []):
        attachment = content.attachment
        if attachment is None or not attachment.data:
            continue
        if attachment.contentType and not attachment.contentType.lower().startswith("text/"):
            continue
        data = attachment.data
        try:
            raw = data if isinstance(data, bytes) else base64.b64decode(data)
            yield raw.decode("utf-8", errors="replace"), f"content[{i}].attachment.data"
        except (ValueError, TypeError):
            continue


@dataclass(frozen=True)
class Document:
    reference: str
    related: frozenset[str]
    encounters: frozenset[str]
    date: date | None
    found: TextFindings


def read_documents(record: Record, kb: Knowledge) -> list[Document]:
    documents = []
    for document in record.of_type(DocumentReference):
        if document.status == "entered-in-error":
            continue
        found = TextFindings()
        for text, path in _document_texts(document):
            found.merge(read(text, path, kb))
        context = document.context
        related = frozenset(r for r in map(relative, context.related or []) if r) if context else frozenset()
        encounters = frozenset(e for e in map(relative, context.encounter or []) if e) if context else frozenset()
        documents.append(Document(reference_to(document), related, encounters, first_date(document.date), found))
    return documents


def linked(document: Document, reference: str, encounter: str | None, when: date | None) -> bool:
    if reference in document.related:
        return True
    if encounter and encounter in document.encounters:
        return True
    return not document.related and not document.encounters and when is not None and document.date == when


def administrations_by_procedure(
    record: Record, kb: Knowledge
) -> dict[str, list[tuple[str, TextFindings, float | None]]]:
    """MedicationAdministrations by the Procedure they are part of: (reference, what they say, volume in mL)."""
    by_procedure: dict[str, list[tuple[str, TextFindings, float | None]]] = {}
    for administration in record.of_type(MedicationAdministration):
        if administration.status in ("entered-in-error", "not-done"):
            continue
        found = TextFindings()
        medication = administration.medicationCodeableConcept
        for text, path in texts_of(medication, "medicationCodeableConcept"):
            found.merge(read(text, path, kb))
        if medication is not None and not found.agents:
            for i, coding in enumerate(medication.coding or []):
                agent = kb.agent_by_code(coding.system, coding.code) if coding.system == kb.rxnorm_system else None
                if agent is not None:
                    found.agents.append(
                        AgentMention(agent.id, agent.klass, None, None, f"medicationCodeableConcept.coding[{i}]")
                    )
        dosage = administration.dosage
        volume = None
        if dosage is not None:
            if dosage.text:
                found.merge(read(dosage.text, "dosage.text", kb))
            dose = dosage.dose
            if dose is not None and dose.value is not None and (dose.unit or dose.code or "").lower() in ("ml", "cc"):
                volume = float(dose.value)
        for part in administration.partOf or []:
            procedure = relative(part)
            if procedure and procedure.startswith("Procedure/"):
                by_procedure.setdefault(procedure, []).append((reference_to(administration), found, volume))
    return by_procedure

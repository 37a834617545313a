"""What documents say about an order or procedure, gathered before anything is decided: plain-text notes
(DocumentReference) linked to it, the MedicationAdministrations given as part of it, and the MedicationRequests
ordered with it (by `basedOn`, or as drafts signed beside it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..fhir.elements import first_date, reference_to, relative, texts_of
from ..fhir.models import DocumentReference, MedicationAdministration, MedicationRequest
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.findings import AgentMention, TextFindings
from ..reading.text import read, read_name
from .concepts import PerConcept

_EMPTY = TextFindings()  # what no medication says (never changed: orders copy what they keep)


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


def directly_linked(document: Document, references: frozenset[str]) -> bool:
    """The note names the order or procedure (or the order a procedure carried out) in context.related."""
    return bool(document.related & references)


def linked_by_context(document: Document, encounter: str | None, when: date | None) -> bool:
    """The note belongs to the same encounter, or (naming none) was written on the date of service."""
    if encounter and encounter in document.encounters:
        return True
    return not document.related and not document.encounters and when is not None and document.date == when


def _medication(medication: Any, kb: Knowledge) -> TextFindings:
    """The agent a medication names: by its words, else by its RxNorm code."""
    found = TextFindings()
    for text, path in texts_of(medication, "medicationCodeableConcept"):
        found.merge(read_name(text, path, kb))
    if medication is not None and not found.agents:
        for i, coding in enumerate(medication.coding or []):
            agent = kb.agent_by_code(coding.system, coding.code) if coding.system == kb.rxnorm_system else None
            if agent is not None:
                found.agents.append(
                    AgentMention(agent.id, agent.klass, None, None, f"medicationCodeableConcept.coding[{i}]")
                )
                found.fields.add(f"medicationCodeableConcept.coding[{i}]")
    return found


@dataclass(frozen=True)
class MedicationOrder:
    """A MedicationRequest that names an agent: what it says, and the orders it is based on."""

    reference: str
    based_on: frozenset[str]
    draft: bool
    found: TextFindings


def medication_orders(record: Record, kb: Knowledge) -> list[MedicationOrder]:
    """Draft and prefetched MedicationRequests that name an agent the knowledge base knows."""
    orders = []
    named = PerConcept(lambda concept: _medication(concept, kb))
    drafts = [(r, True) for r in record.draft_medications]
    for request, draft in [*drafts, *((r, False) for r in record.of_type(MedicationRequest))]:
        if request.status in ("entered-in-error", "cancelled", "stopped"):
            continue
        concept = request.medicationCodeableConcept
        medication = _EMPTY if concept is None else named(concept)
        instructions = [(i, x.text) for i, x in enumerate(request.dosageInstruction or []) if x.text]
        if not medication.agents and not instructions:
            continue  # most medications name none of the agents
        found = TextFindings()
        found.merge(medication)  # a copy: the readings kept above are shared
        for i, text in instructions:
            found.merge(read(text, f"dosageInstruction[{i}].text", kb))
        if found.agents:
            based_on = frozenset(r for r in map(relative, request.basedOn or []) if r)
            orders.append(MedicationOrder(reference_to(request), based_on, draft, found))
    return orders


def administrations_by_procedure(
    record: Record, kb: Knowledge
) -> dict[str, list[tuple[str, TextFindings, float | None]]]:
    """MedicationAdministrations by the Procedure they are part of: (reference, what they say, volume in mL)."""
    by_procedure: dict[str, list[tuple[str, TextFindings, float | None]]] = {}
    for administration in record.of_type(MedicationAdministration):
        if administration.status in ("entered-in-error", "not-done"):
            continue
        found = _medication(administration.medicationCodeableConcept, kb)
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

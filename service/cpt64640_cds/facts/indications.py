"""Diagnoses: reasons written on an order or procedure and the patient's conditions, each placed in the
indication group it supports (by ICD-10-CM or SNOMED CT code, else by words)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.condition import Condition

from ..fhir.elements import reference_to, relative, texts_of
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.text import read
from .model import Coding, ConditionFact, Indication


def _codings(concept: Any) -> tuple[Coding, ...]:
    return tuple(Coding(c.system or "", c.code or "", c.display) for c in concept.coding or [] if c.code)


def indication_of(concept: Any, kb: Knowledge, reference: str | None = None) -> Indication:
    codings = _codings(concept)
    group = next((g.id for c in codings if (g := kb.indication_group(c.system, c.code))), None)
    by_text = False
    if group is None:
        words = [t for t, _ in texts_of(concept, "code")]
        found = next((f.indications for w in words if (f := read(w, "code", kb)).indications), set())
        group, by_text = (sorted(found)[0], True) if found else (None, False)
    return Indication(codings, concept.text, reference, group, by_text)


def _active(condition: Any) -> bool:
    clinical = {c.code for c in (condition.clinicalStatus.coding or [])} if condition.clinicalStatus else set()
    verification = (
        {c.code for c in (condition.verificationStatus.coding or [])} if condition.verificationStatus else set()
    )
    if verification & {"refuted", "entered-in-error"}:
        return False
    return not clinical or bool(clinical & {"active", "recurrence", "relapse"})


def conditions_of(record: Record, kb: Knowledge) -> list[ConditionFact]:
    return [
        ConditionFact(indication_of(c.code, kb, reference_to(c)), _active(c))
        for c in record.of_type(Condition)
        if c.code
    ]


def reasons_of(resource: Any, conditions: dict[str, ConditionFact], kb: Knowledge) -> tuple[Indication, ...]:
    found = [indication_of(concept, kb) for concept in getattr(resource, "reasonCode", None) or []]
    for reference in getattr(resource, "reasonReference", None) or []:
        condition = conditions.get(relative(reference) or "")
        if condition is not None:
            found.append(condition.indication)
    return tuple(found)


def supporting(reasons: tuple[Indication, ...], conditions: list[ConditionFact]) -> tuple[Indication, ...]:
    """Reasons on the order count first, then the patient's active conditions."""
    written = tuple(r for r in reasons if r.group)
    if written:
        return written
    return tuple(dict.fromkeys(c.indication for c in conditions if c.active and c.indication.group))

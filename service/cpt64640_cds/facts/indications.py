"""Diagnoses: reasons written on an order or procedure and the patient's conditions, each placed in the
indication group it supports (by ICD-10-CM or SNOMED CT code, else by words), and the ones that support one
nerve and side (`supporting`).

Only the patient's own, present diagnoses count: a Condition is an indication when its clinical status is
active, recurrence or relapse (absent: active unless it has an abatement) and its verification status is
confirmed or absent (US Core and most EHRs send problem-list entries without one; provisional, differential,
unconfirmed, refuted and entered-in-error are not). Family-history codes (Z80-Z84) and diagnoses whose words
say "family history" are never indications (indications.json familyHistory); FamilyMemberHistory is not read.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from ..fhir.elements import reference_to, relative, texts_of
from ..fhir.models import Condition
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..knowledge.codes import Nerve
from ..reading.phrases import normalize
from ..reading.text import NAMES_KEPT, indications_in
from .concepts import PerConcept
from .model import Coding, ConditionFact, Indication

_ACTIVE = frozenset({"active", "recurrence", "relapse"})
_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _codings(concept: Any) -> tuple[Coding, ...]:
    return tuple(Coding(c.system or "", c.code or "", c.display) for c in concept.coding or [] if c.code)


@cache
def _family_words(kb: Knowledge) -> re.Pattern[str]:
    words = sorted((normalize(w) for w in kb.family_history_words), key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w) for w in words) + r")(?![a-z0-9])")


def _family(codings: tuple[Coding, ...], words: list[str], kb: Knowledge) -> bool:
    """A relative's diagnosis: a Z80-Z84 code, or words that say family history."""
    return any(kb.family_history(c.system, c.code) for c in codings) or any(_says_family(w, kb) for w in words)


@lru_cache(maxsize=NAMES_KEPT)  # a diagnosis's name, kept per worker like reading.text.read_name
def _says_family(name: str, kb: Knowledge) -> bool:
    return bool(_family_words(kb).search(normalize(name)))


def indication_of(concept: Any, kb: Knowledge, reference: str | None = None) -> Indication:
    codings = _codings(concept)
    words = [t for t, _ in texts_of(concept, "code")]
    if _family(codings, words, kb):
        return Indication(codings, concept.text, reference)
    group = next((g.id for c in codings if (g := kb.indication_group(c.system, c.code))), None)
    by_text = False
    # An ICD-10-CM code outside the groups decides (R61 generalized hyperhidrosis is not the seed's localized
    # one); words place only a diagnosis that carries no ICD-10-CM code.
    if group is None and not any(c.system == kb.icd10cm_system for c in codings):
        found = next((f for w in words if (f := indications_in(w, kb))), set())
        group, by_text = (sorted(found)[0], True) if found else (None, False)
    return Indication(codings, concept.text, reference, group, by_text)


def _status(concept: Any, system: str) -> set[str]:
    """The HL7 status codes of a Condition's clinicalStatus or verificationStatus (codings of other systems ignored)."""
    codings = (concept.coding or []) if concept is not None else []
    return {c.code for c in codings if c.code and c.system in (None, system)}


def asserted(condition: Any) -> bool:
    """The patient's present, confirmed diagnosis (see the module's docstring for absent statuses)."""
    verification = _status(condition.verificationStatus, _VERIFICATION_SYSTEM)
    if verification and "confirmed" not in verification:
        return False
    clinical = _status(condition.clinicalStatus, _CLINICAL_SYSTEM)
    if clinical:
        return bool(clinical & _ACTIVE)
    abatement = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString")
    return not any(getattr(condition, name, None) for name in abatement)


def conditions_of(record: Record, kb: Knowledge) -> list[ConditionFact]:
    """The patient's conditions, each placed by its code and words once per distinct concept (facts/concepts.py)."""
    placed = PerConcept(lambda concept: indication_of(concept, kb))
    facts = []
    for condition in record.of_type(Condition):
        concept = condition.code
        if not concept:
            continue
        indication = placed(concept)
        indication = Indication(
            indication.codings, indication.text, reference_to(condition), indication.group, indication.by_text
        )
        facts.append(ConditionFact(indication, asserted(condition)))
    return facts


def reasons_of(resource: Any, conditions: dict[str, ConditionFact], kb: Knowledge) -> tuple[Indication, ...]:
    """The order's or procedure's own reasons; a referenced Condition counts only when it is asserted."""
    found = [indication_of(concept, kb) for concept in getattr(resource, "reasonCode", None) or []]
    for reference in getattr(resource, "reasonReference", None) or []:
        condition = conditions.get(relative(reference) or "")
        if condition is not None and condition.active:
            found.append(condition.indication)
    return tuple(found)


def diagnosis_code(indication: Indication, kb: Knowledge) -> Coding | None:
    """The indication's ICD-10-CM coding that places it in a group, if it has one."""
    if not indication.group or indication.by_text:
        return None
    return next(
        (c for c in indication.codings if c.system == kb.icd10cm_system and kb.indication_group(c.system, c.code)),
        None,
    )


def fits(indication: Indication, nerve: Nerve | None, side: str | None, kb: Knowledge) -> bool:
    """An ICD-10-CM indication fits a nerve and side: a diagnosis that names nerves names this one (or the
    nerve is not one the knowledge base knows, so it cannot be told apart), and its title's side is none,
    bilateral, or this side (or the episode has no side)."""
    coding = diagnosis_code(indication, kb)
    if coding is None:
        return False
    nerves = kb.diagnosis_nerves(coding.system, coding.code)
    if nerves is not None and nerve is not None and nerve.id not in nerves:
        return False
    named = kb.diagnosis_side(coding.system, coding.code)
    return named in (None, "bilateral") or side is None or named == side


def _names_nerve(indication: Indication, kb: Knowledge) -> bool:
    coding = diagnosis_code(indication, kb)
    return coding is not None and kb.diagnosis_nerves(coding.system, coding.code) is not None


def supporting(
    reasons: tuple[Indication, ...],
    conditions: list[ConditionFact],
    nerve: Nerve | None,
    side: str | None,
    kb: Knowledge,
) -> tuple[Indication, ...]:
    """The diagnoses that support this nerve and side: the resource's own ICD-10-CM reasons that fit, else the
    patient's asserted conditions that fit — those that name this nerve (meralgia for the LFCN) when there are
    any, rather than every diagnosis of a group that fits any nerve. Failing both, a diagnosis placed in a group
    by words or a SNOMED CT code (own reasons first) still shows an indication exists, but it carries no billable
    code (`billable`)."""
    candidates = (reasons, tuple(c.indication for c in conditions if c.active))
    for own, indications in zip((True, False), candidates, strict=True):
        fitting = tuple(dict.fromkeys(i for i in indications if fits(i, nerve, side, kb)))
        named = tuple(i for i in fitting if _names_nerve(i, kb))
        if fitting:
            return fitting if own or not named else named
    for indications in candidates:
        uncoded = tuple(dict.fromkeys(i for i in indications if i.group and diagnosis_code(i, kb) is None))
        if uncoded:
            return uncoded
    return ()


def billable(indication: Indication, kb: Knowledge) -> Indication | None:
    """The indication as a claim line carries it: only its complete ICD-10-CM codes of an indication group
    (no SNOMED CT coding, no category such as G57.1); None when it has none."""
    if diagnosis_code(indication, kb) is None:
        return None
    codings = tuple(c for c in indication.codings if kb.billable_diagnosis(c.system, c.code))
    if not codings:
        return None
    return Indication(codings, indication.text, indication.reference, indication.group)

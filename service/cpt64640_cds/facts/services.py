"""Services that are facts of their own: separately ordered or performed image guidance, E/M visits,
and imaging studies that show guidance."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from ..fhir.elements import codes_in, first_date, reference_to, relative, texts_of
from ..fhir.models import ImagingStudy
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..knowledge.fields import Stage
from ..reading.lexicon import lexicon
from ..reading.phrases import normalize
from ..reading.text import read_name
from .model import EmService, Evidence, GuidanceService, ImagingFact


def guidance_service(
    resource: Any, stage: Stage, context_encounter: str | None, kb: Knowledge
) -> GuidanceService | None:
    concept = getattr(resource, "code", None)
    codes, fields = codes_in(concept, "code", kb.cpt_systems)
    encounter = relative(resource.encounter) or context_encounter
    if stage == "order":
        when = first_date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
    else:
        when = first_date(resource.performedDateTime, resource.performedPeriod)
    for code, path in zip(codes, fields, strict=True):
        modality = kb.guidance_for_code(code) if kb.family(code) == "imaging-guidance" else None
        if modality:
            return GuidanceService(
                reference_to(resource),
                code,
                modality,
                when,
                encounter,
                stage,
                Evidence(reference_to(resource), (path,)),
            )
    if codes:
        return None
    for text, path in texts_of(concept, "code"):
        normal = normalize(text)
        modalities = [m.key for m in lexicon(kb).guidance.find(normal) if m.key != "unspecified"]
        if modalities and lexicon(kb).guidance_orders.find(normal) and not read_name(text, path, kb).agents:
            return GuidanceService(
                reference_to(resource),
                None,
                modalities[0],
                when,
                encounter,
                stage,
                Evidence(reference_to(resource), (path,)),
            )
    return None


def imaging_of(record: Record, kb: Knowledge) -> list[ImagingFact]:
    studies = []
    for study in record.of_type(ImagingStudy):
        if study.status in ("entered-in-error", "cancelled"):
            continue
        codes = [c for c in study.modality or [] if c.system in (kb.dicom_system, None)]
        codes += [s.modality for s in study.series or [] if s.modality is not None]
        guidance = frozenset(g for c in codes if c.code and (g := kb.guidance_for_dicom(c.code)))
        studies.append(
            ImagingFact(
                reference_to(study),
                guidance,
                first_date(study.started),
                relative(study.encounter),
                tuple(r for r in map(relative, study.basedOn or []) if r),
            )
        )
    return studies


@cache
def _separate_visit_text(modifier: str) -> re.Pattern[str]:
    """The separate-visit modifier written in a code's text: "99213-25", "99213 - 25", "modifier 25"."""
    return re.compile(rf"\b(992\d\d)\s*-\s*({modifier})\b|\bmodifier\s*{modifier}\b|-{modifier}\b")


def modifier_codes(element: Any) -> set[str]:
    """Modifiers carried as extensions whose url ends in "modifier" (as our own lines write them)."""
    found = set()
    for extension in getattr(element, "extension", None) or []:
        if not (extension.url or "").lower().endswith("modifier"):
            continue
        if extension.valueCoding is not None and extension.valueCoding.code:
            found.add(extension.valueCoding.code)
        for value in (extension.valueCode, extension.valueString):
            if value:
                found.add(str(value))
        if extension.valueCodeableConcept is not None:
            found |= {c.code for c in extension.valueCodeableConcept.coding or [] if c.code}
    return found


def em_service(resource: Any, stage: Stage, kb: Knowledge) -> EmService | None:
    concept = getattr(resource, "code", None)
    codes, fields = codes_in(concept, "code", kb.cpt_systems)
    if not codes:
        return None  # most procedures of a history carry no CPT code (Synthea's are SNOMED CT only)
    em = next(((c, f) for c, f in zip(codes, fields, strict=True) if kb.family(c) == "evaluation-management"), None)
    if em is None or concept is None:
        return None
    modifiers = modifier_codes(resource) | modifier_codes(concept)
    for coding in concept.coding or []:
        modifiers |= modifier_codes(coding)
    separate = kb.modifier_for("separate-evaluation")
    if concept.text and _separate_visit_text(separate).search(concept.text):
        modifiers.add(separate)
    if resource.get_resource_type() == "ChargeItem":
        when = first_date(resource.occurrenceDateTime, resource.occurrencePeriod)
        encounter = relative(resource.context)
    elif stage == "order":
        when = first_date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
        encounter = relative(resource.encounter)
    else:
        when = first_date(resource.performedDateTime, resource.performedPeriod)
        encounter = relative(resource.encounter)
    return EmService(
        reference_to(resource), em[0], frozenset(modifiers), when, encounter, Evidence(reference_to(resource), (em[1],))
    )

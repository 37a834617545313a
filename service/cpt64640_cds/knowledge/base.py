"""`Knowledge`: the loaded knowledge base, its entries indexed the way the stages look them up.

Built by `loader.load()` from the validated files (model.py); nothing here declares an entity again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from .assertion import AssertionFile
from .codes import (
    ChemoTarget,
    Code,
    CodeFamily,
    CodeRange,
    Fallbacks,
    GuidanceModality,
    Landmarks,
    Limb,
    Modifier,
    Muscle,
    Nerve,
    Rule,
    Side,
)
from .fields import EpisodeKind, ModalityKind, Region, Treatment
from .words import Agent, DocumentationElement, IndicationGroup, Modality, Radiofrequency, Spine

_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)  # identity: one per process, the lexicon caches by it
class Knowledge:
    version: str
    topic_system: str
    rules: Mapping[str, Rule]
    cpt_system: str
    cpt_systems: frozenset[str]  # the system URI and its aliases
    families: Mapping[str, CodeFamily]
    hcpcs_systems: frozenset[str]
    code_ranges: tuple[CodeRange, ...]
    other_service_categories: frozenset[tuple[str, str]]  # (system, code) of ServiceRequest categories
    other_service_systems: frozenset[str]  # code systems whose every code is another service (LOINC)
    other_service_category_words: frozenset[str]  # normalised category words that mark another service
    other_service_words: tuple[str, ...]  # words of an order's name that name another service (referral, consult)
    fallbacks: Fallbacks
    codes: Mapping[str, Code]
    nerves: Mapping[str, Nerve]
    qualifiers_before: frozenset[str]  # words that turn a bare nerve word into another nerve
    qualifiers_after: frozenset[str]
    nerve_words: frozenset[str]
    list_words: tuple[str, ...]  # words that join nerves into a list ("and", "plus")
    landmarks: Landmarks
    modifiers: Mapping[str, Modifier]
    snomed_system: str
    sides: Mapping[str, Side]
    laterality_extensions: tuple[str, ...]  # url endings of body-site extensions that carry a side
    rxnorm_system: str
    agents: Mapping[str, Agent]
    modalities: Mapping[str, Modality]
    neurolysis_words: tuple[str, ...]
    procedure_snomed: Mapping[str, ModalityKind]  # SNOMED CT procedure code -> modality
    radiofrequency: Radiofrequency
    volume_units: tuple[str, ...]
    concentration_units: tuple[str, ...]
    dicom_system: str
    guidance: Mapping[str, GuidanceModality]
    unspecified_guidance_words: tuple[str, ...]
    guidance_order_words: tuple[str, ...]
    chemo_targets: tuple[ChemoTarget, ...]
    chemo_muscles: Mapping[str, Muscle]
    chemo_limbs: tuple[Limb, ...]
    chemo_nerve_regions: Mapping[Region, str]
    icd10cm_system: str
    indication_groups: tuple[IndicationGroup, ...]
    icd10cm_groups: Mapping[str, IndicationGroup]  # every ICD-10-CM code (dotted) a group covers -> the group
    icd10cm_sides: Mapping[str, str]  # those codes whose title names a side -> left | right | bilateral
    icd10cm_nerves: Mapping[str, frozenset[str]]  # those codes that name a nerve -> nerve ids (nerveSpecific)
    icd10cm_titles: Mapping[str, str]  # every covered code -> its ICD-10-CM title (the package's)
    icd10cm_billable: frozenset[str]  # covered codes that are complete (leaf) codes, billable on a claim
    family_history_icd10cm: frozenset[str]  # Z80-Z84 and descendants: the family's diagnoses, never the patient's
    family_history_words: tuple[str, ...]
    conservative_medications: Mapping[str, tuple[str, ...]]  # class -> words
    conservative_procedures: Mapping[str, tuple[str, ...]]  # kind -> words
    conservative_phrases: tuple[str, ...]
    relief_pattern: re.Pattern[str]
    documentation: Mapping[str, DocumentationElement]
    confirmation_words: Mapping[str, tuple[str, ...]]  # kind -> words
    injectates: frozenset[str]  # confirmation kinds that are injected (contrast, test dose)
    assertion: AssertionFile  # ConText triggers, terminators, section headings (reading/context.py reads them)
    override_system: str
    sentence_abbreviations: tuple[str, ...]
    injection_stems: tuple[str, ...]
    injection_words: tuple[str, ...]
    blood_loss_words: tuple[str, ...]
    spine: Spine

    def indication_group(self, system: str, code: str) -> IndicationGroup | None:
        """The group a coded diagnosis supports: ICD-10-CM by code and descendants, SNOMED CT where listed."""
        if system == self.icd10cm_system:
            return self.icd10cm_groups.get(dotted_icd10cm(code))
        if system == self.snomed_system:
            return self._snomed_groups.get(code)
        return None

    def diagnosis_side(self, system: str, code: str) -> str | None:
        """The side an indication's ICD-10-CM code names (left, right, bilateral), from the package's titles."""
        return self.icd10cm_sides.get(dotted_icd10cm(code)) if system == self.icd10cm_system else None

    def diagnosis_nerves(self, system: str, code: str) -> frozenset[str] | None:
        """The nerves an ICD-10-CM diagnosis names (meralgia paresthetica: the LFCN); None: any nerve of its group."""
        return self.icd10cm_nerves.get(dotted_icd10cm(code)) if system == self.icd10cm_system else None

    def diagnosis_title(self, system: str, code: str) -> str | None:
        """The ICD-10-CM title of an indication code, from the package (None outside the indication groups)."""
        return self.icd10cm_titles.get(dotted_icd10cm(code)) if system == self.icd10cm_system else None

    def billable_diagnosis(self, system: str, code: str) -> bool:
        """An ICD-10-CM code of an indication group that is complete (a leaf), so a claim line can carry it."""
        return system == self.icd10cm_system and dotted_icd10cm(code) in self.icd10cm_billable

    def family_history(self, system: str, code: str) -> bool:
        return system == self.icd10cm_system and dotted_icd10cm(code) in self.family_history_icd10cm

    def nerve_for_snomed(self, code: str) -> Nerve | None:
        return self._snomed_nerves.get(code)

    def side_for_snomed(self, code: str) -> str | None:
        return self._snomed_sides.get(code)

    def modifier_for(self, use: str) -> str:
        """The modifier code for a use (right, left, bilateral, separate-evaluation); the loader checks each exists."""
        return next(m.code for m in self.modifiers.values() if m.use == use)

    def agent_by_code(self, system: str | None, code: str | None) -> Agent | None:
        """The agent an RxNorm or SNOMED CT code names."""
        if code is None:
            return None
        if system == self.rxnorm_system:
            return self._rxnorm_agents.get(code)
        return self._snomed_agents.get(code) if system == self.snomed_system else None

    def guidance_for_code(self, code: str) -> str | None:
        return self._code_guidance.get(code)

    def guidance_for_dicom(self, code: str) -> str | None:
        return self._dicom_guidance.get(code)

    # Code -> entry indexes for the lookups above, built on first use (the worker's warm-up call) and kept: each
    # maps a code to the first entry in data order that lists it, as walking the entries did.
    @cached_property
    def _snomed_groups(self) -> dict[str, IndicationGroup]:
        return _first_by_code((code, g) for g in self.indication_groups for code in g.snomed)

    @cached_property
    def _snomed_nerves(self) -> dict[str, Nerve]:
        return _first_by_code((code, n) for n in self.nerves.values() for code in n.snomed)

    @cached_property
    def _snomed_sides(self) -> dict[str, str]:
        return _first_by_code((s.snomed, s.side) for s in self.sides.values())

    @cached_property
    def _rxnorm_agents(self) -> dict[str, Agent]:
        return _first_by_code((code, a) for a in self.agents.values() for code in a.rxnorm)

    @cached_property
    def _snomed_agents(self) -> dict[str, Agent]:
        return _first_by_code((code, a) for a in self.agents.values() for code in a.snomed)

    @cached_property
    def _code_guidance(self) -> dict[str, str]:
        return _first_by_code((code, g.id) for g in self.guidance.values() for code in g.codes)

    @cached_property
    def _dicom_guidance(self) -> dict[str, str]:
        return _first_by_code((code, g.id) for g in self.guidance.values() for code in g.dicom)

    def family(self, code: str) -> str | None:
        entry = self.codes.get(code)
        return entry.family if entry else None

    def family_of(self, code: str) -> CodeFamily | None:
        entry = self.codes.get(code)
        return self.families[entry.family] if entry else None

    def episode_kind(self, code: str) -> EpisodeKind | None:
        """What a resource with this CPT or HCPCS code is: its family's kind, else its section's (None: unknown)."""
        family = self.family_of(code)
        if family is not None:
            return family.episode
        return next((r.episode for r in self.code_ranges if r.covers(code)), None)

    def treatment_of(self, codes: set[str] | frozenset[str]) -> Treatment | None:
        """What codes alone say was done (cryoablation, chemodenervation), the first family in data order."""
        families = {self.family(code) for code in codes}
        return next((f.treatment for f in self.families.values() if f.id in families and f.treatment), None)


def _first_by_code(pairs: Iterable[tuple[str, _T]]) -> dict[str, _T]:
    index: dict[str, _T] = {}
    for code, entry in pairs:
        index.setdefault(code, entry)
    return index


def dotted_icd10cm(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"

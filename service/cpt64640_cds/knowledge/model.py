"""The knowledge base's entities: codes, nerves, agents and modalities, guidance, modifiers, laterality,
indications, documentation elements and override reasons, and `Knowledge`, which holds them all."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    indicator: str
    status: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Code:
    code: str
    family: str
    display: str  # short paraphrase for Coding.display
    descriptor: str
    imaging_included: bool
    global_days: int | None
    unit_rule: str
    daily_unit_limit: int | None
    laterality: bool  # RT/LT (or 50) apply to its lines
    add_on_to: str | None
    confirmed: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class DestructionOption:
    """One way to code destroying a nerve; the first option whose conditions hold is the code."""

    code: str
    unit: str  # nerve | branch | knee | joint | vertebral-body | procedure
    modalities: frozenset[str]  # chemical, thermal
    add_on: str | None
    base_units: int
    spinal_regions: frozenset[str]
    imaging_required: bool
    choose: tuple[str, ...]  # when the record does not say enough: the codes to offer
    confirmed: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class Nerve:
    id: str
    name: str
    synonyms: tuple[str, ...]
    sided: bool
    region: str  # upper-extremity | lower-extremity | truncal | head-neck | spine
    destruction: tuple[DestructionOption, ...]
    block_code: str | None
    snomed: str | None
    source: tuple[str, ...]

    @property
    def destruction_codes(self) -> frozenset[str]:
        return frozenset(o.code for o in self.destruction)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    klass: str  # neurolytic | local-anaesthetic | steroid | botulinum-toxin
    words: tuple[str, ...]
    exclude: frozenset[str]
    rxnorm: tuple[str, ...]
    snomed: tuple[str, ...]


@dataclass(frozen=True)
class Modality:
    id: str
    name: str
    klass: str  # neurolytic | non-destructive | cryo
    modality: str  # thermal | pulsed-rf | cryo
    words: tuple[str, ...]
    code: str | None
    codes_by_region: dict[str, str]


@dataclass(frozen=True)
class GuidanceModality:
    id: str  # ultrasound | fluoroscopy | ct | mr
    name: str
    words: tuple[str, ...]
    codes: tuple[str, ...]
    dicom: tuple[str, ...]
    snomed: tuple[str, ...]


@dataclass(frozen=True)
class ChemoTarget:
    region: str
    label: str  # what a line's body site says, e.g. "muscles of one upper extremity"
    few: str
    many: str | None
    many_from: int | None
    words: tuple[str, ...]


@dataclass(frozen=True)
class IndicationGroup:
    id: str
    name: str
    listed: tuple[str, ...]  # ICD-10-CM codes and categories as written in indications.json
    codes: frozenset[str]  # the listed ones and all their descendants, dotted (simple-icd-10-cm)
    snomed: frozenset[str]
    words: tuple[str, ...]
    failed_conservative_required: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class DocumentationElement:
    id: str  # nerve | agent | volume | guidance-type | confirmation | failed-treatment
    label: str
    stages: frozenset[str]  # order | performed


@dataclass(frozen=True)
class OverrideReason:
    rule: str
    code: str
    display: str


@dataclass(frozen=True)
class Modifier:
    code: str
    system: str  # CPT for 59/50, HCPCS Level II for RT/LT/XS
    meaning: str


@dataclass(frozen=True)
class Side:
    side: str  # left | right | bilateral
    snomed: str
    words: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # identity: one per process, the lexicon caches by it
class Knowledge:
    version: str
    code_set: str
    topic_system: str
    rules: dict[str, Rule]
    cpt_system: str
    codes: dict[str, Code]
    nerves: dict[str, Nerve]
    qualifiers_before: frozenset[str]  # words that turn a bare nerve word into another nerve
    qualifiers_after: frozenset[str]
    modifiers: dict[str, Modifier]
    snomed_system: str
    sides: dict[str, Side]
    agents: dict[str, Agent]
    modalities: dict[str, Modality]
    neurolysis_words: tuple[str, ...]
    procedure_snomed: dict[str, str]  # SNOMED CT procedure code -> modality
    volume_units: tuple[str, ...]
    dicom_system: str
    guidance: dict[str, GuidanceModality]
    unspecified_guidance_words: tuple[str, ...]
    guidance_order_words: tuple[str, ...]
    chemo_targets: tuple[ChemoTarget, ...]
    chemo_nerve_regions: dict[str, str]
    icd10cm_system: str
    indication_groups: tuple[IndicationGroup, ...]
    conservative_medications: dict[str, tuple[str, ...]]  # class -> words
    conservative_procedures: dict[str, tuple[str, ...]]  # kind -> words
    conservative_phrases: tuple[str, ...]
    relief_pattern: re.Pattern[str]
    documentation: dict[str, DocumentationElement]
    confirmation_words: dict[str, tuple[str, ...]]  # kind -> words
    uncertainty_words: frozenset[str]
    negation_before: frozenset[str]
    negation_after: tuple[str, ...]
    override_system: str
    override_reasons: tuple[OverrideReason, ...]

    def indication_group(self, system: str, code: str) -> IndicationGroup | None:
        """The group a coded diagnosis supports: ICD-10-CM by code and descendants, SNOMED CT where listed."""
        if system == self.icd10cm_system:
            dotted = _dotted(code)
            return next((g for g in self.indication_groups if dotted in g.codes), None)
        if system == self.snomed_system:
            return next((g for g in self.indication_groups if code in g.snomed), None)
        return None

    def overrides_for(self, rule_id: str) -> tuple[OverrideReason, ...]:
        return tuple(r for r in self.override_reasons if r.rule == rule_id)

    def side_for_snomed(self, code: str) -> str | None:
        return next((s.side for s in self.sides.values() if s.snomed == code), None)

    def guidance_for_code(self, code: str) -> str | None:
        return next((g.id for g in self.guidance.values() if code in g.codes), None)

    def guidance_for_dicom(self, code: str) -> str | None:
        return next((g.id for g in self.guidance.values() if code in g.dicom), None)

    def family(self, code: str) -> str | None:
        entry = self.codes.get(code)
        return entry.family if entry else None


def _dotted(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"

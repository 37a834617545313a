"""The facts the rules read: one `NerveEpisode` per nerve, side and date of service, and what surrounds it
(guidance services, conditions, imaging studies, E/M services, conservative care). Plain frozen data; every
fact keeps the resources and fields it was read from, so every card can say why it fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..fhir.record import Dropped
from ..knowledge.codes import Nerve
from ..knowledge.fields import Stage, Treatment


@dataclass(frozen=True)
class Evidence:
    reference: str  # Type/id
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class Indication:
    """A diagnosis: a reason on the order or procedure, or one of the patient's conditions."""

    codings: tuple[Coding, ...]
    text: str | None
    reference: str | None = None  # Condition/id when it came from reasonReference or the problem list
    group: str | None = None  # the indication group it supports (knowledge/indications.json)
    by_text: bool = False  # the group was recognised from words, not from a code


@dataclass(frozen=True)
class ConditionFact:
    indication: Indication
    active: bool  # active and confirmed: the patient's present diagnosis (facts/indications.py `asserted`)


@dataclass(frozen=True)
class ConservativeCare:
    """Evidence of a less invasive treatment tried before: a medication, a procedure, words in a note."""

    reference: str
    kind: str  # medication:<class> | procedure:<kind> | phrase | relief
    field: str


@dataclass(frozen=True)
class ImagingFact:
    reference: str
    guidance: frozenset[str]  # ultrasound | fluoroscopy | ct | mr (from DICOM modalities)
    date: date | None
    encounter: str | None
    based_on: tuple[str, ...]


@dataclass(frozen=True)
class EmService:
    """An evaluation and management service (99202-99215) as a Procedure, ServiceRequest or ChargeItem."""

    reference: str
    code: str
    modifiers: frozenset[str]
    date: date | None
    encounter: str | None
    evidence: Evidence


@dataclass(frozen=True)
class Dose:
    agent: str  # knowledge-base agent id
    klass: str  # neurolytic | local-anaesthetic | steroid | botulinum-toxin
    concentration_pct: float | None
    volume_ml: float | None
    source: str  # Type/id the dose was read from
    field: str


@dataclass(frozen=True)
class NerveEpisode:
    nerve: Nerve | None  # None: the record names no nerve the knowledge base knows
    nerve_text: str | None  # the words the record used (normalised), or None when no nerve is named
    side: str | None  # left | right; None for an unsided nerve or when no side is written
    date: date | None
    encounter: str | None  # Encounter/id
    stage: Stage
    cpt_codes: tuple[str, ...]  # CPT codes written on the source resource
    claims_destruction: bool  # coded or described as neurolytic destruction
    treatment: Treatment | None  # None: the record does not say which agent or modality
    doses: tuple[Dose, ...]
    guidance: frozenset[str]  # ultrasound | fluoroscopy | ct | mr | unspecified
    spinal_regions: frozenset[str]
    joints: frozenset[tuple[str, str]]  # facet joints as adjacent levels
    levels: frozenset[str]  # single spinal levels named
    chemo_sites: tuple[tuple[str, str | None], ...]  # botulinum toxin sites: (muscle, region or side heading, side)
    confirmation: frozenset[str]  # how needle placement was confirmed: stimulation | test-dose | contrast | confirmed
    conservative: frozenset[str]  # conservative care named in the episode's own words and notes
    reasons: tuple[Indication, ...]  # as written on the source (SNOMED-only and unrelated ones stay as context)
    # the diagnoses that support this nerve and side (facts/indications.py `supporting`): own ICD-10-CM reasons
    # that fit, else asserted conditions that fit, else one placed in a group by words or SNOMED CT only
    indications: tuple[Indication, ...]
    evidence: tuple[Evidence, ...]
    side_conflict: tuple[str, ...] = ()  # fields that state different sides for the nerve (then side is None)
    # fields of its own resource and of the documentation read with it that were read only up to
    # reading.findings.MAX_TEXT_CHARS
    unread: tuple[Evidence, ...] = ()

    @property
    def source(self) -> str:
        return self.evidence[0].reference

    @property
    def draft_order(self) -> str | None:
        """Type/id of the draft ServiceRequest this episode comes from, if it is one."""
        return self.source if self.stage == "order" else None

    @property
    def nerve_key(self) -> str | None:
        if self.nerve is not None:
            return self.nerve.id
        return f"text:{self.nerve_text}" if self.nerve_text else None


@dataclass(frozen=True)
class GuidanceService:
    """Image guidance ordered or performed as a service of its own (e.g. a 77002 draft order)."""

    reference: str
    code: str | None
    modality: str  # ultrasound | fluoroscopy | ct | mr
    date: date | None
    encounter: str | None
    stage: Stage
    evidence: Evidence


@dataclass(frozen=True)
class BilledLine:
    """A line already billed for the encounter: a ChargeItem, or one item of a Claim."""

    reference: str  # ChargeItem/id or Claim/id (the item's sequence in `item`)
    item: int | None  # the Claim item's sequence; None for a ChargeItem
    code: str
    modifiers: tuple[str, ...]  # sorted
    units: int
    date: date | None
    evidence: Evidence

    @property
    def label(self) -> str:
        return "-".join((self.code, *self.modifiers))


@dataclass
class Facts:
    patient: str  # Patient/id
    encounter: str | None  # Encounter/id of the hook context
    user: str | None  # Practitioner/id or PractitionerRole/id
    today: date
    episodes: list[NerveEpisode] = field(default_factory=list)
    guidance_services: list[GuidanceService] = field(default_factory=list)
    conditions: list[ConditionFact] = field(default_factory=list)
    conservative: list[ConservativeCare] = field(default_factory=list)
    imaging: list[ImagingFact] = field(default_factory=list)
    em_services: list[EmService] = field(default_factory=list)
    # A review after the fact (encounter-discharge): what was billed for the encounter is compared with what is
    # documented; an order-time call leaves both as they are.
    review: bool = False
    billed: list[BilledLine] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    unread: list[Evidence] = field(default_factory=list)  # fields read only up to reading.findings.MAX_TEXT_CHARS

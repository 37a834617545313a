"""Nerve episodes of one order or procedure: whether it is neurolysis at all, what was done (agents, modality,
doses), to which nerves and sides, when, why, and with what guidance and confirmation.

Structured first: the resource's own codes say what service it is (knowledge/data/codes.json). A destruction
code makes an episode; another service's code (therapy, E/M, imaging, laboratory, electrodiagnostics, drugs,
supplies, open nerve surgery) never does, whatever its words say; a look-alike code (a nerve block, the unlisted
code), a local code or none leaves it to the resource's own words, which must assert neurolytic treatment done or
ordered now (the reading stage counts only present mentions). Then the documentation is gathered — the resource,
medications given or ordered with it, notes linked to it, notes of its encounter — and what was done is decided
once, from the closest of those that says it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..fhir.elements import codes_in, concepts, first_date, reference_to, relative, texts_of
from ..fhir.models import Procedure, ServiceRequest
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..knowledge.fields import EpisodeKind, Stage, Treatment
from ..reading.findings import AgentMention, TextFindings
from ..reading.lexicon import lexicon
from ..reading.phrases import normalize
from ..reading.text import read, read_name
from .documents import Document, MedicationOrder, directly_linked, linked_by_context
from .indications import reasons_of, supporting
from .model import ConditionFact, Dose, Evidence, NerveEpisode
from .nerves import nerve_targets, split_sides

# Treatments that make a look-alike or uncoded resource an episode when its own words name a nerve with them.
_LOOK_ALIKE_TREATMENTS = frozenset({"chemical", "thermal", "pulsed-rf", "radiofrequency", "cryo"})


Orderable = ServiceRequest | Procedure


def _reading(resource: Orderable, kb: Knowledge) -> tuple[TextFindings, TextFindings]:
    """What the resource's own words and codes say about agents, modality, guidance and levels: all of it, and
    its narrative alone (order details, notes, instructions — not the name of the procedure)."""
    names: list[tuple[str, str]] = []
    narrative: list[tuple[str, str]] = []
    for name in ("code", "orderDetail", "usedCode", "bodySite"):
        for concept, path in concepts(resource, name):
            (narrative if name == "orderDetail" else names).extend(texts_of(concept, path))
    for i, note in enumerate(resource.note or []):
        if note.text:
            narrative.append((note.text, f"note[{i}].text"))
    if isinstance(resource, ServiceRequest) and resource.patientInstruction:
        narrative.append((resource.patientInstruction, "patientInstruction"))
    told = TextFindings()
    for text, path in narrative:
        told.merge(read(text, path, kb))
    found = TextFindings()
    for text, path in names:
        found.merge(read_name(text, path, kb))
    found.merge(told)
    found.agents.extend(_coded_agents(resource, kb))
    return found, told


def _coded_agents(resource: Orderable, kb: Knowledge) -> Iterator[AgentMention]:
    for concept, path in concepts(resource, "usedCode"):
        for i, coding in enumerate(concept.coding or []):
            agent = kb.agent_by_code(coding.system, coding.code)
            if agent is not None:
                yield AgentMention(agent.id, agent.klass, None, None, f"{path}.coding[{i}]")


def _radiofrequency(found: TextFindings) -> Treatment | None:
    """Thermal or pulsed when the record says which; "radiofrequency" (ask) when it does not.

    The tip temperature decides first (42 °C is pulsed whatever the words). Then the words: thermal lesioning
    named as such was done, even beside pulsed ("pulsed RF followed by conventional RF ablation"), unless a bare
    pulsed setting contradicts it ("RF ablation, pulsed mode": ask).
    """
    named = found.modalities & {"thermal", "pulsed-rf", "radiofrequency"}
    if not named:
        return None
    if len(found.rf_temperatures) == 1:
        return "thermal" if "thermal" in found.rf_temperatures else "pulsed-rf"
    explicit = named - {"radiofrequency"}
    if "thermal" in explicit and ("pulsed-rf" in explicit or "pulsed-rf" not in found.rf_words):
        return "thermal"
    kinds = explicit | found.rf_words
    return "thermal" if kinds == {"thermal"} else "pulsed-rf" if kinds == {"pulsed-rf"} else "radiofrequency"


def _treatment(found: TextFindings, doses: Iterable[Dose]) -> Treatment | None:
    """What was done, as far as these words and doses say (None: they do not say)."""
    classes = {d.klass for d in doses}
    if "cryo" in found.modalities:
        return "cryo"
    if "neurolytic" in classes:
        return "chemical"
    radiofrequency = _radiofrequency(found)
    if radiofrequency is not None:
        return radiofrequency
    if "botulinum-toxin" in classes:
        return "botulinum-toxin"
    if classes & {"local-anaesthetic", "steroid"}:
        return "block"
    return None


def _called_off(told: TextFindings) -> bool:
    """The resource's narrative negates the neurolysis (or its agent, or its modality) and asserts none of it:
    "phenol neurolysis not performed", "patient declined phenol" (whatever the procedure's name says)."""
    negated = any(
        status == "negated" and what.split(":")[0] in ("procedure", "agent", "modality")
        for what, status in told.not_present
    )
    return negated and not told.neurolysis and not told.modalities and not told.agents


def _linked_treatment(gathered: _Gathered) -> Treatment | None:
    """What linked documentation says was done, but never a block on its own: a local anaesthetic in a note or
    a medication order is as often the skin wheal or test dose of a neurolysis as a block."""
    treatment = _treatment(gathered.found, gathered.doses)
    return None if treatment == "block" else treatment


def _kind(resource: Orderable, codes: Iterable[str], kb: Knowledge) -> EpisodeKind | None:
    """What the resource's own codes say it is; None when it carries no code the knowledge base can place."""
    kinds = {kind for code in codes if (kind := kb.episode_kind(code)) is not None}
    for kind in ("destruction", "look-alike", "other-service"):
        if kind in kinds:
            return kind
    if resource.code is not None and any(c.system in kb.other_service_systems for c in resource.code.coding or []):
        return "other-service"  # a LOINC test or observation
    categories = resource.category if isinstance(resource, ServiceRequest) else [resource.category]
    for concept in categories or []:
        if concept is None:
            continue
        if any((c.system, c.code) in kb.other_service_categories for c in concept.coding or []):
            return "other-service"
        words = [normalize(text) for text, _ in texts_of(concept, "category")]
        if kb.other_service_category_words.intersection(words):
            return "other-service"
    if not kinds and any(lexicon(kb).other_services.find(normalize(t)) for t, _ in texts_of(resource.code, "code")):
        return "other-service"  # no code we can place, and its name says a referral, a consult, therapy, a test
    return None


@dataclass(frozen=True)
class EpisodeContext:
    """What every episode is read against: the patient's data, parsed once per hook call."""

    record: Record
    kb: Knowledge
    encounter: str | None
    administrations: dict[str, list[tuple[str, TextFindings, float | None]]]
    documents: list[Document]
    medication_orders: list[MedicationOrder]
    conditions: list[ConditionFact]
    single_draft: bool  # one draft procedure order in the call: draft medications without basedOn are its


@dataclass
class _Gathered:
    """One tier of documentation: what it says, the doses it gives and the evidence it adds."""

    found: TextFindings
    doses: list[Dose]
    evidence: list[Evidence]
    unread: list[Evidence]  # fields too long to be read whole

    @classmethod
    def empty(cls) -> _Gathered:
        return cls(TextFindings(), [], [], [])

    def add(self, reference: str, found: TextFindings, volume: float | None = None) -> None:
        self.found.merge(found)
        self.note_unread(reference, found)
        self.doses += [
            Dose(a.agent, a.klass, a.concentration_pct, volume or a.volume_ml, reference, a.field) for a in found.agents
        ]
        if found.fields or found.agents:
            self.evidence.append(Evidence(reference, tuple(sorted(found.fields | {a.field for a in found.agents}))))

    def note_unread(self, reference: str, found: TextFindings) -> None:
        if found.unread:
            self.unread.append(Evidence(reference, tuple(sorted(found.unread))))


def _own(resource: Orderable, stage: Stage, reference: str, ctx: EpisodeContext) -> tuple[_Gathered, TextFindings]:
    """The resource's own words and codes, and medications structurally part of it (partOf, basedOn); and what
    its narrative alone says."""
    own = _Gathered.empty()
    found, told = _reading(resource, ctx.kb)
    own.found.merge(found)
    own.note_unread(reference, found)
    own.doses += [Dose(a.agent, a.klass, a.concentration_pct, a.volume_ml, reference, a.field) for a in found.agents]
    if stage == "performed":
        for ma_reference, ma_found, volume in ctx.administrations.get(reference, []):
            own.add(ma_reference, ma_found, volume)
    for order in ctx.medication_orders:
        if reference in order.based_on:
            own.add(order.reference, order.found)
    return own, told


def _linked(references: frozenset[str], stage: Stage, ctx: EpisodeContext) -> _Gathered:
    """Notes that name the resource, and draft medications signed beside a single draft procedure order."""
    direct = _Gathered.empty()
    for document in ctx.documents:
        if directly_linked(document, references):
            direct.add(document.reference, document.found)
    if stage == "order" and ctx.single_draft:
        for order in ctx.medication_orders:
            if order.draft and not order.based_on:
                direct.add(order.reference, order.found)
    return direct


def episodes_of(resource: Orderable, stage: Stage, ctx: EpisodeContext) -> list[NerveEpisode]:
    kb = ctx.kb
    codes, code_fields = [], []
    for concept, path in concepts(resource, "code"):
        found_codes, found_fields = codes_in(concept, path, kb.cpt_systems | kb.hcpcs_systems)
        codes += found_codes
        code_fields += found_fields
    snomed_modalities = {
        modality
        for c in (resource.code.coding or [] if resource.code else [])
        if c.system == kb.snomed_system and (modality := kb.procedure_snomed.get(c.code or ""))
    }
    kind = "destruction" if snomed_modalities else _kind(resource, codes, kb)
    if kind == "other-service":
        return []  # its words are context only
    reference = reference_to(resource)
    own, told = _own(resource, stage, reference, ctx)
    given = any(d.source != reference or d.field.startswith("usedCode") for d in own.doses)
    if _called_off(told) and not given:
        return []  # "neurolysis not performed", "patient declined phenol": its own words withdraw what its code says
    own_treatment = _treatment(own.found, own.doses)
    claims = (
        any(family.claims_destruction for code in codes if (family := kb.family_of(code)))
        or own.found.neurolysis
        or bool(snomed_modalities)
    )
    reasons = reasons_of(resource, {c.indication.reference or "": c for c in ctx.conditions}, kb)
    targets = nerve_targets(resource, kb, reasons)
    named = any(t.nerve is not None or t.text for t in targets)
    if kind != "destruction" and not claims and not (named and own_treatment in _LOOK_ALIKE_TREATMENTS):
        return []
    if isinstance(resource, ServiceRequest):
        when = first_date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
        references = frozenset({reference})
    else:
        when = first_date(resource.performedDateTime, resource.performedPeriod)
        references = frozenset({reference, *(r for r in map(relative, resource.basedOn or []) if r)})
    encounter = relative(resource.encounter) or ctx.encounter
    direct = _linked(references, stage, ctx)
    around = _Gathered.empty()
    for document in ctx.documents:
        if not directly_linked(document, references) and linked_by_context(document, encounter, when):
            around.add(document.reference, document.found)
    # What was done comes from the closest documentation that says it; the code alone comes last, and a
    # procedure code that names the modality (SNOMED CT radiofrequency ablation) settles a bare "RF".
    treatment = own_treatment or _linked_treatment(direct) or _linked_treatment(around)
    coded = next(iter(sorted(snomed_modalities)), None) or kb.treatment_of(frozenset(codes))
    if treatment is None or (treatment == "radiofrequency" and coded in ("thermal", "pulsed-rf")):
        treatment = coded or treatment
    tiers = (own, direct, around)
    guidance = frozenset().union(*(t.found.guidance for t in tiers))
    confirmation = frozenset().union(*(t.found.confirmation for t in tiers))
    conservative = frozenset().union(*(t.found.conservative for t in tiers))
    doses = tuple(d for t in tiers for d in t.doses)
    extra_evidence = tuple(e for t in tiers for e in t.evidence if e.reference != reference)
    reason_fields = [
        name
        for name, value in (("reasonCode", resource.reasonCode), ("reasonReference", resource.reasonReference))
        if value
    ]
    episodes = []
    for target in targets:
        fields = (
            *code_fields,
            *target.fields,
            *sorted(own.found.fields),
            *reason_fields,
        )
        for side in split_sides(target):
            episodes.append(
                NerveEpisode(
                    nerve=target.nerve,
                    nerve_text=target.text,
                    side=side,
                    date=when,
                    encounter=encounter,
                    stage=stage,
                    cpt_codes=tuple(dict.fromkeys(codes)),
                    claims_destruction=claims,
                    treatment=treatment,
                    doses=doses,
                    guidance=guidance,
                    spinal_regions=frozenset(own.found.spinal_regions),
                    joints=frozenset(own.found.joints),
                    levels=frozenset(own.found.levels),
                    chemo_sites=tuple(own.found.chemo_sites),
                    confirmation=confirmation,
                    conservative=conservative,
                    reasons=reasons,
                    indications=supporting(reasons, ctx.conditions, target.nerve, side, kb),
                    evidence=(Evidence(reference, tuple(dict.fromkeys(fields))), *dict.fromkeys(extra_evidence)),
                    side_conflict=target.side_conflict,
                    unread=tuple(dict.fromkeys(e for t in tiers for e in t.unread)),
                )
            )
    return episodes

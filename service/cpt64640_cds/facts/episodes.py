"""Nerve episodes of one order or procedure: whether it is neurolysis at all, what was done (agents, modality,
doses), to which nerves and sides, when, why, and with what guidance and confirmation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..fhir.elements import codes_in, concepts, first_date, reference_to, relative, texts_of
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..knowledge.fields import Stage, Treatment
from ..reading.findings import AgentMention, TextFindings
from ..reading.text import read
from .documents import Document, linked
from .indications import reasons_of, supporting
from .model import ConditionFact, Dose, Evidence, NerveEpisode
from .nerves import nerve_targets, split_sides


def _reading(resource: Any, kb: Knowledge) -> TextFindings:
    """Everything the resource's own words and codes say about agents, modality, guidance and levels."""
    found = TextFindings()
    sources: list[tuple[str, str]] = []
    for name in ("code", "orderDetail", "usedCode", "bodySite"):
        for concept, path in concepts(resource, name):
            sources.extend(texts_of(concept, path))
    for i, note in enumerate(getattr(resource, "note", None) or []):
        if note.text:
            sources.append((note.text, f"note[{i}].text"))
    if getattr(resource, "patientInstruction", None):
        sources.append((resource.patientInstruction, "patientInstruction"))
    for text, path in sources:
        found.merge(read(text, path, kb))
    found.agents.extend(_coded_agents(resource, kb))
    return found


def _coded_agents(resource: Any, kb: Knowledge) -> Iterator[AgentMention]:
    for concept, path in concepts(resource, "usedCode"):
        for i, coding in enumerate(concept.coding or []):
            agent = kb.agent_by_code(coding.system, coding.code)
            if agent is not None:
                yield AgentMention(agent.id, agent.klass, None, None, f"{path}.coding[{i}]")


def _treatment(found: TextFindings, doses: Iterable[Dose], codes: Iterable[str], kb: Knowledge) -> Treatment | None:
    classes = {d.klass for d in doses}
    if "cryo" in found.modalities:
        return "cryo"
    if "neurolytic" in classes:
        return "chemical"
    if "thermal" in found.modalities:
        return "thermal"
    if "pulsed-rf" in found.modalities:
        return "pulsed-rf"
    if "botulinum-toxin" in classes:
        return "botulinum-toxin"
    if classes & {"local-anaesthetic", "steroid"}:
        return "block"
    return kb.treatment_of(frozenset(codes))


@dataclass(frozen=True)
class EpisodeContext:
    """What every episode is read against: the patient's data, parsed once per hook call."""

    record: Record
    kb: Knowledge
    encounter: str | None
    administrations: dict[str, list[tuple[str, TextFindings, float | None]]]
    documents: list[Document]
    conditions: list[ConditionFact]


def episodes_of(resource: Any, stage: Stage, ctx: EpisodeContext) -> list[NerveEpisode]:
    kb, context_encounter, administrations = ctx.kb, ctx.encounter, ctx.administrations
    codes, code_fields = [], []
    for concept, path in concepts(resource, "code"):
        found_codes, found_fields = codes_in(concept, path, kb.cpt_systems)
        codes += found_codes
        code_fields += found_fields
    snomed_modalities = {
        kb.procedure_snomed[c.code]
        for c in (resource.code.coding or [] if resource.code else [])
        if c.system == kb.snomed_system and c.code in kb.procedure_snomed
    }
    found = _reading(resource, kb)
    found.modalities |= snomed_modalities
    reference = reference_to(resource)
    doses = [Dose(a.agent, a.klass, a.concentration_pct, a.volume_ml, reference, a.field) for a in found.agents]
    extra_evidence = []
    for ma_reference, ma_found, volume in administrations.get(reference, []) if stage == "performed" else []:
        found.merge(ma_found)
        for a in ma_found.agents:
            doses.append(Dose(a.agent, a.klass, a.concentration_pct, volume or a.volume_ml, ma_reference, a.field))
        extra_evidence.append(Evidence(ma_reference, tuple(sorted(ma_found.fields)) or ("medicationCodeableConcept",)))
    treatment = _treatment(found, doses, codes, kb)
    claims = (
        any(family.claims_destruction for code in codes if (family := kb.family_of(code)))
        or found.neurolysis
        or bool(snomed_modalities)
    )
    reasons = reasons_of(resource, {c.indication.reference or "": c for c in ctx.conditions}, kb)
    targets = nerve_targets(resource, kb, reasons)
    named = any(t.nerve is not None or t.text for t in targets)
    if not claims and not (named and treatment in ("chemical", "thermal", "pulsed-rf", "cryo")):
        return []
    if stage == "order":
        when = first_date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
    else:
        when = first_date(resource.performedDateTime, resource.performedPeriod)
    encounter = relative(resource.encounter) or context_encounter
    indications = supporting(reasons, ctx.conditions)
    reason_fields = [name for name in ("reasonCode", "reasonReference") if getattr(resource, name, None)]
    # Notes linked to the resource document it (agent, volume, guidance, confirmation); they do not change
    # what the resource itself says was done.
    documented = TextFindings()
    for document in ctx.documents:
        if linked(document, reference, encounter, when):
            documented.merge(document.found)
            doses += [
                Dose(a.agent, a.klass, a.concentration_pct, a.volume_ml, document.reference, a.field)
                for a in document.found.agents
            ]
            extra_evidence.append(Evidence(document.reference, tuple(sorted(document.found.fields))))
    episodes = []
    for target in targets:
        fields = (
            *code_fields,
            *target.fields,
            *sorted(found.fields),
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
                    doses=tuple(doses),
                    guidance=frozenset(found.guidance | documented.guidance),
                    spinal_regions=frozenset(found.spinal_regions),
                    joints=frozenset(found.joints),
                    levels=frozenset(found.levels),
                    chemo_regions=tuple(found.chemo_regions),
                    confirmation=frozenset(found.confirmation | documented.confirmation),
                    conservative=frozenset(found.conservative | documented.conservative),
                    reasons=reasons,
                    indications=indications,
                    evidence=(Evidence(reference, tuple(dict.fromkeys(fields))), *extra_evidence),
                    side_conflict=target.side_conflict,
                )
            )
    return episodes

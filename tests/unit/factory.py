"""Facts for rule tests, built the way the facts stage builds them, without FHIR.

`episode(...)` is one nerve episode (a draft order by default: phenol 6% 3 mL, left lateral femoral cutaneous
nerve, ultrasound guided, coded 64640, for meralgia paresthetica); change what a test is about and keep the
rest realistic. `facts(*episodes, ...)` puts episodes into a record's facts with the services around them, and
`inputs(facts)` gives what the rule runner passes every rule: the knowledge base, the modifier policy and each
episode's code choice. `findings_of(rule.run, *episodes, ...)` calls a rule on them, `lines(finding)` reads a
finding's billing lines back. Nerves, agents and indication groups are always the loaded knowledge base's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from cpt64640_cds.coding.coded import code
from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.facts.model import (
    Coding,
    ConditionFact,
    ConservativeCare,
    Dose,
    EmService,
    Evidence,
    Facts,
    GuidanceService,
    ImagingFact,
    Indication,
    NerveEpisode,
    Stage,
    Treatment,
)
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.rules.findings import Finding
from cpt64640_cds.rules.inputs import Rule, RuleInputs
from cpt64640_cds.tools.cards import ProposedLine

KB = load()
ICD10CM = KB.icd10cm_system
TODAY = date(2026, 11, 20)
PATIENT = "Patient/p-1"
ENCOUNTER = "Encounter/enc-1"


def _treatment_of(agent: str) -> Treatment:
    """What an agent does to the nerve when nothing stronger is written: anaesthetics and steroids block it."""
    klass = KB.agents[agent].klass
    if klass == "neurolytic":
        return "chemical"
    return "botulinum-toxin" if klass == "botulinum-toxin" else "block"


def indication(code: str, text: str | None = None, reference: str | None = None) -> Indication:
    """An ICD-10-CM diagnosis, placed in the indication group the knowledge base puts it in (or none)."""
    group = KB.indication_group(ICD10CM, code)
    return Indication((Coding(ICD10CM, code),), text, reference, group.id if group else None)


MERALGIA = indication("G57.12", "Meralgia paresthetica, left lower limb")


def episode(
    nerve: str | None = "lateral-femoral-cutaneous",
    side: str | None = "left",
    agent: str | None = "phenol",
    volume_ml: float | None = 3.0,
    concentration_pct: float | None = 6.0,
    guidance: Iterable[str] = ("ultrasound",),
    stage: Stage = "order",
    codes: Iterable[str] = ("64640",),
    indications: Iterable[Indication] = (MERALGIA,),
    reasons: Iterable[Indication] | None = None,
    treatment: Treatment | None = None,
    nerve_text: str | None = None,
    when: date | None = TODAY,
    encounter: str | None = ENCOUNTER,
    source: str | None = None,
    confirmation: Iterable[str] = (),
    conservative: Iterable[str] = (),
    spinal_regions: Iterable[str] = (),
    joints: Iterable[tuple[str, str]] = (),
    levels: Iterable[str] = (),
    chemo_sites: Iterable[tuple[str, str | None]] = (),
    claims_destruction: bool = True,
) -> NerveEpisode:
    """One nerve episode. `nerve` is a knowledge-base nerve id; for a nerve it does not know, pass nerve=None and
    the words in `nerve_text`. The treatment follows the agent's class unless given (thermal, cryo, pulsed-rf).
    `source` defaults to a draft ServiceRequest (stage "order") or a Procedure (stage "performed")."""
    known = KB.nerves[nerve] if nerve is not None else None
    source = source or ("ServiceRequest/sr-1" if stage == "order" else "Procedure/proc-1")
    doses: tuple[Dose, ...] = ()
    if agent is not None:
        doses = (Dose(agent, KB.agents[agent].klass, concentration_pct, volume_ml, source, "note[0].text"),)
    indications = tuple(indications)
    return NerveEpisode(
        nerve=known,
        nerve_text=nerve_text or (known.name if known else None),
        side=side,
        date=when,
        encounter=encounter,
        stage=stage,
        cpt_codes=tuple(codes),
        claims_destruction=claims_destruction,
        treatment=treatment or (_treatment_of(agent) if agent else None),
        doses=doses,
        guidance=frozenset(guidance),
        spinal_regions=frozenset(spinal_regions),
        joints=frozenset(joints),
        levels=frozenset(levels),
        chemo_sites=tuple(chemo_sites),
        confirmation=frozenset(confirmation),
        conservative=frozenset(conservative),
        reasons=indications if reasons is None else tuple(reasons),
        indications=indications,
        evidence=(Evidence(source, ("code", "bodySite[0].text", "note[0].text")),),
    )


def performed(**changes: object) -> NerveEpisode:
    """A completed Procedure of the encounter with everything documented: volume, placement confirmed by
    stimulation, and failed conservative care (the neuropathic-pain group asks for it)."""
    defaults: dict[str, object] = {
        "stage": "performed",
        "confirmation": ("stimulation",),
        "conservative": ("phrase", "medication:gabapentinoid"),  # "no relief with gabapentin"
    }
    return episode(**(defaults | changes))


def em_service(
    code: str = "99214",
    modifiers: Iterable[str] = (),
    when: date | None = TODAY,
    reference: str = "ServiceRequest/sr-visit",
    encounter: str | None = ENCOUNTER,
) -> EmService:
    """An evaluation and management service on the record (a draft order unless `reference` says otherwise)."""
    return EmService(reference, code, frozenset(modifiers), when, encounter, Evidence(reference, ("code",)))


def guidance_service(
    code: str | None = "76942",
    modality: str = "ultrasound",
    stage: Stage = "order",
    when: date | None = TODAY,
    reference: str = "ServiceRequest/sr-guidance",
    encounter: str | None = ENCOUNTER,
) -> GuidanceService:
    """Image guidance ordered (or performed) as a service of its own."""
    return GuidanceService(reference, code, modality, when, encounter, stage, Evidence(reference, ("code",)))


def imaging_study(
    guidance: Iterable[str] = ("ultrasound",),
    when: date | None = TODAY,
    encounter: str | None = ENCOUNTER,
    based_on: Iterable[str] = (),
    reference: str = "ImagingStudy/img-1",
) -> ImagingFact:
    return ImagingFact(reference, frozenset(guidance), when, encounter, tuple(based_on))


def condition(code: str, active: bool = True, reference: str = "Condition/c-1") -> ConditionFact:
    """One of the patient's conditions (the problem list)."""
    return ConditionFact(indication(code, reference=reference), active)


def facts(
    *episodes: NerveEpisode,
    today: date = TODAY,
    em_services: Iterable[EmService] = (),
    guidance_services: Iterable[GuidanceService] = (),
    imaging: Iterable[ImagingFact] = (),
    conditions: Iterable[ConditionFact] = (),
    conservative: Iterable[ConservativeCare] = (),
    unavailable: Iterable[str] = (),
    encounter: str | None = ENCOUNTER,
) -> Facts:
    return Facts(
        patient=PATIENT,
        encounter=encounter,
        user="Practitioner/dr-1",
        today=today,
        episodes=list(episodes),
        guidance_services=list(guidance_services),
        conditions=list(conditions),
        conservative=list(conservative),
        imaging=list(imaging),
        em_services=list(em_services),
        unavailable=list(unavailable),
    )


def inputs(facts: Facts, policy: ModifierPolicy | None = None) -> RuleInputs:
    """What the rule runner gives every rule: the knowledge base, the modifier policy, the code choices."""
    policy = policy or ModifierPolicy.of(KB)
    return RuleInputs(KB, policy, code(facts, KB, policy))


def findings_of(
    run: Rule, *episodes: NerveEpisode, policy: ModifierPolicy | None = None, **around: Any
) -> list[Finding]:
    """A rule's `run(facts, inputs)` on facts of these episodes and the services `around` them (see `facts`)."""
    record = facts(*episodes, **around)
    return run(record, inputs(record, policy))


def lines(finding: Finding) -> list[ProposedLine]:
    """A finding's billing lines as (code, modifiers, units, nerve, side), the way the e2e tests read cards."""
    return [ProposedLine(x.code, x.modifiers, x.units, x.nerve_name, x.side) for x in finding.lines]

"""imaging-bundled: image guidance is part of 64640 (and of the other codes whose descriptor includes it), so
a separate 76942 / 77002 / 77003 / 77012 / 77021 on the same date is not reported
(sources.md#image-guidance-inclusion)."""

from __future__ import annotations

from datetime import date

from ..facts.model import Facts, GuidanceService
from .common import fit, upper_first
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "imaging-bundled"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    if facts.review:
        return []  # after the fact, what matters is guidance billed separately: billed-differs says so
    kb = inputs.kb
    bundling: dict[date, set[str]] = {}  # date -> codes that include guidance
    encounters: dict[str, set[str]] = {}
    for episode, choice in inputs.coded.chosen("line", "specific"):
        if choice.code is None:
            continue
        if not kb.codes[choice.code].imaging_included:
            continue
        bundling.setdefault(episode.date or facts.today, set()).add(choice.code)
        if episode.encounter:
            encounters.setdefault(episode.encounter, set()).add(choice.code)
    findings = []
    for service in facts.guidance_services:
        codes = bundling.get(service.date or facts.today) or (
            encounters.get(service.encounter or "") if service.date is None else None
        )
        if codes:
            findings.append(_finding(service, sorted(codes), inputs))
    return findings


def _finding(service: GuidanceService, codes: list[str], inputs: RuleInputs) -> Finding:
    kb = inputs.kb
    guidance = service.code or kb.guidance[service.modality].name + " guidance"
    including = " / ".join(codes)
    options: tuple[Option, ...] = ()
    if service.stage == "order":
        options = (Option("Remove the separate guidance order", deletes=(service.reference,)),)
    detail = (
        f"{upper_first(kb.guidance[service.modality].name)} guidance for the injection is part of {including}: "
        f"do not report {guidance} separately for the same date of service."
    )
    if service.stage == "performed":
        detail += " It was already performed: leave it off the claim."
    return Finding(
        rule_id=RULE_ID,
        indicator="warning",
        summary=fit(f"Do not bill {guidance}: image guidance is included in {including}"),
        detail=detail,
        evidence=(service.evidence,),
        options=options,
    )

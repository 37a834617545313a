"""image-guidance-missing: no evidence at all that image guidance is or was used for a 64640 service, which
the project brief makes a critical component (sources.md#mandatory-image-guidance).

Evidence is any guidance named in the order, procedure or linked notes (even without its type: that gap is
documentation-incomplete's), a separate guidance order or procedure on the date, or an imaging study of a
guidance modality (US, RF, XA, CT, MR) based on the order, in the encounter or on the date.
"""

from __future__ import annotations

from ..facts.model import Facts, NerveEpisode
from .common import billed_as_64640, by_source, fit, imaging_for, merge_evidence, site
from .findings import Finding
from .inputs import RuleInputs

RULE_ID = "image-guidance-missing"


def _guided(episode: NerveEpisode, facts: Facts) -> bool:
    if episode.guidance or imaging_for(episode, facts):
        return True
    when = episode.date or facts.today
    return any(
        (s.date or facts.today) == when or (episode.encounter and s.encounter == episode.encounter)
        for s in facts.guidance_services
    )


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    findings = []
    for source, episodes in by_source(billed_as_64640(inputs.coded, inputs.kb)).items():
        if any(_guided(e, facts) for e in episodes):
            continue
        performed = episodes[0].stage == "performed"
        looked = "the order, its details and notes" if not performed else "the procedure, its notes and documents"
        findings.append(
            Finding(
                rule_id=RULE_ID,
                indicator="warning",
                summary=fit(f"No image guidance documented for 64640 ({', '.join(site(e) for e in episodes)})"),
                detail=(
                    "Missing: image guidance. "
                    f"64640 includes image guidance (ultrasound, fluoroscopy, CT or MR) as a critical part of the "
                    f"service. Nothing in {looked}, the imaging studies of the date or the session's orders shows "
                    f"it for `{source}`. Name the modality used (or planned)."
                ),
                evidence=merge_evidence(episodes),
                missing=("image guidance",),
            )
        )
    return findings

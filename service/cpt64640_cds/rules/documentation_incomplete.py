"""documentation-incomplete: the record must name the nerve(s), the agent and its volume, the type of image
guidance, how needle placement was confirmed, and the medical necessity (sources.md#documentation-requirements).

What is required depends on the stage: a performed procedure must hold everything (warning); an order can
only state the nerve and side, the agent and the type of guidance (info) — intra-procedural elements are
never asked of an order. Radiofrequency whose kind is not stated is asked which kind it was, whatever the
nerve: pulsed is not destruction, so no code can be proposed until the record says. The indication is the
indication-missing card's, and guidance with no trace at all is the image-guidance-missing card's, so no two
cards say the same thing.
"""

from __future__ import annotations

from ..facts.model import Facts, NerveEpisode
from ..knowledge.base import Knowledge
from .common import billed_as_64640, by_source, fit, imaging_for, merge_evidence
from .findings import Finding
from .inputs import RuleInputs

RULE_ID = "documentation-incomplete"


def missing_elements(episode: NerveEpisode, facts: Facts, kb: Knowledge) -> list[str]:
    """Ids of the documentation elements the episode lacks, for its stage."""
    gaps = []
    if episode.side_conflict:
        gaps.append("side-conflict")
    elif episode.nerve_key is None or (episode.side is None and (episode.nerve is None or episode.nerve.sided)):
        gaps.append("nerve")
    neurolytic = [d for d in episode.doses if d.klass == "neurolytic"]
    if episode.treatment is None:
        gaps.append("agent")
    if episode.treatment == "radiofrequency":
        gaps.append("radiofrequency-type")
    if episode.treatment in (None, "chemical") and not any(d.volume_ml for d in neurolytic):
        gaps.append("volume")
    typed = (episode.guidance - {"unspecified"}) or any(s.guidance for s in imaging_for(episode, facts))
    if "unspecified" in episode.guidance and not typed:
        gaps.append("guidance-type")
    if not episode.confirmation:
        gaps.append("confirmation")
    groups = {g.id: g for g in kb.indication_groups}
    needs_failed_care = any(i.group and groups[i.group].failed_conservative_required for i in episode.indications)
    if needs_failed_care and not (episode.conservative or facts.conservative):
        gaps.append("failed-treatment")
    return [g for g in gaps if episode.stage in kb.documentation[g].stages]


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    findings = []
    undetermined = [e for e, _ in inputs.coded.chosen("undetermined")]
    for source, episodes in by_source(billed_as_64640(inputs.coded, inputs.kb) + undetermined).items():
        gaps = list(dict.fromkeys(g for e in episodes for g in missing_elements(e, facts, kb)))
        if not gaps:
            continue
        performed = episodes[0].stage == "performed"
        labels = [kb.documentation[g].label for g in gaps]
        what = "The procedure record" if performed else "The order"
        findings.append(
            Finding(
                rule_id=RULE_ID,
                indicator="warning" if performed else "info",
                summary=fit(f"{what} lacks: {', '.join(labels)}"),
                detail=(
                    f"{what} `{source}` does not document:\n\n"
                    + "\n".join(f"- {label}" for label in labels)
                    + "\n\nLooked in the structured fields, the notes and order details, medication "
                    "administrations and linked documents; negated or uncertain mentions do not count."
                    + ("" if performed else " Only what an order can state is asked of it.")
                ),
                evidence=merge_evidence(episodes),
                missing=tuple(labels),
            )
        )
    return findings

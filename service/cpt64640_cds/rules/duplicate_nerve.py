"""duplicate-nerve: the same nerve and side more than once in one encounter is still one line
(sources.md#multiple-injections). The card names the resources merged into the line and offers to remove
duplicate draft orders."""

from __future__ import annotations

from ..facts.model import Facts, NerveEpisode
from ..knowledge.grammar import agree, count
from .common import fit, merge_evidence
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "duplicate-nerve"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    groups: dict[tuple[str, str | None, object], list[NerveEpisode]] = {}
    for episode in facts.episodes:
        if episode.nerve_key is None:
            continue
        key = (episode.nerve_key, episode.side, episode.encounter or episode.date or facts.today)
        groups.setdefault(key, []).append(episode)
    findings = []
    for episodes in groups.values():
        sources = list(dict.fromkeys(e.source for e in episodes))
        if len(sources) < 2:
            continue
        first = episodes[0]
        name = first.nerve.name if first.nerve else first.nerve_text
        site = f"{first.side} {name}" if first.side else str(name)
        appear = agree(site, "appears", "appear")
        # Keep what was performed (or the first order); the other draft orders are duplicates.
        keep = next((e.source for e in episodes if e.stage == "performed"), sources[0])
        duplicates = tuple(e.draft_order for e in episodes if e.draft_order and e.source != keep)
        duplicates = tuple(dict.fromkeys(duplicates))
        options = (Option(_remove_label(len(duplicates)), deletes=duplicates),) if duplicates else ()
        findings.append(
            Finding(
                rule_id=RULE_ID,
                indicator="info",
                summary=fit(f"The {site} {appear} {len(sources)} times in this encounter: report it once"),
                detail=(
                    f"Several injections of the same nerve and side in one encounter are one service, one unit. "
                    f"The {len(sources)} records of it are merged into one line."
                ),
                evidence=merge_evidence(episodes),
                options=options,
            )
        )
    return findings


def _remove_label(n: int) -> str:
    return "Remove the duplicate order" if n == 1 else f"Remove the {count(n, 'duplicate order')}"

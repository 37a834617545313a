"""line-suggestion: one 64640 line per distinct nerve and side (seed: Coding Guidelines, Multiple Injections)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from ..facts import Evidence, Facts, NerveEpisode
from ..findings import Finding, Line
from ..lines import apply

if TYPE_CHECKING:
    from . import RuleInputs

RULE_ID = "line-suggestion"
CODE = "64640"
SUMMARY_LIMIT = 139


def _billable(episode: NerveEpisode) -> tuple[str, str, str | None] | None:
    """(key, name, nerve id) of the nerve to bill 64640 for, or None.

    A nerve the knowledge base codes elsewhere is another rule's business. A nerve it does not know, named
    as such in bodySite, is billed under the words written (peripheral nerves are paired, so it needs a
    side). A sided nerve without a written side gets no line: a line without RT/LT would be wrong.
    """
    nerve = episode.nerve
    if nerve is not None:
        if nerve.destruction_code != CODE or (nerve.sided and episode.side is None):
            return None
        return nerve.id, nerve.name, nerve.id
    if episode.nerve_text and episode.side is not None:
        return f"text:{episode.nerve_text}", episode.nerve_text, None
    return None


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    groups: dict[tuple[str, str | None, date], tuple[tuple[str, str | None], list[NerveEpisode]]] = {}
    for episode in facts.episodes:
        billable = _billable(episode)
        if billable is not None:
            key, name, nerve_id = billable
            entry = groups.setdefault((key, episode.side, episode.date or facts.today), ((name, nerve_id), []))
            entry[1].append(episode)
    if not groups:
        return []

    drafts = []
    for (_, side, when), ((name, nerve_id), episodes) in groups.items():
        drafts.append(
            Line(
                code=CODE,
                modifiers=(),
                units=1,  # one unit per distinct nerve and side, however many injections
                nerve_id=nerve_id,
                nerve_name=name,
                side=side,
                date=when,
                encounter=next((e.encounter for e in episodes if e.encounter), facts.encounter),
                services=tuple(dict.fromkeys(e.source for e in episodes)),
                reasons=tuple(dict.fromkeys(i for e in episodes for i in e.indications)),
                performed=any(e.stage == "performed" for e in episodes),
            )
        )
    lines = apply(drafts, inputs.policy)
    evidence = _merge_evidence(e for _, group in groups.values() for e in group)
    return [
        Finding(
            rule_id=RULE_ID,
            indicator="info",
            summary=_summary(lines),
            detail=_detail(lines, inputs),
            evidence=evidence,
            lines=tuple(lines),
        )
    ]


def _merge_evidence(episodes: Iterable[NerveEpisode]) -> tuple[Evidence, ...]:
    merged: dict[str, dict[str, None]] = {}
    for episode in episodes:
        for item in episode.evidence:
            merged.setdefault(item.reference, {}).update(dict.fromkeys(item.fields))
    return tuple(Evidence(ref, tuple(fields)) for ref, fields in merged.items())


def _summary(lines: list[Line]) -> str:
    if len(lines) == 1:
        text = f"Bill {lines[0].label} for the {lines[0].site}"
    else:
        text = f"Bill {len(lines)} lines of {CODE}: " + ", ".join(line.label for line in lines)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip(", ") + "…"


def _detail(lines: list[Line], inputs: RuleInputs) -> str:
    kb = inputs.kb
    rows = "\n".join(
        f"| {line.label} | {line.nerve_name} | {line.side or 'unsided'} | {line.units} | {line.date.isoformat()} "
        f"| {', '.join(line.services)} |"
        for line in lines
    )
    unknown = sorted({line.nerve_name for line in lines if line.nerve_id is None})
    caution = (
        f"\n\nNot in the knowledge base, billed as written: {', '.join(unknown)}. Check that no more specific "
        "code names this nerve."
        if unknown
        else ""
    )
    used = sorted({m for line in lines for m in line.modifiers})
    legend = "; ".join(f"**{m}** {kb.modifiers[m].meaning.lower()}" for m in used)
    return (
        f"{kb.codes[CODE].descriptor} One line per distinct nerve and side, one unit each, however many "
        "injections the nerve received.\n\n"
        "| Line | Nerve | Side | Units | Date | For |\n|---|---|---|---|---|---|\n"
        f"{rows}\n\n" + (f"Modifiers: {legend}." if legend else "") + caution
    ).strip()

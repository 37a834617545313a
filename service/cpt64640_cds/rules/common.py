"""Small helpers the rules share: evidence merging, order recoding, summaries that fit."""

from __future__ import annotations

from collections.abc import Iterable

from ..coding.coded import CodedFacts
from ..coding.lines import Line
from ..facts.model import Evidence, Facts, ImagingFact, NerveEpisode
from ..knowledge.base import Knowledge
from ..knowledge.grammar import count, listing
from .findings import OrderUpdate

SUMMARY_LIMIT = 139


def merge_evidence(episodes: Iterable[NerveEpisode]) -> tuple[Evidence, ...]:
    merged: dict[str, dict[str, None]] = {}
    for episode in episodes:
        for item in episode.evidence:
            merged.setdefault(item.reference, {}).update(dict.fromkeys(item.fields))
    return tuple(Evidence(ref, tuple(fields)) for ref, fields in merged.items())


def recode(episodes: Iterable[NerveEpisode], code: str, kb: Knowledge) -> tuple[OrderUpdate, ...]:
    """Updates that put `code` on each draft order that lacks it, taking wrong procedure codes off."""
    updates: dict[str, OrderUpdate] = {}
    for episode in episodes:
        order = episode.draft_order
        if order is None or code in episode.cpt_codes or order in updates:
            continue
        wrong = tuple(c for c in episode.cpt_codes if (family := kb.family_of(c)) and family.recodable)
        updates[order] = OrderUpdate(order, code, wrong)
    return tuple(updates.values())


LABEL_LIMIT = 80  # a suggestion label is a button: short, in clinician words, no resource ids


def bill_label(lines: Iterable[Line], code: str, suffix: str = "") -> str:
    """A suggestion's label: the lines it adds or, when no line can be billed yet (no side), the recoding."""
    lines = list(lines)
    if len(lines) == 1:
        line = lines[0]
        return _short(f"Add {line.label}: {f'{line.side} ' if line.side else ''}{line.nerve_name}{suffix}")
    if lines:
        return _short(f"Add {count(len(lines), 'line')}: {', '.join(line.label for line in lines)}{suffix}")
    return f"Code the order as {code}"


def recode_label(updates: Iterable[object], code: str) -> str:
    """The label of a suggestion that only recodes draft orders: how many, never which ids."""
    n = len(list(updates))
    return f"Code the order as {code}" if n == 1 else f"Code the {count(n, 'order')} as {code}"


def _short(text: str) -> str:
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1].rstrip(", ;:") + "…"


def fit(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip(", ;") + "…"


def caution(confirmed: bool, source: Iterable[str]) -> str:
    if confirmed:
        return ""
    return (
        "\n\n**Unconfirmed mapping:** the research behind this code could not confirm it "
        f"({'; '.join(source)}). Verify against the current CPT book before billing."
    )


def describe_treatment(episode: NerveEpisode, kb: Knowledge) -> tuple[str, int]:
    """What was given ("lidocaine and triamcinolone") and how many things that names, for the verb."""
    agents = list(dict.fromkeys(kb.agents[d.agent].name for d in episode.doses))
    if agents:
        return listing(agents), len(agents)
    names: dict[str, str] = {m.modality: m.name for m in kb.modalities.values()}
    return names.get(episode.treatment or "", "the treatment written"), 1


def unit_limit_note(lines: Iterable[Line], kb: Knowledge) -> str:
    """A sentence for each code whose units on one date exceed its daily limit (CMS MUE), when one is known."""
    totals: dict[tuple[str, object], int] = {}
    for line in lines:
        totals[(line.code, line.date)] = totals.get((line.code, line.date), 0) + line.units
    notes = [
        f"**{units} units of {code} on {when} exceed its daily limit of {limit}** (CMS MUE): document why, or split "
        "the service as the payer requires."
        for (code, when), units in totals.items()
        if (limit := kb.codes[code].daily_unit_limit) is not None and units > limit
    ]
    return "\n\n".join(notes)


def upper_first(text: str) -> str:
    """Sentence case that keeps the rest as written (str.capitalize would turn "CT" into "Ct")."""
    return text[:1].upper() + text[1:]


def billed_as_64640(coded: CodedFacts, kb: Knowledge) -> list[NerveEpisode]:
    """The episodes whose code is 64640: the ones the indication and documentation rules are about."""
    return [e for e, choice in coded.chosen("line", "specific") if choice.code == kb.fallbacks.other_nerve]


def by_source(episodes: Iterable[NerveEpisode]) -> dict[str, list[NerveEpisode]]:
    grouped: dict[str, list[NerveEpisode]] = {}
    for episode in episodes:
        grouped.setdefault(episode.source, []).append(episode)
    return grouped


def imaging_for(episode: NerveEpisode, facts: Facts) -> list[ImagingFact]:
    """Imaging studies that show guidance for the episode: ordered for it, or in its encounter or on its date."""
    when = episode.date or facts.today
    return [
        study
        for study in facts.imaging
        if study.guidance
        and (
            episode.source in study.based_on
            or (episode.encounter is not None and study.encounter == episode.encounter)
            or (study.date is not None and study.date == when)
        )
    ]


def site(episode: NerveEpisode) -> str:
    name = episode.nerve.name if episode.nerve else (episode.nerve_text or "nerve not named")
    return f"{name}, {episode.side}" if episode.side else name

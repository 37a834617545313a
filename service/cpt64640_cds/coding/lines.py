"""Billing lines: episodes with their chosen code turned into lines, and the modifier policy.

Planning groups episodes into one line per code, distinct nerve, side and encounter (or date): the same
nerve and side twice in one encounter is one line (sources.md#multiple-injections). Add-on codes become lines of
their own. Modifiers (docs/cards.md): RT or LT on every line of a sided nerve whose code takes laterality;
among lines with the same code and laterality on one date, every line after the first carries 59 (or XS);
left and right of one nerve are two lines, or, in the bilateral-50 payer profile, one line with 50.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from ..facts.model import Indication, NerveEpisode
from ..knowledge.base import Knowledge
from .choice import Choice


@dataclass(frozen=True)
class Line:
    """One proposed billing line (rendered as a FHIR ChargeItem)."""

    code: str
    modifiers: tuple[str, ...]
    units: int
    nerve_id: str | None
    nerve_name: str
    side: str | None  # left | right | None
    date: date
    encounter: str | None
    services: tuple[str, ...]  # ServiceRequest/Procedure references the line bills for
    reasons: tuple[Indication, ...]
    performed: bool  # True for a completed Procedure (billable), False for an order (planned)

    @property
    def label(self) -> str:
        return "-".join((self.code, *self.modifiers))

    @property
    def site(self) -> str:
        return f"{self.nerve_name}, {self.side}" if self.side else self.nerve_name


@dataclass(frozen=True)
class ModifierPolicy:
    """Which modifiers lines carry: the side's (RT, LT, or 50 for both), and the distinct-service modifier on
    the 2nd+ line with the same code and side (59 or XS, a deployment setting)."""

    laterality: Mapping[str, str]  # right | left | bilateral -> modifier
    distinct_modifier: str = "59"
    bilateral_as_50: bool = False

    @classmethod
    def of(cls, kb: Knowledge, distinct_modifier: str = "59", bilateral_as_50: bool = False) -> ModifierPolicy:
        sides = ("right", "left", "bilateral")
        return cls({side: kb.modifier_for(side) for side in sides}, distinct_modifier, bilateral_as_50)


def plan(
    chosen: Iterable[tuple[NerveEpisode, Choice]], kb: Knowledge, today: date, policy: ModifierPolicy
) -> list[Line]:
    groups: dict[tuple[str, str, str | None, object], list[tuple[NerveEpisode, Choice]]] = {}
    for episode, choice in chosen:
        if choice.code is None or episode.nerve_key is None or episode.side_conflict:
            continue  # a conflict of sides is documentation-incomplete's, whatever the code's laterality
        if (episode.nerve is None or episode.nerve.sided) and episode.side is None and kb.codes[choice.code].laterality:
            # A line without RT/LT would be wrong (a nerve the knowledge base does not know is taken as
            # sided); documentation-incomplete names the gap.
            continue
        when = episode.date or today
        key = (choice.code, episode.nerve_key, episode.side, episode.encounter or when)
        groups.setdefault(key, []).append((episode, choice))
    lines = []
    for (code, _, side, _), members in groups.items():
        episodes = [e for e, _ in members]
        first, choice = members[0]
        base = Line(
            code=code,
            modifiers=(),
            units=max(c.units for _, c in members),
            nerve_id=first.nerve.id if first.nerve else None,
            nerve_name=first.nerve.name if first.nerve else (first.nerve_text or "nerve"),
            side=side if kb.codes[code].laterality else None,
            date=min(e.date or today for e in episodes),
            encounter=next((e.encounter for e in episodes if e.encounter), None),
            services=tuple(dict.fromkeys(e.source for e in episodes)),
            reasons=tuple(dict.fromkeys(i for e in episodes for i in e.indications)),
            performed=any(e.stage == "performed" for e in episodes),
        )
        lines.append(base)
        add_on_units = max(c.add_on_units for _, c in members)
        if choice.add_on and add_on_units:
            lines.append(replace(base, code=choice.add_on, units=add_on_units))
    return apply(lines, policy)


def _bilateral(lines: list[Line]) -> list[Line]:
    """Right and left of one nerve, code and date become one line carrying 50 (one unit per side's count)."""
    out: list[Line] = []
    for line in lines:
        twin = next(
            (
                o
                for o in out
                if o.side in ("right", "left")
                and line.side in ("right", "left")
                and o.side != line.side
                and (o.code, o.nerve_name, o.date) == (line.code, line.nerve_name, line.date)
            ),
            None,
        )
        if twin is None:
            out.append(line)
            continue
        merged = replace(
            twin,
            side="bilateral",
            services=tuple(dict.fromkeys(twin.services + line.services)),
            reasons=tuple(dict.fromkeys(twin.reasons + line.reasons)),
            performed=twin.performed or line.performed,
        )
        out[out.index(twin)] = merged
    return out


def apply(lines: list[Line], policy: ModifierPolicy) -> list[Line]:
    """Lines in the order given (the order of the source resources), each with its modifiers."""
    if policy.bilateral_as_50:
        lines = _bilateral(lines)
    seen: Counter[tuple[object, str, str | None]] = Counter()
    out = []
    for line in lines:
        laterality = policy.laterality.get(line.side or "")
        key = (line.date, line.code, laterality)
        modifiers = [laterality] if laterality else []
        if seen[key]:
            modifiers.append(policy.distinct_modifier)
        seen[key] += 1
        out.append(replace(line, modifiers=tuple(modifiers)))
    return out

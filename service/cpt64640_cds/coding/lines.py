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

from ..facts.indications import billable, fits
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
    reasons: tuple[Indication, ...]  # the ICD-10-CM diagnoses the line rests on (see `diagnoses`)
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


def _unique(indications: Iterable[Indication]) -> tuple[Indication, ...]:
    """In order, one per set of codes (the same diagnosis from an order's reason and the problem list)."""
    seen: dict[tuple[tuple[str, str], ...], Indication] = {}
    for indication in indications:
        seen.setdefault(tuple((c.system, c.code) for c in indication.codings), indication)
    return tuple(seen.values())


def diagnoses(episodes: Iterable[NerveEpisode], code: str, kb: Knowledge) -> tuple[Indication, ...]:
    """The ICD-10-CM diagnoses a line of `code` rests on, in order and once each.

    A 64640 line carries the billable diagnoses that support each episode's nerve and side, never a SNOMED-only,
    category-only or by-words one. The knowledge base holds no indications for other codes (a genicular line for
    knee osteoarthritis), so their lines carry the source's own ICD-10-CM reasons, less those that name another
    nerve or side; failing those, the supporting diagnoses as for 64640."""
    episodes = list(episodes)
    supported = _unique(b for e in episodes for i in e.indications if (b := billable(i, kb)))
    if code == kb.fallbacks.other_nerve:
        return supported
    own = []
    for episode in episodes:
        for reason in episode.reasons:
            codings = tuple(c for c in reason.codings if c.system == kb.icd10cm_system)
            placed = reason.group is not None and not reason.by_text
            if codings and (not placed or fits(reason, episode.nerve, episode.side, kb)):
                own.append(Indication(codings, reason.text, reason.reference, reason.group))
    return _unique(own) or supported


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
        first = members[0][0]
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
            reasons=diagnoses(episodes, code, kb),
            performed=any(e.stage == "performed" for e in episodes),
        )
        lines.append(base)
        add_on_units: dict[str, int] = {}
        for _, each in members:
            for add_on in each.add_ons:
                add_on_units[add_on.code] = max(add_on_units.get(add_on.code, 0), add_on.units)
        lines += [replace(base, code=code, units=units) for code, units in add_on_units.items()]
    return apply(lines, policy)


def chemodenervation_line(
    choice: Choice, episodes: list[NerveEpisode], kb: Knowledge, today: date, encounter: str | None
) -> tuple[Line, ...]:
    """Chemodenervation is coded per extremity or area, without laterality: one line naming the target, and a
    line for each add-on (further extremities) naming the extremities it covers."""
    assert choice.code is not None
    line = Line(
        code=choice.code,
        modifiers=(),
        units=1,
        nerve_id=None,
        nerve_name=choice.target or "muscles injected",
        side=None,
        date=min(e.date or today for e in episodes),
        encounter=next((e.encounter for e in episodes if e.encounter), encounter),
        services=tuple(dict.fromkeys(e.source for e in episodes)),
        reasons=diagnoses(episodes, choice.code, kb),
        performed=any(e.stage == "performed" for e in episodes),
    )
    add_ons = [
        replace(line, code=a.code, units=a.units, nerve_name=a.target or line.nerve_name) for a in choice.add_ons
    ]
    return (line, *add_ons)


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
            reasons=_unique(twin.reasons + line.reasons),
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

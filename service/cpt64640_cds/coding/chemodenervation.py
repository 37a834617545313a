"""Chemodenervation counted the way CPT counts it (docs/sources.md#chemodenervation-muscles): distinct named
muscles per extremity, an extremity being one limb on one side; distinct muscles of the trunk, sides together.

The reader gives the sites in the order written, each with the side written for it (reading/muscles.py). Here
a site without a side takes the last side written for its region, else the last side heading ("Left:" above a
list), else the episode's side; a site still without one joins its region's one sided limb, stands alone when
there is none, and is counted nowhere when both sides were treated (the record does not say which limb). The
heads of a muscle are one muscle, and a group word (hamstrings) counts once unless one of its members is named.
When any muscle is named, limbs and regions written without one only lend their side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..facts.model import NerveEpisode
from ..knowledge.base import Knowledge
from ..knowledge.codes import ChemoTarget, Muscle
from ..reading.muscles import SIDE_HEADING

_BOTH = ("right", "left")


@dataclass(frozen=True)
class Extremity:
    """One limb on one side (or a region such as the trunk, side None) and the distinct muscles injected."""

    target: ChemoTarget
    side: str | None
    muscles: tuple[Muscle, ...]

    @property
    def many(self) -> bool:
        return self.target.many_from is not None and len(self.muscles) >= self.target.many_from

    @property
    def code(self) -> str:
        codes = self.target.codes
        return codes.many if self.many and codes.many else codes.few

    @property
    def added_code(self) -> str | None:
        """The add-on this extremity takes when it is not the first."""
        codes = self.target.codes
        return codes.each_added_many if self.many and codes.each_added_many else codes.each_added_few

    def describe(self) -> str:
        """What a line's body site says: "right upper extremity: biceps brachii, brachialis"."""
        where = f"{self.side} {self.target.name}" if self.side else self.target.name
        if self.muscles:
            return f"{where}: {', '.join(m.name for m in self.muscles)}"
        return f"muscles of the {where}" if self.side else self.target.label

    def counted(self) -> str:
        count = len(self.muscles)
        where = f"{self.side} {self.target.name}" if self.side else self.target.name
        names = ", ".join(m.name for m in self.muscles)
        return (
            f"{where}, {count} muscle{'s' if count != 1 else ''} ({names})" if count else f"{where}, muscles not named"
        )


def _placed(episode: NerveEpisode, kb: Knowledge) -> list[tuple[str, str | None, str | None]]:
    """(region, side, muscle id or None) of each site, with sides carried forward."""
    regions = {t.region for t in kb.chemo_targets}
    carried: dict[str, str] = {}
    default = episode.side
    out = []
    for key, written in episode.chemo_sites:
        if key == SIDE_HEADING:
            carried, default = {}, written
            continue
        muscle = kb.chemo_muscles.get(key)
        region = muscle.region if muscle else key
        if region not in regions:
            continue
        side = written or carried.get(region) or default
        if side:
            carried[region] = side
        out.append((region, side, muscle.id if muscle else None))
    return out


def _distinct(ids: Iterable[str], kb: Knowledge) -> tuple[Muscle, ...]:
    """Each muscle once, in the order written; a group word only when none of its members is named."""
    unique = list(dict.fromkeys(ids))
    named = set(unique)
    muscles = (kb.chemo_muscles[i] for i in unique)
    return tuple(m for m in muscles if not named.intersection(m.members))


def _limbs(placed: list[tuple[str, str | None, str | None]], kb: Knowledge) -> list[Extremity]:
    by_region = {t.region: t for t in kb.chemo_targets}
    limbs: dict[tuple[str, str | None], list[str]] = {}
    for region, side, muscle in placed:
        for each in _BOTH if side == "bilateral" else (side,):
            limbs.setdefault((region, each), []).extend([muscle] if muscle else [])
    for region, _ in [key for key in limbs if key[1] is None]:
        sided = [key for key in limbs if key[0] == region and key[1] is not None]
        if sided:
            unsided = limbs.pop((region, None))
            if len(sided) == 1:
                limbs[sided[0]].extend(unsided)
    extremities = [Extremity(by_region[r], s, _distinct(ids, kb)) for (r, s), ids in limbs.items()]
    return sorted(extremities, key=lambda e: -len(e.muscles))  # stable: the first written first among equals


def extremities(episode: NerveEpisode, kb: Knowledge) -> list[Extremity]:
    """The extremities toxin went into, the one with the most muscles first (it takes the base code); or the
    one region it went into; empty when the record names no muscle, limb or region."""
    placed = _placed(episode, kb)
    chosen = [p for p in placed if p[2] is not None] or placed
    if not chosen:
        return []
    by_region = {t.region: t for t in kb.chemo_targets}
    limbs = [p for p in chosen if by_region[p[0]].per_extremity]
    if limbs:
        return _limbs(limbs, kb)
    region = Counter(r for r, _, _ in chosen).most_common(1)[0][0]
    return [Extremity(by_region[region], None, _distinct((m for r, _, m in chosen if r == region and m), kb))]


def other_regions(episode: NerveEpisode, kb: Knowledge, coded: list[Extremity]) -> list[str]:
    """Regions with muscles named that the coded extremities leave out (trunk beside limbs): coded apart."""
    names = {e.target.region for e in coded}
    by_region = {t.region: t for t in kb.chemo_targets}
    return list(dict.fromkeys(by_region[r].name for r, _, m in _placed(episode, kb) if m and r not in names))

"""Chemodenervation sites in one sentence: the muscles (or, when none is named, the limbs and regions) toxin
went into, each with the side written for it.

A side belongs to the site it is written against ("left biceps", "FCR (R)", "RUE") and carries forward in the
sentence ("Right: biceps, brachialis, FCR"). A sentence that is only a side ("Left:" above a list) is kept as a
`SIDE_HEADING` site, so the coding stage can carry it to the sites under it; sites still without a side keep
None. Counting distinct muscles per extremity is the coding stage's job.
"""

from __future__ import annotations

import re
from functools import cache

from ..knowledge.base import Knowledge
from ..knowledge.codes import Limb
from .lexicon import Lexicon, limb_key
from .phrases import Match

SIDE_HEADING = "side"  # key of a sentence that is only a side: it sets the side of the sites that follow
_SLASH = re.compile(r"(?<=[a-z]{2})/(?=[a-z]{2})")  # "FDS/FDP" is two muscles; "b/l" stays a side word
_GAP = re.compile(r"[\s|]*")  # what may stand between a site and the side written right after it: "fcr | r"
_HEADING_REST = frozenset({"side", "sided", "|"})
_HEADING_CHARS = 30


def spaced(normal: str) -> str:
    """The sentence with a slash between two words made a space (same length: positions stay valid)."""
    return _SLASH.sub(" ", normal) if "/" in normal else normal


def _heading(text: str, lex: Lexicon) -> list[tuple[Match, str | None]]:
    """A sentence that is only a side ("Left:", "Right side") is a heading over the sites that follow."""
    if len(text) > _HEADING_CHARS:
        return []
    sides = lex.sides.find(text)
    if len(sides) == 1 and set((text[: sides[0].start] + text[sides[0].end :]).split()) <= _HEADING_REST:
        return [(Match(SIDE_HEADING, sides[0].start, sides[0].end), sides[0].key)]
    return []


@cache
def _limbs(kb: Knowledge) -> dict[str, Limb]:
    return {limb_key(limb.region, limb.side): limb for limb in kb.chemo_limbs}


def _adjacent(text: str, end: int, start: int) -> bool:
    return _GAP.fullmatch(text[end:start]) is not None


def chemo_sites(normal: str, lex: Lexicon) -> list[tuple[Match, str | None]]:
    """Sites named in one normalised sentence, in order, each with its side (left, right, bilateral or None).
    A site's key is a muscle id, a region id, or `SIDE_HEADING`."""
    text = spaced(normal)
    sites = lex.chemo_sites.find(text)
    if not sites:
        return _heading(text, lex)
    sides = lex.sides.find(text)
    limbs = _limbs(lex.kb)
    out: list[tuple[Match, str | None]] = []
    current: str | None = None
    side_index = 0
    for i, site in enumerate(sites):
        while side_index < len(sides) and sides[side_index].end <= site.start:
            current = sides[side_index].key  # the nearest side written before the site
            side_index += 1
        limb = limbs.get(site.key)
        side: str | None = limb.side if limb else None
        before = sides[side_index - 1] if side_index else None
        if side is None and before is not None and _adjacent(text, before.end, site.start):
            side = before.key  # "left biceps"
        if side is None and side_index < len(sides):
            after = sides[side_index]
            following = sites[i + 1] if i + 1 < len(sites) else None
            owned_by_next = following is not None and _adjacent(text, after.end, following.start)
            if _adjacent(text, site.end, after.start) and not owned_by_next:
                side = after.key  # "FCR (R)"
        side = side or current
        current = side
        out.append((Match(limb.region, site.start, site.end) if limb else site, side))
    return out

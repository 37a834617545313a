"""Nerves and sides named in one text: which nerves are targets, and the side written for each.

- **Side per nerve.** A text is written either side-first ("L GON and R LON", "Left obturator and tibial
  nerves") or nerve-first ("GON L, LON R", "sural and saphenous, right"); whichever comes first in the text
  decides. A nerve takes the side written between it and its neighbour on that side; a nerve with none takes
  its neighbour's side when the two form a list (joined only by list words: "and", "&", ",", "/", "nerves"),
  so a shared side distributes over the list ("bilateral genicular (SMGN, SLGN, IMGN)", "right: sural,
  saphenous"). A text naming one nerve gives it the first side written anywhere in it ("Left T7-T9
  intercostal nerves").
- **Landmarks are not targets.** A nerve right after a landmark cue ("avoiding", "medial to", "adjacent to",
  "near") or right before one ("as a landmark", "spared") is a landmark, with the rest of its list; a nerve
  "identified" or "visualized" is a landmark only when the text names another nerve that is a target (an
  injected nerve is identified too). The cues are knowledge-base data (nerves.json `landmarks`).
- **Misspellings.** Known misspellings and abbreviations are synonyms in nerves.json. A text in which no
  known phrase names a nerve may be read again with each unknown word corrected to the one nerve-name word
  it is close to (difflib ratio >= 0.85, at least 6 letters, same first letter, one best candidate): a
  misspelt nerve with a code of its own ("genicualr") must not become an unknown "other" nerve billed as
  64640. Words the knowledge base knows are never corrected, so "medial" is never read as "lateral" and a
  distinct nerve the base does not know ("medial antebrachial cutaneous") stays unknown.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from ..knowledge.base import Knowledge
from .lexicon import lexicon
from .phrases import Match, normalize

FUZZY_CUTOFF = 0.85
FUZZY_MIN_LETTERS = 6
_CUE_REACH = 3  # words allowed between a landmark cue and its nerve ("medial to the left sural nerve")
_WORD_SLASH = re.compile(r"(?<=[a-z0-9]{2})/(?=[a-z]{2})")  # "gon/lon" is a list; "b/l", "s/p" stay words


@dataclass(frozen=True)
class NerveMention:
    nerve: str | None  # knowledge-base nerve id; None: words that name a nerve the base does not know
    words: str  # as normalised (phrases.normalize)
    side: str | None  # left | right | bilateral written for it; None when the text gives it none


@dataclass(frozen=True)
class SiteReading:
    targets: tuple[NerveMention, ...]  # one per nerve and side, in text order
    landmarks: tuple[NerveMention, ...]  # nerves named only as landmarks
    sides: tuple[str, ...]  # every side the text writes, in order (for a text that names no nerve)

    @property
    def names_nerve(self) -> bool:
        return bool(self.targets or self.landmarks)


def read_sites(text: str, kb: Knowledge, *, unknown: bool = False, fuzzy: bool = False) -> SiteReading:
    """The nerves `text` names, targets apart from landmarks, each with its side.

    unknown: words that name a nerve the knowledge base does not know ("medial antebrachial cutaneous nerve,
    left") are one unknown target (for body-site text, where any nerve named is the site).
    fuzzy: when no known phrase names a nerve, read the text again with misspellings corrected.
    Sentences are read one by one: neither a side nor a landmark cue reaches into the next one."""
    normal = _normal(text)
    if not _may_name_nerve(normal, kb, unknown, fuzzy):  # most notes: no need to split them into sentences
        return SiteReading((), (), tuple(m.key for m in lexicon(kb).sides.find(normal)))
    parts = [part for part in lexicon(kb).sentence_end.split(text) if part.strip()]
    return read_sentences(parts, kb, unknown=unknown, fuzzy=fuzzy)


def names_nerve(text: str, kb: Knowledge, *, unknown: bool = False, fuzzy: bool = False) -> bool:
    """Whether a text may name a nerve at all: a cheap test before it is read sentence by sentence."""
    return _may_name_nerve(_normal(text), kb, unknown, fuzzy)


def _may_name_nerve(normal: str, kb: Knowledge, unknown: bool, fuzzy: bool) -> bool:
    nerves = lexicon(kb).nerves
    if nerves.find(normal) or (unknown and kb.nerve_words.intersection(normal.split())):
        return True
    corrected = _corrected(normal, kb) if fuzzy else normal
    return corrected != normal and bool(nerves.find(corrected))


def read_sentences(
    sentences: Iterable[str], kb: Knowledge, *, unknown: bool = False, fuzzy: bool = False
) -> SiteReading:
    """The nerves of several sentences of one field (a note), read one by one: a nerve only "identified" is a
    landmark when another sentence of the field names a target."""
    targets: list[NerveMention] = []
    seen: list[NerveMention] = []
    landmarks: list[NerveMention] = []
    sides: list[str] = []
    for sentence in sentences:
        read = _read(sentence, kb, unknown, fuzzy)
        for mention, kind in read[0]:
            {None: targets, "seen": seen, "landmark": landmarks}[kind].append(mention)
        sides.extend(read[1])
    if not targets:
        targets, seen = seen, []
    return SiteReading(_unique(targets), _unique(landmarks + seen), tuple(sides))


def _read(
    text: str, kb: Knowledge, unknown: bool, fuzzy: bool
) -> tuple[list[tuple[NerveMention, str | None]], list[str]]:
    """The nerve mentions of one text, each with its landmark kind (None: a target), and its sides."""
    lex = lexicon(kb)
    normal = _normal(text)
    nerves = _nerves_in(normal, kb)
    if not nerves and fuzzy:
        corrected = _corrected(normal, kb)
        if corrected != normal and (found := _nerves_in(corrected, kb)):
            normal, nerves = corrected, found
    sides = [s for s in lex.sides.find(normal) if not any(n.start < s.end and s.start < n.end for n in nerves)]
    side_keys = [s.key for s in sides]
    if not nerves:
        rest = _without(normal, sides)
        if unknown and kb.nerve_words.intersection(rest.split()):
            return [(NerveMention(None, rest, side_keys[0] if side_keys else None), None)], side_keys
        return [], side_keys
    # A landmark cue reaches the next nerve only over a joining word ("avoiding the peroneal and sural
    # nerves"), not over a bare comma ("medial to the peroneal nerve, tibial nerve injected").
    gaps = [normal[a.end : b.start] for a, b in pairwise(nerves)]
    joined = [_in_list(gap, kb) and bool(set(gap.split()) - kb.nerve_words) for gap in gaps]
    kinds = _landmarks(normal, nerves, joined, kb)
    # Sides go to the other nerves; a side written right next to a landmark is the landmark's.
    landmarks = [n for n, kind in zip(nerves, kinds, strict=True) if kind == "landmark"]
    others = [n for n, kind in zip(nerves, kinds, strict=True) if kind != "landmark"]
    free = [s for s in sides if not any(_next_to(normal, s, n, kb) for n in landmarks)]
    other_linked = [_in_list(normal[a.end : b.start], kb) for a, b in pairwise(others)]
    side_of = dict(zip((n.start for n in others), _sides_of(others, free, other_linked), strict=True)) if others else {}
    mentions = [
        (NerveMention(match.key, normal[match.start : match.end], side_of.get(match.start)), kind)
        for match, kind in zip(nerves, kinds, strict=True)
    ]
    return mentions, side_keys


def _next_to(normal: str, side: Match, nerve: Match, kb: Knowledge) -> bool:
    gap = normal[side.end : nerve.start] if side.end <= nerve.start else normal[nerve.end : side.start]
    return _in_list(gap, kb)


def _normal(text: str) -> str:
    return " ".join(_WORD_SLASH.sub(" / ", normalize(text)).split())


def _nerves_in(normal: str, kb: Knowledge) -> list[Match]:
    """Known nerve phrases, except a bare nerve word that a qualifier turns into another nerve ("posterior
    femoral cutaneous" is not the femoral nerve)."""
    found = []
    for match in lexicon(kb).nerves.find(normal):
        before = normal[: match.start].split()[-1:]
        after = normal[match.end :].split()[:1]
        if not (kb.qualifiers_before.intersection(before) or kb.qualifiers_after.intersection(after)):
            found.append(match)
    return found


def _without(normal: str, matches: list[Match]) -> str:
    for match in reversed(matches):
        normal = normal[: match.start] + normal[match.end :]
    return " ".join(normal.split())


def _in_list(gap: str, kb: Knowledge) -> bool:
    """Whether the words between two nerves only join them into a list ("and", "/", "nerves")."""
    return not _without(gap, lexicon(kb).list_words.find(gap))


def _sides_of(nerves: list[Match], sides: list[Match], linked: list[bool]) -> list[str | None]:
    count = len(nerves)
    bounds = [0, *(n.end for n in nerves)], [*(n.start for n in nerves), 10**9]
    side_first = bool(sides) and sides[0].start < nerves[0].start
    found: list[str | None] = [None] * count
    order = range(count) if side_first else range(count - 1, -1, -1)
    for i in order:
        if side_first:  # the last side between the previous nerve and this one
            window = [s for s in sides if bounds[0][i] <= s.start < nerves[i].start]
            own = window[-1].key if window else None
            neighbour = found[i - 1] if i > 0 and linked[i - 1] else None
        else:  # the first side between this nerve and the next one
            window = [s for s in sides if nerves[i].end <= s.start < bounds[1][i + 1]]
            own = window[0].key if window else None
            neighbour = found[i + 1] if i + 1 < count and linked[i] else None
        found[i] = own or neighbour
    if sides and len({n.key for n in nerves}) == 1:
        found = [side or sides[0].key for side in found]
    return found


def _landmarks(normal: str, nerves: list[Match], linked: list[bool], kb: Knowledge) -> list[str | None]:
    """Per nerve: "landmark", "seen" (only identified or visualized) or None (a target)."""
    cues = lexicon(kb).landmarks.find(normal)
    count = len(nerves)
    before: list[str | None] = [None] * count  # set by a cue written before the nerve
    after: list[str | None] = [None] * count  # set by a cue written after it
    for i, nerve in enumerate(nerves):
        previous_end = nerves[i - 1].end if i else 0
        next_start = nerves[i + 1].start if i + 1 < count else len(normal)
        for cue in cues:
            if cue.key == "before" and previous_end <= cue.start and cue.end <= nerve.start:
                before[i] = "landmark" if len(normal[cue.end : nerve.start].split()) <= _CUE_REACH else before[i]
            elif cue.key != "before" and nerve.end <= cue.start and cue.end <= next_start and after[i] != "landmark":
                close = len(normal[nerve.end : cue.start].split()) <= _CUE_REACH
                after[i] = ("landmark" if cue.key == "after" else "seen") if close else after[i]
    # A cue before a list holds for the list's later nerves; a cue after it, for its earlier ones.
    for i in range(1, count):
        if linked[i - 1] and before[i] is None:
            before[i] = before[i - 1]
    for i in range(count - 2, -1, -1):
        if linked[i] and after[i] is None:
            after[i] = after[i + 1]
    return [b or a for b, a in zip(before, after, strict=True)]


def _unique(mentions: list[NerveMention]) -> tuple[NerveMention, ...]:
    """One nerve written twice ("LFCN (lateral femoral cutaneous nerve)") is one mention; a repeat without a
    side is dropped when the nerve has a side elsewhere in the text."""
    unique = {(m.nerve or m.words, m.side): m for m in reversed(mentions)}
    ordered = sorted(unique.values(), key=mentions.index)
    sided = {m.nerve or m.words for m in ordered if m.side is not None}
    return tuple(m for m in ordered if m.side is not None or (m.nerve or m.words) not in sided)


def _corrected(normal: str, kb: Knowledge) -> str:
    return " ".join(_correction(word, kb) for word in normal.split())


@lru_cache(maxsize=4096)
def _correction(word: str, kb: Knowledge) -> str:
    """The one nerve-name word `word` is a misspelling of, else `word` itself."""
    vocabulary = lexicon(kb).nerve_vocabulary
    if len(word) < FUZZY_MIN_LETTERS or not word.isalpha() or word in vocabulary:
        return word
    candidates = [v for v in vocabulary if v[0] == word[0] and abs(len(v) - len(word)) <= 2]
    scored = [(difflib.SequenceMatcher(None, word, v).ratio(), v) for v in candidates]
    best = max((score for score, _ in scored), default=0.0)
    closest = sorted(v for score, v in scored if score == best)
    # Equally close words of different nerves: no correction ("genicular" and "genicualr" are one nerve's).
    if best < FUZZY_CUTOFF or len({vocabulary[v] for v in closest}) > 1:
        return word
    return closest[0]

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

import bisect
import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from ..knowledge.base import Knowledge
from .findings import MAX_TEXT_CHARS
from .lexicon import Lexicon, lexicon
from .phrases import Match, normalize

FUZZY_CUTOFF = 0.85
FUZZY_MIN_LETTERS = 6
_CUE_REACH = 3  # words allowed between a landmark cue and its nerve ("medial to the left sural nerve")
_WORD = re.compile(r"\S+")
_WORD_CHARS = 40  # no word the base knows is longer: a longer one is never compared with them
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
    text = text[:MAX_TEXT_CHARS]
    normal = _normal(text)
    corrector = _Corrector(kb) if fuzzy else None
    if not _may_name_nerve(normal, kb, unknown, corrector):  # most notes: no need to split them into sentences
        return SiteReading((), (), tuple(m.key for m in lexicon(kb).sides.find(normal)))
    parts = [part for part in lexicon(kb).sentence_end.split(text) if part.strip()]
    return _read_all(parts, kb, unknown, corrector)


def names_nerve(text: str, kb: Knowledge, *, unknown: bool = False, fuzzy: bool = False) -> bool:
    """Whether a text may name a nerve at all: a cheap test before it is read sentence by sentence."""
    return _may_name_nerve(_normal(text[:MAX_TEXT_CHARS]), kb, unknown, _Corrector(kb) if fuzzy else None)


def _may_name_nerve(normal: str, kb: Knowledge, unknown: bool, corrector: _Corrector | None) -> bool:
    nerves = lexicon(kb).nerves
    if nerves.find(normal) or (unknown and kb.nerve_words.intersection(normal.split())):
        return True
    corrected = corrector(normal) if corrector else normal
    return corrected != normal and bool(nerves.find(corrected))


def read_sentences(
    sentences: Iterable[str], kb: Knowledge, *, unknown: bool = False, fuzzy: bool = False
) -> SiteReading:
    """The nerves of several sentences of one field (a note), read one by one: a nerve only "identified" is a
    landmark when another sentence of the field names a target."""
    return _read_all(sentences, kb, unknown, _Corrector(kb) if fuzzy else None)


def _read_all(sentences: Iterable[str], kb: Knowledge, unknown: bool, corrector: _Corrector | None) -> SiteReading:
    targets: list[NerveMention] = []
    seen: list[NerveMention] = []
    landmarks: list[NerveMention] = []
    sides: list[str] = []
    for sentence in sentences:
        read = _read(sentence, kb, unknown, corrector)
        for mention, kind in read[0]:
            {None: targets, "seen": seen, "landmark": landmarks}[kind].append(mention)
        sides.extend(read[1])
    if not targets:
        targets, seen = seen, []
    return SiteReading(_unique(targets), _unique(landmarks + seen), tuple(sides))


def _read(
    text: str, kb: Knowledge, unknown: bool, corrector: _Corrector | None
) -> tuple[list[tuple[NerveMention, str | None]], list[str]]:
    """The nerve mentions of one text, each with its landmark kind (None: a target), and its sides."""
    lex = lexicon(kb)
    normal = _normal(text)
    nerves = _nerves_in(normal, kb)
    if not nerves and corrector:
        corrected = corrector(normal)
        if corrected != normal and (found := _nerves_in(corrected, kb)):
            normal, nerves = corrected, found
    sides = _apart(lex.sides.find(normal), nerves)
    side_keys = [s.key for s in sides]
    if not nerves:
        rest = _without(normal, sides)
        if unknown and kb.nerve_words.intersection(rest.split()):
            return [(NerveMention(None, rest, side_keys[0] if side_keys else None), None)], side_keys
        return [], side_keys
    # A landmark cue reaches the next nerve only over a joining word ("avoiding the peroneal and sural
    # nerves"), not over a bare comma ("medial to the peroneal nerve, tibial nerve injected").
    gaps = [normal[a.end : b.start] for a, b in pairwise(nerves)]
    in_list = _InList(kb)
    joined = [in_list(gap) and bool(set(gap.split()) - kb.nerve_words) for gap in gaps]
    kinds = _landmarks(normal, nerves, joined, kb)
    # Sides go to the other nerves; a side written right next to a landmark is the landmark's.
    others = [n for n, kind in zip(nerves, kinds, strict=True) if kind != "landmark"]
    free = _free_sides(normal, sides, nerves, kinds, in_list)
    other_linked = [in_list(normal[a.end : b.start]) for a, b in pairwise(others)]
    side_of = dict(zip((n.start for n in others), _sides_of(others, free, other_linked), strict=True)) if others else {}
    mentions = [
        (NerveMention(match.key, normal[match.start : match.end], side_of.get(match.start)), kind)
        for match, kind in zip(nerves, kinds, strict=True)
    ]
    return mentions, side_keys


def _apart(sides: list[Match], nerves: list[Match]) -> list[Match]:
    """The sides that are not part of a nerve's name; both lists in text order, read once side by side."""
    kept, n = [], 0
    for side in sides:
        while n < len(nerves) and nerves[n].end <= side.start:
            n += 1
        if n == len(nerves) or side.end <= nerves[n].start:
            kept.append(side)
    return kept


def _free_sides(
    normal: str, sides: list[Match], nerves: list[Match], kinds: list[str | None], in_list: _InList
) -> list[Match]:
    """The sides not written right next to a landmark nerve (joined to it only by list words). Only a side's
    neighbours in text order can be: anything between a side and a nerve (another side, another nerve) is more
    than list words. So each gap is read once, however many sides and nerves a text writes."""
    # (start, 0 side | 1 landmark | 2 another nerve, match); sides and nerves never overlap (_apart)
    items = sorted(
        [(s.start, 0, s) for s in sides]
        + [(n.start, 1 if kind == "landmark" else 2, n) for n, kind in zip(nerves, kinds, strict=True)],
        key=lambda item: item[0],
    )
    free = []
    for index, (_, kind, side) in enumerate(items):
        if kind != 0:
            continue
        before = items[index - 1] if index else None
        after = items[index + 1] if index + 1 < len(items) else None
        if before is not None and before[1] == 1 and in_list(normal[before[2].end : side.start]):
            continue
        if after is not None and after[1] == 1 and in_list(normal[side.end : after[2].start]):
            continue
        free.append(side)
    return free


def _normal(text: str) -> str:
    return " ".join(_WORD_SLASH.sub(" / ", normalize(text)).split())


def _nerves_in(normal: str, kb: Knowledge) -> list[Match]:
    """Known nerve phrases, except a bare nerve word that a qualifier turns into another nerve ("posterior
    femoral cutaneous" is not the femoral nerve)."""
    matches = lexicon(kb).nerves.find(normal)
    if not matches:
        return []
    words = _Words(normal)
    return [
        m
        for m in matches
        if words.before(m.start) not in kb.qualifiers_before and words.after(m.end) not in kb.qualifiers_after
    ]


class _Words:
    """Where the words of a normalised text start and end: the words next to a position, and how many words a
    stretch holds, without reading the text again for every nerve of a long note."""

    def __init__(self, normal: str):
        self.normal = normal
        spans = [m.span() for m in _WORD.finditer(normal)]
        self.starts = [start for start, _ in spans]
        self.ends = [end for _, end in spans]

    def before(self, position: int) -> str:
        """The last word of normal[:position] (cut at position); "" when none, or too long to be a word."""
        i = bisect.bisect_left(self.starts, position) - 1
        return self._word(self.starts[i], min(self.ends[i], position)) if i >= 0 else ""

    def after(self, position: int) -> str:
        """The first word of normal[position:] (cut at position); "" when none, or too long to be a word."""
        i = bisect.bisect_right(self.ends, position)
        return self._word(max(self.starts[i], position), self.ends[i]) if i < len(self.starts) else ""

    def count(self, start: int, end: int) -> int:
        """len(normal[start:end].split())"""
        if end <= start:
            return 0
        return bisect.bisect_left(self.starts, end) - bisect.bisect_right(self.ends, start)

    def _word(self, start: int, end: int) -> str:
        return self.normal[start:end] if end - start <= _WORD_CHARS else ""


def _without(normal: str, matches: list[Match]) -> str:
    """The text without the matches (in text order, not overlapping)."""
    kept, position = [], 0
    for match in matches:
        kept.append(normal[position : match.start])
        position = match.end
    kept.append(normal[position:])
    return " ".join(" ".join(kept).split())


class _InList:
    """Whether the words between two nerves only join them into a list ("and", "/", "nerves"). A long text
    writes the same few gaps again and again: each is read once per text."""

    def __init__(self, kb: Knowledge):
        self._words = lexicon(kb).list_words
        self._known: dict[str, bool] = {}

    def __call__(self, gap: str) -> bool:
        known = self._known.get(gap)
        if known is None:
            known = self._known[gap] = not gap.strip() or not _without(gap, self._words.find(gap))
        return known


def _sides_of(nerves: list[Match], sides: list[Match], linked: list[bool]) -> list[str | None]:
    count = len(nerves)
    bounds = [0, *(n.end for n in nerves)], [*(n.start for n in nerves), 10**9]
    side_first = bool(sides) and sides[0].start < nerves[0].start
    found: list[str | None] = [None] * count
    order = range(count) if side_first else range(count - 1, -1, -1)
    starts = [s.start for s in sides]  # in text order: the side of a window is found by bisection
    for i in order:
        if side_first:  # the last side between the previous nerve and this one
            last = bisect.bisect_left(starts, nerves[i].start) - 1
            own = sides[last].key if last >= 0 and starts[last] >= bounds[0][i] else None
            neighbour = found[i - 1] if i > 0 and linked[i - 1] else None
        else:  # the first side between this nerve and the next one
            first = bisect.bisect_left(starts, nerves[i].end)
            own = sides[first].key if first < len(starts) and starts[first] < bounds[1][i + 1] else None
            neighbour = found[i + 1] if i + 1 < count and linked[i] else None
        found[i] = own or neighbour
    if sides and len({n.key for n in nerves}) == 1:
        found = [side or sides[0].key for side in found]
    return found


def _landmarks(normal: str, nerves: list[Match], linked: list[bool], kb: Knowledge) -> list[str | None]:
    """Per nerve: "landmark", "seen" (only identified or visualized) or None (a target)."""
    count = len(nerves)
    before: list[str | None] = [None] * count  # set by a cue written before the nerve
    after: list[str | None] = [None] * count  # set by a cue written after it
    cues = lexicon(kb).landmarks.find(normal)
    words = _Words(normal)
    starts = [n.start for n in nerves]
    for cue in cues:
        # A cue between two nerves (or before the first, after the last) is looked at by those two only.
        i = bisect.bisect_left(starts, cue.end)  # the first nerve after the cue
        if i and nerves[i - 1].end > cue.start:
            continue  # the cue overlaps a nerve's name
        if cue.key == "before" and i < count and words.count(cue.end, nerves[i].start) <= _CUE_REACH:
            before[i] = "landmark"
        elif cue.key != "before" and i and words.count(nerves[i - 1].end, cue.start) <= _CUE_REACH:
            # "as a landmark" says more than "identified", whichever is written first
            after[i - 1] = "landmark" if cue.key == "after" else after[i - 1] or "seen"
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
    unique: dict[tuple[str, str | None], NerveMention] = {}
    for mention in mentions:
        unique.setdefault((mention.nerve or mention.words, mention.side), mention)  # the first, in text order
    ordered = list(unique.values())
    sided = {m.nerve or m.words for m in ordered if m.side is not None}
    return tuple(m for m in ordered if m.side is not None or (m.nerve or m.words) not in sided)


class _Corrector:
    """Misspelt nerve-name words corrected: the knowledge base's own words from the per-process table, any other
    word worked out once per text and kept no longer (patient words are never cached across calls)."""

    def __init__(self, kb: Knowledge):
        self._lexicon = lexicon(kb)
        self._kb_words = known_word_corrections(self._lexicon)
        self._known: dict[str, str] = {}

    def __call__(self, normal: str) -> str:
        return " ".join(self._correction(word) for word in normal.split())

    def _correction(self, word: str) -> str:
        known = self._kb_words.get(word) or self._known.get(word)
        if known is None:
            known = self._known[word] = _correction(word, self._lexicon)
        return known


@cache
def known_word_corrections(lex: Lexicon) -> Mapping[str, str]:
    """`_correction` of every word of the knowledge base's phrases, worked out once per process (the worker's
    warm-up): an order's own words ("chemical", "aqueous", "phenol", "ultrasound", "guided") are mostly these.
    Knowledge, not patient words."""
    indexes = (
        *(lex.agents, lex.modalities, lex.neurolysis, lex.guidance, lex.guidance_orders, lex.other_services),
        *(lex.confirmation, lex.conservative, lex.indications, lex.landmarks, lex.list_words, lex.sides),
    )
    words = {word for index in indexes for phrase in index.phrases for word in phrase.split()}
    return {word: _correction(word, lex) for word in sorted(words)}


def _correction(word: str, lex: Lexicon) -> str:
    """The one nerve-name word `word` is a misspelling of, else `word` itself."""
    vocabulary = lex.nerve_vocabulary
    if len(word) < FUZZY_MIN_LETTERS or not word.isalpha() or word in vocabulary:
        return word
    letters = Counter(word).items()
    scored = []
    for v, v_letters in lex.nerve_vocabulary_by_initial.get(word[0], ()):
        if abs(len(v) - len(word)) > 2:
            continue
        # difflib's quick_ratio() from the letters the two words share: it bounds ratio() from above, so a
        # word it rules out could never be the closest one (and most are, without building a matcher).
        shared = sum([min(count, v_letters.get(letter, 0)) for letter, count in letters])
        if 2.0 * shared / (len(word) + len(v)) >= FUZZY_CUTOFF:
            scored.append((difflib.SequenceMatcher(None, word, v).ratio(), v))
    best = max((score for score, _ in scored), default=0.0)
    closest = sorted(v for score, v in scored if score == best)
    # Equally close words of different nerves: no correction ("genicular" and "genicualr" are one nerve's).
    if best < FUZZY_CUTOFF or len({vocabulary[v] for v in closest}) > 1:
        return word
    return closest[0]

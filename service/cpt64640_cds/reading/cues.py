"""The assertion data (knowledge/data/assertion.json) compiled once per knowledge base: every trigger,
pseudo-trigger and terminator in one regular expression over a normalised sentence, and the section headings
as a pattern over raw lines. reading/context.py decides statuses with them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from ..knowledge.assertion import AssertionFile, Cued, Direction, Status
from .phrases import normalize, trie

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Action:
    """What one trigger does: give `status` to mentions within `max_words` in its direction."""

    status: Cued
    direction: Direction
    max_words: int


@dataclass(frozen=True)
class Cue:
    start: int
    end: int
    actions: tuple[Action, ...]  # empty for a pseudo-trigger or a bare terminator
    ends: frozenset[Cued]  # statuses whose scope this cue ends


@dataclass(frozen=True)
class Cues:
    """The cues of one sentence in order (they never overlap, so starts and ends are both sorted), and where its
    words start, so that the words between a cue and a mention are counted without reading them again."""

    items: tuple[Cue, ...]
    starts: tuple[int, ...]
    words: tuple[int, ...]  # where each word (or clause break "|") starts
    breaks: tuple[int, ...]  # breaks[k]: clause breaks among the first k words

    def between(self, start: int, end: int) -> tuple[int, int]:
        """Words and clause breaks in [start, end) of the sentence."""
        first, last = bisect.bisect_left(self.words, start), bisect.bisect_left(self.words, end)
        breaks = self.breaks[last] - self.breaks[first]
        return last - first - breaks, breaks


@dataclass(frozen=True)
class _Meaning:
    actions: tuple[Action, ...] = ()
    ends: frozenset[Cued] = frozenset()

    def __or__(self, other: _Meaning) -> _Meaning:
        return _Meaning(self.actions + other.actions, self.ends | other.ends)


class CueIndex:
    """Phrases longest first after the regular expressions, so that "prior to" (pseudo) wins over "prior"."""

    def __init__(self, data: AssertionFile):
        phrases: dict[str, _Meaning] = {}
        patterns: list[tuple[str, _Meaning]] = []

        def add(phrase: str, meaning: _Meaning) -> None:
            normal = normalize(phrase)
            if normal:
                phrases[normal] = phrases.get(normal, _Meaning()) | meaning

        for group in data.triggers:
            meaning = _Meaning((Action(group.status, group.direction, group.max_words or data.max_words),))
            for word in group.words:
                add(word, meaning)
            patterns += [(pattern, meaning) for pattern in group.patterns]
        for terminators in data.terminators:
            for word in terminators.words:
                add(word, _Meaning(ends=terminators.statuses))
        # A pseudo-trigger is exactly that phrase and nothing else, even where a trigger group lists it too.
        for word in data.pseudo_triggers.words:
            phrases[normalize(word)] = _Meaning()
        self._phrases = phrases
        self.max_words = max(group.max_words or data.max_words for group in data.triggers)  # the farthest reach
        self._patterns = [meaning for _, meaning in patterns]
        alternatives = [f"(?P<p{i}>{pattern})" for i, (pattern, _) in enumerate(patterns)]
        alternatives.append(f"(?P<phrase>{trie(phrases)})(?![a-z0-9/])")
        # Every cue starts a word: the guard fails fast inside words, before any alternative is tried.
        self._pattern = re.compile(r"(?<![a-z0-9/])(?:" + "|".join(alternatives) + ")")

    def find(self, normal: str) -> Cues:
        cues = []
        for match in self._pattern.finditer(normal):
            phrase = match.group("phrase")
            if phrase is not None:
                meaning = self._phrases[phrase]
            else:
                meaning = self._patterns[int(match.lastgroup[1:])] if match.lastgroup else _Meaning()
            cues.append(Cue(match.start(), match.end(), meaning.actions, meaning.ends))
        words, breaks, count = [], [0], 0
        for word in _WORD.finditer(normal):
            words.append(word.start())
            count += word.group() == "|"
            breaks.append(count)
        return Cues(tuple(cues), tuple(c.start for c in cues), tuple(words), tuple(breaks))


class Headings:
    """A section heading at the start of a line ("PMH:", "Plan" alone on its line) or of a sentence ("Plan:")."""

    def __init__(self, data: AssertionFile):
        self._status: dict[str, Status] = {}
        for group in data.sections:
            for heading in group.headings:
                self._status[self._key(heading)] = group.status
        words = sorted(self._status, key=len, reverse=True)
        alternatives = "|".join(re.escape(w).replace(r"\ ", r"[ \t]+") for w in words)
        # Bullets and numbering may come before a heading; a heading ends with a colon, or with the line.
        # Possessive: headings start with a letter, so a bullet or a blank is never given back to one (trying
        # every heading after each of a million blanks took seconds).
        self._line = re.compile(rf"^[ \t\-*#>•]*+({alternatives})[ \t]*(?::|$)", re.IGNORECASE)
        self._sentence = re.compile(rf"^[ \t]*+({alternatives})[ \t]*:", re.IGNORECASE)

    @staticmethod
    def _key(heading: str) -> str:
        return " ".join(heading.lower().split())

    def at_line_start(self, line: str) -> tuple[Status, int] | None:
        """The heading's status and where the text after it starts."""
        return self._found(self._line.match(line))

    def at_sentence_start(self, sentence: str) -> tuple[Status, int] | None:
        return self._found(self._sentence.match(sentence))

    def _found(self, match: re.Match[str] | None) -> tuple[Status, int] | None:
        if match is None:
            return None
        return self._status[self._key(match.group(1))], match.end()

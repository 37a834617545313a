"""Normalising clinical free text and finding knowledge-base phrases in it.

Clinicians write "L LFCN", "lat. fem. cutaneous n.", "Rt tib nerve": text is lower-cased, abbreviations of
"nerve" are expanded, punctuation becomes space, and phrases match on word boundaries, longest first, so that
"lateral femoral cutaneous nerve" wins over "femoral".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_NERVE_ABBREVIATIONS = [
    (re.compile(r"\bnn\.?(?=\s|$|[,;:)])"), " nerves "),
    (re.compile(r"\bn\.(?=\s|$|[,;:)])"), " nerve "),
    (re.compile(r"\bn(?=\s*$)"), " nerve "),
    (re.compile(r"\bnerv\b"), " nerve "),
    (re.compile(r"\bbr\.?(?=\s)"), " branch "),
]
# Every abbreviation above is one of these words: most texts have none, and skip the five patterns.
_MAY_ABBREVIATE = re.compile(r"\b(?:nn?|nerv|br)\b")
_KEEP = re.compile(r"[^a-z0-9/%.' ]+")
_LONE_DOT = re.compile(r"(?<![0-9])\.|\.(?![0-9])")


def normalize(text: str) -> str:
    out = " " + text.lower().replace("\u2019", "'") + " "
    if _MAY_ABBREVIATE.search(out):
        for pattern, replacement in _NERVE_ABBREVIATIONS:
            out = pattern.sub(replacement, out)
    out = _KEEP.sub(" ", out)
    # Dots and apostrophes only matter inside numbers ("0.5") and the patterns above.
    if "." in out:
        out = _LONE_DOT.sub(" ", out)
    if "'" in out:
        out = out.replace("'s ", " ").replace("'", "")
    return " ".join(out.split())


def trie(phrases: Iterable[str]) -> str:
    """One regular expression for many phrases, sharing prefixes ("not injected|not done" → "not (?:injected|done)"),
    so matching costs the length of the text, not the number of phrases. Longer phrases are tried first."""
    root: dict[str, Any] = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}  # a phrase ends here

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if "" in node:  # the phrase may end here, or go on (greedy: longer first, then shorter)
            # ...but a shorter phrase must itself end at a word boundary, checked by the caller's lookahead;
            # a failed longer branch backtracks to it.
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(root)


@dataclass(frozen=True)
class Match:
    key: str  # what the phrase stands for (a nerve id, a side, ...)
    start: int
    end: int


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Any of the phrases, a whole word or words: not inside a word, a number or a slashed pair ("b/l")."""
    return re.compile(r"(?<![a-z0-9/])(" + trie(phrases) + r")(?![a-z0-9/])")


class PhraseIndex:
    """Phrase → key lookup over normalised text, longest phrase first, non-overlapping."""

    def __init__(self, phrases: Iterable[tuple[str, str]]):
        by_phrase: dict[str, str] = {}
        for phrase, key in phrases:
            normal = normalize(phrase)
            if normal:
                by_phrase.setdefault(normal, key)
        self._keys = by_phrase
        self._pattern = _phrase_pattern(by_phrase) if by_phrase else None

    @property
    def phrases(self) -> Iterable[str]:
        """Its phrases, normalised."""
        return self._keys.keys()

    def find(self, normalized_text: str) -> list[Match]:
        if self._pattern is None:
            return []
        return [Match(self._keys[m.group(1)], m.start(), m.end()) for m in self._pattern.finditer(normalized_text)]


class AnyPhrase:
    """Whether a text holds any phrase of several indexes, in one scan. Exactly when one of the indexes would
    find something: at the place where it would, this pattern's alternatives include that phrase (the regular
    expression backtracks through all of them)."""

    def __init__(self, indexes: Iterable[PhraseIndex]):
        phrases = {phrase for index in indexes for phrase in index.phrases}
        self._pattern = _phrase_pattern(phrases) if phrases else None

    def found_in(self, normalized_text: str) -> bool:
        return self._pattern is not None and self._pattern.search(normalized_text) is not None

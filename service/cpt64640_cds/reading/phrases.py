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
_KEEP = re.compile(r"[^a-z0-9/%.' ]+")


def normalize(text: str) -> str:
    out = " " + text.lower().replace("\u2019", "'") + " "
    for pattern, replacement in _NERVE_ABBREVIATIONS:
        out = pattern.sub(replacement, out)
    out = _KEEP.sub(" ", out)
    # Dots and apostrophes only matter inside numbers ("0.5") and the patterns above.
    out = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", out)
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


class PhraseIndex:
    """Phrase → key lookup over normalised text, longest phrase first, non-overlapping."""

    def __init__(self, phrases: Iterable[tuple[str, str]]):
        by_phrase: dict[str, str] = {}
        for phrase, key in phrases:
            normal = normalize(phrase)
            if normal:
                by_phrase.setdefault(normal, key)
        self._keys = by_phrase
        self._pattern = re.compile(r"(?<![a-z0-9/])(" + trie(by_phrase) + r")(?![a-z0-9/])") if by_phrase else None

    def find(self, normalized_text: str) -> list[Match]:
        if self._pattern is None:
            return []
        return [Match(self._keys[m.group(1)], m.start(), m.end()) for m in self._pattern.finditer(normalized_text)]

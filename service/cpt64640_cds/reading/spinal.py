"""Spinal levels as clinicians write them: "L4-5" and "L5-S1" are joints, "L3-L5" spans two joints,
"T7, T9" lists two levels, region words ("lumbosacral") name regions. The segments (letters, regions,
how many levels each has) are the knowledge base's."""

from __future__ import annotations

import re

from ..knowledge.words import Spine
from .findings import TextFindings

MAX_JOINTS = 30  # a range longer than the spine is a typo, not a procedure


class SpineReader:
    def __init__(self, spine: Spine):
        letters = "".join(s.letter for s in spine.segments)
        self._order = letters
        self._region = {s.letter: s.region for s in spine.segments}
        self._size = {s.letter: s.levels for s in spine.segments}
        self._words = [(re.compile(rf"\b{re.escape(word)}\b"), region) for word, region in spine.region_words.items()]
        # Whether any region word is written at all: one scan of a sentence instead of one per word.
        words = "|".join(map(re.escape, spine.region_words)) or "(?!)"
        self._any_word = re.compile(rf"\b(?:{words})\b")
        # A level, optionally followed by the end of a range; a bare number after it that is a dose is not one.
        self._level = re.compile(
            rf"(?<![a-z0-9])([{letters}])(\d{{1,2}})"
            rf"(?:\s?(?:/|\s|to|through|thru)\s?(?:([{letters}])(\d{{1,2}})|(\d{{1,2}})(?!\s?(?:ml|mls|cc|mg|%|mcg|units))))?"
            r"(?![a-z0-9%])"
        )

    def _index(self, letter: str, number: int) -> int:
        return self._order.index(letter) * 100 + number

    def _next(self, letter: str, number: int) -> tuple[str, int]:
        if number < self._size[letter] or letter == self._order[-1]:
            return letter, number + 1
        return self._order[self._order.index(letter) + 1], 1

    def read(self, normal: str, found: TextFindings) -> None:
        if self._any_word.search(normal):
            found.spinal_regions.update(region for pattern, region in self._words if pattern.search(normal))
        for m in self._level.finditer(normal):
            letter, number = m.group(1), int(m.group(2))
            if number == 0 or number > self._size[letter]:
                continue
            found.spinal_regions.add(self._region[letter])
            end = m.group(4) or m.group(5)
            if end is None:
                found.levels.add(f"{letter}{number}")
                continue
            end_letter, end_number = (m.group(3) or letter), int(end)
            if end_number == 0 or end_number > self._size[end_letter]:
                continue
            found.spinal_regions.add(self._region[end_letter])
            if self._index(end_letter, end_number) <= self._index(letter, number):
                # "T7, T9" lists two levels; "T7 2" is a level followed by an unrelated number.
                found.levels |= {f"{letter}{number}"} | ({f"{end_letter}{end_number}"} if m.group(3) else set())
                continue
            current = (letter, number)
            while self._index(*current) < self._index(end_letter, end_number):
                following = self._next(*current)
                found.joints.add((f"{current[0]}{current[1]}", f"{following[0]}{following[1]}"))
                current = following
                if len(found.joints) > MAX_JOINTS:
                    break

"""What kind of radiofrequency a sentence describes: pulsed (not destructive) or thermal, from its words
("pulsed", "continuous", "lesioning") and its tip temperature ("42 °C", "80 degrees"). The facts stage asks only
when the sentence names radiofrequency without saying which."""

from __future__ import annotations

import re
from functools import cache

from ..knowledge.base import Knowledge
from .phrases import PhraseIndex


class RadiofrequencyReader:
    def __init__(self, kb: Knowledge):
        rf = kb.radiofrequency
        self._words = PhraseIndex(
            [(w, "pulsed-rf") for w in rf.pulsed_words] + [(w, "thermal") for w in rf.thermal_words]
        )
        units = "|".join(re.escape(u) for u in sorted(rf.temperature_units, key=len, reverse=True))
        # The normaliser drops "°": "42 °C" reads "42 c", "80°C" reads "80 c".
        self._temperature = re.compile(rf"(?<![0-9.])(\d{{2,3}})\s?(?:{units})(?![a-z])")
        self._pulsed_max = rf.pulsed_max_celsius
        self._thermal_min = rf.thermal_min_celsius

    def kinds(self, normal: str) -> set[str]:
        """thermal and/or pulsed-rf, as far as the words and temperatures of one normalised sentence say."""
        found = {m.key for m in self._words.find(normal)}
        for match in self._temperature.finditer(normal):
            celsius = int(match.group(1))
            if celsius <= self._pulsed_max:
                found.add("pulsed-rf")
            elif celsius >= self._thermal_min:
                found.add("thermal")
        return found


@cache
def radiofrequency_reader(kb: Knowledge) -> RadiofrequencyReader:
    return RadiofrequencyReader(kb)

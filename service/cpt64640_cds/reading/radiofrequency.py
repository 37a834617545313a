"""What kind of radiofrequency a text describes: pulsed (not destructive) or thermal, from its words ("pulsed",
"continuous", "lesioning") and its tip temperatures ("42 °C", "80 degrees"), read in every sentence of a text
that names radiofrequency ("Radiofrequency of the L LFCN. Pulsed mode, 42 °C."). The facts stage decides:
temperatures first, then words, and it asks when neither says."""

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

    def words(self, normal: str) -> set[str]:
        """thermal and/or pulsed-rf, as the words of one normalised sentence say ("pulsed", "lesioning")."""
        return {m.key for m in self._words.find(normal)}

    def temperatures(self, normal: str) -> set[str]:
        """thermal and/or pulsed-rf, as the tip temperatures written say (between the two: neither)."""
        found = set()
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

"""The modifier policy: which modifiers each proposed billing line carries (docs/cards.md, "Modifiers").

Default, from the seed: one line per distinct nerve per side; RT or LT on every line of a sided nerve;
among lines with the same code and the same laterality modifier on one date, every line after the first
carries 59 (or XS when configured); left and right of one nerve are two lines, RT and LT, without 59.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from .findings import Line

LATERALITY = {"right": "RT", "left": "LT"}


@dataclass(frozen=True)
class ModifierPolicy:
    distinct_modifier: str = "59"


def apply(lines: list[Line], policy: ModifierPolicy) -> list[Line]:
    """Lines in the order given (the order of the source resources), each with its modifiers."""
    seen: Counter[tuple[object, str, str | None]] = Counter()
    out = []
    for line in lines:
        laterality = LATERALITY.get(line.side or "")
        key = (line.date, line.code, laterality)
        modifiers = [laterality] if laterality else []
        if seen[key]:
            modifiers.append(policy.distinct_modifier)
        seen[key] += 1
        out.append(replace(line, modifiers=tuple(modifiers)))
    return out

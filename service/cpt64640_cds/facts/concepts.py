"""A record repeats a few concepts many times (a 1,000-resource Synthea history: 361 conditions of 28 concepts,
406 procedures of 17, 168 medication requests of 20): what a concept says is worked out once per distinct
concept in a call (`PerConcept`), keyed by all that is read of it. The keys hold patient words: they live in
the call's own `PerConcept`, never beyond it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


def concept_key(concept: Any) -> tuple[Any, ...]:
    """All the facts read of a CodeableConcept: its text, and each coding's system, code and display."""
    return (concept.text, *[(c.system, c.code, c.display) for c in concept.coding or ()])


class PerConcept(Generic[_T]):
    """`compute(concept)`, once per distinct concept; what it gives is shared, so callers never change it."""

    def __init__(self, compute: Callable[[Any], _T]):
        self._compute = compute
        self._seen: dict[tuple[Any, ...], _T] = {}

    def __call__(self, concept: Any) -> _T:
        key = concept_key(concept)
        try:
            return self._seen[key]
        except KeyError:
            found = self._seen[key] = self._compute(concept)
            return found

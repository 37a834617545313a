"""Agreement for the sentences cards put nerve names and counts into ("the genicular nerves have their own
code", "1 line", "2 lines"). Nerve names come from the knowledge base or the record, so the number is read off
the name's head noun rather than stored beside it."""

from __future__ import annotations

import re

# Head nouns that make a target plural; anything else (nerve, plexus, division, free text) reads as one.
PLURAL_HEADS = frozenset({"nerves", "branches", "plexuses", "divisions", "muscles", "rami"})


def is_plural(name: str) -> bool:
    """Whether a nerve or target name is plural; words in parentheses are a gloss and do not count."""
    words = re.sub(r"\([^)]*\)", " ", name).lower().split()
    return any(word.strip(",;") in PLURAL_HEADS for word in words)


def agree(name: str, singular: str, plural: str) -> str:
    """The word that agrees with `name`: agree("genicular nerves", "has", "have") == "have"."""
    return plural if is_plural(name) else singular


def count(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 line", "2 lines", "3 branches" (plural given when not noun + s)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def listing(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

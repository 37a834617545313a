"""Assertion status of a text mention (the ConText algorithm's data): trigger phrases with a status, a direction
and a scope; pseudo-triggers; terminators; the section headings of a note; the priority between statuses.

The reader is reading/context.py; this file only declares what data/assertion.json may say.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .fields import Entry, Sources, Text, WordList, unique, valid_regex

# What a mention asserts: done or ordered now (present), or not (negated), before (historical), only
# considered, planned or conditional (hypothetical), of someone else (family), or in doubt (uncertain).
Status = Literal["present", "negated", "historical", "hypothetical", "family", "uncertain"]
Cued = Literal["negated", "historical", "hypothetical", "family", "uncertain"]  # what a trigger can say
Direction = Literal["forward", "backward", "both"]
STATUSES: tuple[Status, ...] = ("present", "negated", "historical", "hypothetical", "family", "uncertain")

Phrases = Annotated[tuple[Text, ...], AfterValidator(unique)]
Pattern = Annotated[str, Field(min_length=1), AfterValidator(valid_regex)]


class TriggerGroup(Entry):
    """Phrases (and regular expressions over normalised text) that give the mentions in their scope a status."""

    status: Cued
    direction: Direction = Field(description="forward: what follows; backward: what precedes; both.")
    max_words: Annotated[int, Field(ge=1, le=40)] | None = Field(
        None, description="Words between trigger and mention at most; the file's maxWords when absent."
    )
    words: Phrases = ()
    patterns: tuple[Pattern, ...] = Field((), description="Regular expressions over the normalised sentence.")
    source: Sources

    @model_validator(mode="after")
    def _says_something(self) -> TriggerGroup:
        if not self.words and not self.patterns:
            raise ValueError("a trigger group needs words or patterns")
        return self


class Terminators(Entry):
    """Words that end the scope of the triggers of the listed statuses ("but", "today")."""

    statuses: Annotated[frozenset[Cued], Field(min_length=1)]
    words: Annotated[tuple[Text, ...], Field(min_length=1), AfterValidator(unique)]
    source: Sources


class SectionGroup(Entry):
    """Headings of a note ("Past medical history:", "Plan:") and the status of what their section holds."""

    status: Status
    headings: Annotated[tuple[Text, ...], Field(min_length=1), AfterValidator(unique)]
    source: Sources


class AssertionFile(Entry):
    priority: tuple[Cued, ...] = Field(
        description="When several statuses reach one mention, the first listed wins; present only when none does."
    )
    max_words: Annotated[int, Field(ge=1, le=40)] = Field(description="Default scope of a trigger, in words.")
    clause_break_ends: frozenset[Cued] = Field(
        description="Statuses whose scope a clause break (comma, colon, bracket) ends."
    )
    triggers: Annotated[tuple[TriggerGroup, ...], Field(min_length=1)]
    pseudo_triggers: WordList = Field(description="Phrases that contain a trigger but are none ('prior to').")
    terminators: Annotated[tuple[Terminators, ...], Field(min_length=1)]
    present_anchors: WordList = Field(
        description="A sentence with one of these ('today') is read as present despite its section heading."
    )
    sections: Annotated[tuple[SectionGroup, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _every_status_once(self) -> AssertionFile:
        if sorted(self.priority) != sorted(s for s in STATUSES if s != "present"):
            raise ValueError("priority lists every status but present exactly once")
        headings = [h.lower() for group in self.sections for h in group.headings]
        unique(tuple(headings))
        return self

"""Findings: what a rule concluded, before it is rendered as a card.

A finding is plain data — rule id, indicator, words, evidence, and the options the clinician or coder can
take (billing lines to create, orders to recode, orders to delete). `cards.py` turns it into CDS Hooks JSON.
Rules build findings and never touch card JSON, so the card contract lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .facts import Evidence, Indication


@dataclass(frozen=True)
class Line:
    """One proposed billing line (rendered as a FHIR ChargeItem)."""

    code: str
    modifiers: tuple[str, ...]
    units: int
    nerve_id: str | None
    nerve_name: str
    side: str | None  # left | right | None
    date: date
    encounter: str | None
    services: tuple[str, ...]  # ServiceRequest/Procedure references the line bills for
    reasons: tuple[Indication, ...]
    performed: bool  # True for a completed Procedure (billable), False for an order (planned)

    @property
    def label(self) -> str:
        return "-".join((self.code, *self.modifiers))

    @property
    def site(self) -> str:
        return f"{self.nerve_name}, {self.side}" if self.side else self.nerve_name


@dataclass(frozen=True)
class OrderUpdate:
    """Recode a draft ServiceRequest: add the CPT code, remove the wrong ones."""

    reference: str  # ServiceRequest/id
    code: str
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModifierUpdate:
    """Add a modifier to an existing billing line (a ChargeItem the EHR already holds)."""

    reference: str  # ChargeItem/id
    modifier: str


@dataclass(frozen=True)
class Option:
    """One thing to do about a finding (a CDS Hooks suggestion)."""

    label: str
    lines: tuple[Line, ...] = ()
    updates: tuple[OrderUpdate, ...] = ()
    modifier_updates: tuple[ModifierUpdate, ...] = ()
    deletes: tuple[str, ...] = ()  # Type/id of draft orders to remove
    recommended: bool = True


@dataclass(frozen=True)
class Finding:
    rule_id: str
    indicator: str  # info | warning | critical
    summary: str  # < 140 characters
    detail: str  # Markdown: why, in the reader's words (the card adds rule, version and evidence)
    evidence: tuple[Evidence, ...]
    options: tuple[Option, ...] = field(default_factory=tuple)
    missing: tuple[str, ...] = ()  # what the record lacks, for documentation cards (labels, in order)

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(line for option in self.options for line in option.lines)

"""Findings: what a rule concluded, before it is rendered as a card.

A finding is plain data — rule id, indicator, words, evidence, and the options the clinician or coder can
take (billing lines to create, orders to recode, orders to delete). The cards stage turns it into CDS Hooks
JSON.
Rules build findings and never touch card JSON, so the card contract lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..coding.lines import Line
from ..facts.model import BilledLine, Evidence


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
    # A review after the fact: the documented line a finding is about, and what was billed for it.
    documented: tuple[Line, ...] = ()
    billed: tuple[BilledLine, ...] = ()

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(line for option in self.options for line in option.lines)

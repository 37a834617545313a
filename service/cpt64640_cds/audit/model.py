"""What an audit produces: one row per finding, the lines it could not read, and the run's totals. Both engines
produce exactly these, so their outputs can be compared row for row."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class FindingRow:
    """One finding of one encounter's review, flat for Parquet and CSV. Lists are joined with spaces
    (modifiers "LT 59", evidence "Procedure/p1 ChargeItem/c2"); None where a finding has no such part."""

    patient_id: str
    encounter_id: str
    date_of_service: str | None  # YYYY-MM-DD
    rule_id: str
    indicator: str  # info | warning | critical
    proposed_code: str | None
    proposed_modifiers: str | None
    proposed_units: int | None
    nerve: str | None
    side: str | None
    billed_code: str | None  # what was billed for it (ChargeItem or Claim item), or None: nothing billed
    billed_modifiers: str | None
    billed_units: int | None
    evidence: str
    rule_set_version: str


COLUMNS: tuple[str, ...] = tuple(FindingRow.__dataclass_fields__)


@dataclass(frozen=True)
class MalformedLine:
    """An NDJSON line that is not one FHIR resource: skipped and counted, the rest of its file read."""

    file: str  # as named in the export (relative to it)
    line: int  # 1-based
    problem: str  # what is wrong, never the line's content


@dataclass
class Totals:
    """What run.json reports besides the engine and time."""

    resources_by_type: dict[str, int] = field(default_factory=dict)
    patients: int = 0
    encounters_reviewed: int = 0
    malformed: list[MalformedLine] = field(default_factory=list)


# The per-patient review both engines ship: (patient id, every resource of that patient) -> (rows, encounters
# reviewed). Resources are parsed JSON objects as read from the export.
Review = Callable[[str, list[dict[str, Any]]], tuple[list[FindingRow], int]]

DEFAULT_REVIEW = "cpt64640_cds.audit.review:review_patient"


class ReviewError(ValueError):
    """The review named by "module:function" cannot be imported."""


def resolve(review: str) -> Review:
    """The callable a "module:function" string names: by name, so that the processes of either engine (spawned
    workers, Spark's Python workers) import the same function."""
    module, _, name = review.partition(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ReviewError(f"the review {review} cannot be imported ({review!r}: {exc})") from None
    if not callable(found):
        raise ReviewError(f"the review {review} is not a function ({review!r})")
    return found

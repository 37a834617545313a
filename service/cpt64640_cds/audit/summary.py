"""summary.html: the audit for a compliance officer: totals, findings per rule and per month as charts, the
encounters with the most findings, and every finding (up to FINDINGS_LISTED) with a link to its evidence.

One self-contained file, read without internet: styles inline, no script, charts as inline SVG whose geometry is
computed here (the template only draws it, escaping every label)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader

from .model import FindingRow, Totals
from .outputs import Run

FINDINGS_LISTED = 5000
ENCOUNTERS_LISTED = 10
NO_DATE = "no date"
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MONTHS_FILLED = 120  # a longer span (a stray date) charts only the months that have findings


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    horizontal: bool


def rule_chart(counts: Sequence[tuple[str, int]]) -> Chart:
    """Horizontal bars, one row per rule, longest first: rule ids can be long, so the labels sit on the left."""
    label_width, bar_width, row = 240, 380, 24
    top = max((value for _, value in counts), default=0) or 1
    bars = tuple(
        Bar(label, value, label_width, index * row + 4, max(1.0, bar_width * value / top), row - 8)
        for index, (label, value) in enumerate(counts)
    )
    return Chart("Findings per rule", label_width + bar_width + 60, max(1, len(counts)) * row + 8, bars, True)


def month_chart(counts: Sequence[tuple[str, int]]) -> Chart:
    """Vertical bars, one per month of service in order (findings without a date last); no bar for none."""
    column, plot, base = 36, 200, 230
    top = max((value for _, value in counts), default=0) or 1
    bars = []
    for index, (label, value) in enumerate(counts):
        height = max(1.0, plot * value / top) if value else 0.0
        bars.append(Bar(label, value, 40 + index * column, base - height, column - 8, height))
    return Chart("Findings per month of service", max(320, 60 + len(counts) * column), base + 60, tuple(bars), False)


@dataclass(frozen=True)
class EncounterGap:
    patient_id: str
    encounter_id: str
    date_of_service: str | None
    findings: int
    rules: str


def largest_gaps(rows: Sequence[FindingRow], limit: int = ENCOUNTERS_LISTED) -> list[EncounterGap]:
    """The encounters with the most findings (ties: by patient and encounter id)."""
    by_encounter: dict[tuple[str, str], list[FindingRow]] = {}
    for row in rows:
        by_encounter.setdefault((row.patient_id, row.encounter_id), []).append(row)
    ranked = sorted(by_encounter.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    gaps = []
    for (patient, encounter), found in ranked:
        rules = ", ".join(sorted({row.rule_id for row in found}))
        gaps.append(EncounterGap(patient, encounter, found[0].date_of_service, len(found), rules))
    return gaps


def per_month(rows: Sequence[FindingRow]) -> list[tuple[str, int]]:
    """Findings per month of service ("2025-03"), months without findings between the first and the last
    included (up to MONTHS_FILLED of them), so the chart's axis is time; findings without a date last."""
    counts = Counter(month.group() if (month := _MONTH.match(row.date_of_service or "")) else NO_DATE for row in rows)
    undated = counts.pop(NO_DATE, 0)
    months = sorted(counts)
    if months and _month_number(months[-1]) - _month_number(months[0]) < MONTHS_FILLED:
        first, last = _month_number(months[0]), _month_number(months[-1])
        months = [f"{number // 12:04d}-{number % 12 + 1:02d}" for number in range(first, last + 1)]
    return [(month, counts.get(month, 0)) for month in months] + ([(NO_DATE, undated)] if undated else [])


def _month_number(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def render(rows: Sequence[FindingRow], totals: Totals, run: Run) -> str:
    by_rule = sorted(Counter(row.rule_id for row in rows).items(), key=lambda item: (-item[1], item[0]))
    by_month = per_month(rows)
    environment = Environment(loader=PackageLoader(__package__ or "cpt64640_cds.audit", "templates"), autoescape=True)
    return environment.get_template("summary.html.jinja").render(
        run=run,
        totals=totals,
        resources_read=sum(totals.resources_by_type.values()),
        findings=len(rows),
        indicators=sorted(Counter(row.indicator for row in rows).items()),
        by_rule=by_rule,
        rule_chart=rule_chart(by_rule),
        month_chart=month_chart(by_month),
        gaps=largest_gaps(rows),
        listed=rows[:FINDINGS_LISTED],
        limit=FINDINGS_LISTED,
    )

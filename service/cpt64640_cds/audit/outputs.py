"""What an audit writes besides the summary: findings.parquet and findings.csv (one row per finding, the columns
of model.COLUMNS in that order) and run.json (what was read, reviewed and found, how long it took, with what)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .model import COLUMNS, FindingRow, Totals

# run.json lists this many malformed lines (all are counted).
MALFORMED_LISTED = 100


def _arrow_type(annotation: str) -> tuple[pa.DataType, bool]:
    """A FindingRow field's Arrow type and nullability, from its annotation ("int | None" → int64, nullable)."""
    kinds = {part.strip() for part in annotation.split("|")}
    return (pa.int64() if "int" in kinds else pa.string()), "None" in kinds


SCHEMA = pa.schema([pa.field(f.name, *_arrow_type(str(f.type))) for f in dataclasses.fields(FindingRow)])


def write_parquet(rows: Sequence[FindingRow], path: Path) -> None:
    columns = {name: [getattr(row, name) for row in rows] for name in COLUMNS}
    pq.write_table(pa.table(columns, schema=SCHEMA), path)


def write_csv(rows: Sequence[FindingRow], path: Path) -> None:
    """Header = COLUMNS; an empty cell where a finding has no such part."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if value is None else value for value in dataclasses.astuple(row)])


@dataclass(frozen=True)
class Run:
    """How the audit ran, for run.json and the summary."""

    export: str
    engine: str
    started: datetime  # UTC
    finished: datetime
    rule_set_version: str

    @property
    def seconds(self) -> float:
        return round((self.finished - self.started).total_seconds(), 3)


def run_record(rows: Sequence[FindingRow], totals: Totals, run: Run) -> dict[str, Any]:
    by_rule = Counter(row.rule_id for row in rows)
    return {
        "export": run.export,
        "engine": run.engine,
        "started": run.started.isoformat(timespec="seconds"),
        "finished": run.finished.isoformat(timespec="seconds"),
        "seconds": run.seconds,
        "package_version": __version__,
        "rule_set_version": run.rule_set_version,
        "resources_read": sum(totals.resources_by_type.values()),
        "resources_by_type": dict(sorted(totals.resources_by_type.items())),
        "patients": totals.patients,
        "encounters_reviewed": totals.encounters_reviewed,
        "findings": len(rows),
        "findings_by_rule": dict(sorted(by_rule.items())),
        "malformed_lines": len(totals.malformed),
        "malformed": [dataclasses.asdict(line) for line in totals.malformed[:MALFORMED_LISTED]],
    }


def write_run(rows: Sequence[FindingRow], totals: Totals, run: Run, path: Path) -> None:
    path.write_text(json.dumps(run_record(rows, totals, run), indent=2) + "\n", encoding="utf-8")

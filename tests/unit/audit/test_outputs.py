"""findings.parquet and findings.csv hold exactly the rows, in COLUMNS order with typed columns; run.json says
what was read, reviewed and found."""

from __future__ import annotations

import csv
import dataclasses
import json

import pyarrow as pa
import pyarrow.parquet as pq

import cpt64640_cds
from cpt64640_cds.audit.model import COLUMNS, FindingRow
from cpt64640_cds.audit.outputs import write_csv, write_parquet, write_run

from .rows import ROWS, RUN, TOTALS


def test_parquet_reads_back_as_the_rows_with_explicit_types(tmp_path):
    write_parquet(ROWS, tmp_path / "findings.parquet")
    table = pq.read_table(tmp_path / "findings.parquet")
    assert tuple(table.column_names) == COLUMNS
    assert table.schema.field("proposed_units").type == pa.int64()
    assert table.schema.field("billed_units").type == pa.int64()
    assert table.schema.field("date_of_service").type == pa.string()
    assert table.schema.field("billed_code").nullable and not table.schema.field("rule_id").nullable
    assert [FindingRow(**record) for record in table.to_pylist()] == ROWS


def test_parquet_of_no_findings_still_has_the_columns(tmp_path):
    write_parquet([], tmp_path / "findings.parquet")
    table = pq.read_table(tmp_path / "findings.parquet")
    assert tuple(table.column_names) == COLUMNS and table.num_rows == 0


def test_csv_has_the_columns_as_header_and_empty_cells_for_none(tmp_path):
    write_csv(ROWS, tmp_path / "findings.csv")
    with (tmp_path / "findings.csv").open(encoding="utf-8", newline="") as stream:
        header, *records = list(csv.reader(stream))
    assert tuple(header) == COLUMNS
    assert records == [["" if v is None else str(v) for v in dataclasses.astuple(row)] for row in ROWS]
    assert records[ROWS.index(next(r for r in ROWS if r.billed_code is None))][COLUMNS.index("billed_code")] == ""


def test_run_json_says_what_was_read_reviewed_and_found(tmp_path):
    write_run(ROWS, TOTALS, RUN, tmp_path / "run.json")
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["resources_by_type"] == {"Organization": 1, "Patient": 3, "Procedure": 5}
    assert run["resources_read"] == 9
    assert (run["patients"], run["encounters_reviewed"], run["findings"]) == (3, 4, 4)
    assert run["findings_by_rule"] == {
        "<script>alert(1)</script>": 1,
        "billed-units": 1,
        "bundled-guidance": 1,
        "line-suggestion": 1,
    }
    assert run["malformed_lines"] == 150 and len(run["malformed"]) == 100
    assert run["malformed"][0] == {
        "file": "Procedure.ndjson",
        "line": 1,
        "problem": "not JSON (Expecting value at column 1)",
    }
    assert (run["engine"], run["export"], run["rule_set_version"]) == ("local", "/data/export", "2026.1")
    assert run["package_version"] == cpt64640_cds.__version__
    assert (run["started"], run["finished"], run["seconds"]) == (
        "2026-01-02T03:04:05+00:00",
        "2026-01-02T03:05:07+00:00",
        62.5,
    )

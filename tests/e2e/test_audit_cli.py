"""`cpt64640 audit` as a user runs it: an export built from the fixture patients (one NDJSON file per type, one
gzipped, one line broken), reviewed by two worker processes, read from its folder or from its manifest; and the
one-line refusals of exports it cannot use."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ..conftest import FIXTURES
from ..unit.audit.exports import fixture_resources, write_export
from .terminal import on_terminal
from .test_cli import COMMAND, offline_environment, run

EVERY_PATIENT = tuple(sorted(path.stem for path in (FIXTURES / "ehr").glob("*.json")))


def _export(folder: Path) -> tuple[dict[str, int], int]:
    """The fixture patients as an export with one broken line: the count per type, and the broken line's number."""
    counts = write_export(folder, fixture_resources(EVERY_PATIENT), gzipped=("Procedure",))
    with (folder / "Condition.ndjson").open("a", encoding="utf-8") as stream:
        stream.write('{"resourceType": "Condition", "id": \n')
        stream.write(json.dumps({"resourceType": "Condition", "id": "after", "subject": {"reference": "Patient/x"}}))
    counts["Condition"] += 1  # the line after the broken one is read
    return counts, counts["Condition"]


def test_an_export_is_audited_and_a_malformed_line_is_named_skipped_and_counted(tmp_path):
    pytest.importorskip("cpt64640_cds.audit.review")
    export, out = tmp_path / "export", tmp_path / "out"
    counts, broken = _export(export)
    result = run(
        "audit",
        str(export),
        "--out",
        str(out),
        "--engine",
        "local",
        "--workers",
        "2",
        env=offline_environment(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert f"{export}/Condition.ndjson:{broken}: not JSON (" in result.stderr
    assert "Traceback" not in result.stderr and "\r" not in result.stderr
    assert len(result.stderr.splitlines()) <= 4  # two progress lines and the malformed line
    assert sorted(p.name for p in out.iterdir()) == ["findings.csv", "findings.parquet", "run.json", "summary.html"]

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["resources_by_type"] == dict(sorted(counts.items()))
    assert record["malformed_lines"] == 1
    assert record["malformed"] == [
        {"file": "Condition.ndjson", "line": broken, "problem": record["malformed"][0]["problem"]}
    ]
    assert record["patients"] == len(EVERY_PATIENT) + 1  # "x" has only the Condition after the broken line
    assert record["engine"] == "local" and record["encounters_reviewed"] > 0

    table = pq.read_table(out / "findings.parquet").to_pylist()
    with (out / "findings.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(table) == len(rows) == record["findings"] == sum(record["findings_by_rule"].values())
    assert [r["rule_id"] for r in rows] == [r["rule_id"] for r in table]
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert summary.count("<svg") == (2 if rows else 0)
    assert all(rule in summary for rule in record["findings_by_rule"])

    # The same export through its status manifest: the same findings.
    manifest = tmp_path / "manifest.json"
    outputs = [{"type": p.name.split(".")[0], "url": f"export/{p.name}"} for p in sorted(export.iterdir())]
    manifest.write_text(json.dumps({"transactionTime": "2026-01-01T00:00:00Z", "request": "x", "output": outputs}))
    again = run("audit", str(manifest), "--out", str(tmp_path / "again"), "--quiet", env=offline_environment(tmp_path))
    assert again.returncode == 0, again.stderr
    assert again.stderr == f"{tmp_path}/export/Condition.ndjson:{broken}: {record['malformed'][0]['problem']}\n"
    assert (tmp_path / "again" / "findings.csv").read_bytes() == (out / "findings.csv").read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("missing", "no such file or folder"),
        ("remote manifest", "is a remote URL (https://ehr.example/...); the audit does not download"),
        ("bad manifest", "neither a folder of NDJSON files nor a Bulk Data manifest (not JSON)"),
        ("master without spark", "--master is for --engine spark"),
    ],
)
def test_an_unusable_export_is_refused_in_one_line(tmp_path, make, message):
    export = tmp_path / "manifest.json"
    options = []
    if make == "remote manifest":
        export.write_text(json.dumps({"output": [{"type": "Patient", "url": "https://ehr.example/Patient.ndjson"}]}))
    elif make == "bad manifest":
        export.write_text("Patient.ndjson\nProcedure.ndjson\n")
    elif make == "master without spark":
        write_export(export := tmp_path / "export", fixture_resources(("neuro-1",)))
        options = ["--master", "spark://somewhere:7077"]
    result = run("audit", str(export), "--out", str(tmp_path / "out"), *options, env=offline_environment(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("cpt64640 audit: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_progress_on_a_terminal_is_a_bar_per_phase(tmp_path):
    pytest.importorskip("cpt64640_cds.audit.review")
    _export(tmp_path / "export")
    command = [str(COMMAND), "audit", str(tmp_path / "export"), "--out", str(tmp_path / "out"), "--workers", "1"]
    returncode, stdout, screen = on_terminal(command, offline_environment(tmp_path))
    assert returncode == 0
    assert b" findings in " in stdout
    assert "\r" in screen and "reading: " in screen and "reviewing: 100%|" in screen
    assert "audit:" not in screen  # not the log lines

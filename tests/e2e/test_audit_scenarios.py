"""`cpt64640 audit` on an export built from the project's discharge scenarios (performed procedures, billed
right, wrong or not at all): each scenario's record is one patient of the export (ids made unique), and the
audit finds exactly what the scenario's golden says the encounter-discharge hook answers. A malformed line is
reported with its file and line and skipped; every other line is read."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cpt64640_cds.tools.fhirserver import resources_in
from cpt64640_cds.tools.scenarios import discover

from ..conftest import FIXTURES

SCENARIOS = sorted((FIXTURES / "scenarios").glob("discharge-*"))
TIMES = "\N{MULTIPLICATION SIGN}"


def _suffixed(value: Any, ids: set[str], suffix: str) -> Any:
    """The resource with its id and every reference to the record's own resources made unique to one copy."""
    if isinstance(value, dict):
        out = {k: _suffixed(v, ids, suffix) for k, v in value.items()}
        if isinstance(out.get("id"), str) and "resourceType" in out:
            out["id"] += suffix
        reference = out.get("reference")
        if isinstance(reference, str) and reference in ids:
            out["reference"] = reference + suffix
        return out
    if isinstance(value, list):
        return [_suffixed(v, ids, suffix) for v in value]
    return value


def _record(scenario: Path) -> list[dict[str, Any]]:
    return [r for path in discover([scenario])[0].resources for r in resources_in(json.loads(path.read_text()))]


def build_export(out: Path) -> dict[str, str]:
    """One NDJSON file per type; returns patient id -> scenario name."""
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {}
    patients = {}
    for i, scenario in enumerate(SCENARIOS):
        resources = _record(scenario)
        ids = {f"{r['resourceType']}/{r['id']}" for r in resources}
        suffix = f"-s{i}"
        for resource in resources:
            copy = _suffixed(resource, ids, suffix)
            lines.setdefault(copy["resourceType"], []).append(json.dumps(copy))
            if copy["resourceType"] == "Patient":
                patients[copy["id"]] = scenario.name
    for kind, rows in lines.items():
        (out / f"{kind}.ndjson").write_text("\n".join(rows) + "\n")
    return patients


def _expected(scenario: Path) -> list[tuple[str, str, str]]:
    """(rule, documented line, billed line) per card of the scenario's golden, as the audit rows say them."""
    found = []
    for card in json.loads((scenario / "expected.json").read_text())["cards"]:
        documented, billed = card.get("documented", []), card.get("billed", [])
        found.append((card["topic"], documented[0] if documented else "", billed[0] if billed else ""))
    return sorted(found)


def _label(code: str, modifiers: str, units: str) -> str:
    return f"{code}{''.join('-' + m for m in modifiers.split())} {TIMES} {units}" if code else ""


def audit(export: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cpt64640_cds", "audit", str(export), "--out", str(out), "--quiet", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("export")
    patients = build_export(folder)
    # One malformed line in the middle of a file: reported, skipped, the rest of the file read.
    conditions = (folder / "Condition.ndjson").read_text().splitlines()
    conditions.insert(2, '{"resourceType": "Condition", "id": ')
    (folder / "Condition.ndjson").write_text("\n".join(conditions) + "\n")
    return folder, patients


@pytest.fixture(scope="module")
def local(export, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("local")
    return out, audit(export[0], out, "--engine", "local", "--workers", "2")


def test_the_audit_finds_what_the_discharge_hook_answers(export, local):
    folder, patients = export
    out, ran = local
    assert len(SCENARIOS) >= 9 and len(patients) == len(SCENARIOS)
    assert ran.returncode == 0, ran.stderr
    assert "Condition.ndjson:3: not JSON" in ran.stderr

    with (out / "findings.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    got: dict[str, list[tuple[str, str, str]]] = {name: [] for name in patients.values()}
    for row in rows:
        documented = _label(row["proposed_code"], row["proposed_modifiers"], row["proposed_units"])
        billed = _label(row["billed_code"], row["billed_modifiers"], row["billed_units"])
        got[patients[row["patient_id"]]].append((row["rule_id"], documented, billed))
        assert row["encounter_id"].startswith("enc-done-") and row["rule_set_version"]
        assert row["evidence"] and all("/" in ref for ref in row["evidence"].split())
    for scenario in SCENARIOS:
        assert sorted(got[scenario.name]) == _expected(scenario), scenario.name
    assert any(not found for found in got.values())  # the correctly billed encounters draw nothing

    run = json.loads((out / "run.json").read_text())
    lines = sum(len((folder / f).read_text().splitlines()) for f in ("Condition.ndjson",))
    assert run["malformed_lines"] == 1
    assert run["resources_by_type"]["Condition"] == lines - 1
    assert run["patients"] == len(SCENARIOS) and run["encounters_reviewed"] >= len(SCENARIOS)


def test_spark_finds_exactly_what_the_local_engine_finds(export, local, tmp_path):
    pytest.importorskip("pyspark", reason="the spark extra (make test installs it)")
    if shutil.which("java") is None:
        pytest.skip("needs a Java runtime (make test installs default-jre-headless)")
    folder, _ = export
    local_out, local_ran = local
    assert local_ran.returncode == 0, local_ran.stderr
    ran = audit(folder, tmp_path / "spark", "--engine", "spark", "--master", "local[2]")
    assert ran.returncode == 0, ran.stderr
    assert "Condition.ndjson:3: not JSON" in ran.stderr
    # The same rows, byte for byte, in the CSV and the Parquet file's table; the same totals.
    assert (tmp_path / "spark" / "findings.csv").read_bytes() == (local_out / "findings.csv").read_bytes()
    spark_table = pq.read_table(tmp_path / "spark" / "findings.parquet")
    assert spark_table.equals(pq.read_table(local_out / "findings.parquet"))
    runs = [json.loads((where / "run.json").read_text()) for where in (local_out, tmp_path / "spark")]
    same = ("resources_by_type", "patients", "encounters_reviewed", "findings_by_rule", "malformed_lines")
    assert [run["engine"] for run in runs] == ["local", "spark"]
    assert {k: runs[0][k] for k in same} == {k: runs[1][k] for k in same}

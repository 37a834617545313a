"""The Spark engine (`cpt64640 audit --engine spark`) in local[2] on a small export built from the fixture
bundles: its rows are exactly those of reading every line with parse_line, grouping by patient_of and calling
the same review in one process; a malformed line is named by file and line and skipped; resources are counted
by type; and the driver listens on loopback only.

One SparkSession per module: a JVM starts in seconds, not milliseconds."""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpt64640_cds.audit.lines import parse_line, patient_of
from cpt64640_cds.audit.model import FindingRow, MalformedLine, Totals

from ..audit_review_fake import REVIEW, review
from ..conftest import FIXTURES, ROOT, load

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
if shutil.which("java") is None:
    pytest.skip(
        "Spark needs a Java runtime: no `java` on PATH (scripts/system-deps installs it)", allow_module_level=True
    )

from cpt64640_cds.audit.spark import run_spark, spark_session  # noqa: E402  (after the skips: it needs pyspark)

BUNDLES = ("neuro-1", "neuro-3", "rw-1", "rw-2", "rw-8", "rw-12")
ORGANIZATION = {"resourceType": "Organization", "id": "org-1", "name": "Clinic"}  # names no patient


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    # The workers import the fake review from the repository root (tests/ stays out of the package).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))))
        session = spark_session("local[2]")
    yield session
    session.stop()


def _resources() -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for name in BUNDLES:
        for entry in load(FIXTURES / "ehr" / f"{name}.json")["entry"]:
            by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    by_type["Organization"] = [ORGANIZATION]
    return by_type


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> list[tuple[str, str]]:
    """(label, path) per file: one type per file, Procedure in two files (the first gzipped), a line that is not
    JSON and a blank line in Condition.ndjson, a Patient whose id is not UTF-8 (Latin-1)."""
    folder = tmp_path_factory.mktemp("export")
    files: list[tuple[str, str]] = []

    def write(label: str, lines: list[bytes]) -> None:
        text = b"".join(line + b"\n" for line in lines)
        (folder / label).write_bytes(gzip.compress(text) if label.endswith(".gz") else text)
        files.append((label, str(folder / label)))

    for kind, resources in _resources().items():
        lines = [json.dumps(resource).encode("utf-8") for resource in resources]
        if kind == "Patient":
            write("Patient.ndjson", [lines[0], b'{"resourceType": "Patient", "id": "caf\xe9"}', *lines[1:]])
        elif kind == "Procedure":
            write("Procedure.1.ndjson.gz", lines[:3])
            write("Procedure.2.ndjson", lines[3:])
        elif kind == "Condition":
            write("Condition.ndjson", [*lines[:2], b'{"resourceType": "Condition", "id":', b"", *lines[2:]])
        else:
            write(f"{kind}.ndjson", lines)
    return files


@pytest.fixture(scope="module")
def audited(spark, export) -> tuple[list[FindingRow], Totals]:
    return run_spark(export, REVIEW)  # on the active session, as under spark-submit


def _reference(files: list[tuple[str, str]]) -> tuple[list[FindingRow], Totals]:
    """The audit in one process: every line in export order, grouped by patient, the same review."""
    patients: dict[str, list[dict[str, Any]]] = {}
    totals = Totals()
    for label, path in files:
        with gzip.open(path) if label.endswith(".gz") else open(path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                # As Hadoop reads text: bytes that are not UTF-8 become U+FFFD.
                value = parse_line(label, number, raw.rstrip(b"\n").decode("utf-8", errors="replace"))
                if isinstance(value, MalformedLine):
                    totals.malformed.append(value)
                elif value is not None:
                    kind = value["resourceType"]
                    totals.resources_by_type[kind] = totals.resources_by_type.get(kind, 0) + 1
                    patient = patient_of(value)
                    if patient is not None:
                        patients.setdefault(patient, []).append(value)
    rows: list[FindingRow] = []
    for patient, resources in patients.items():
        found, reviewed = review(patient, resources)
        rows += found
        totals.encounters_reviewed += reviewed
    totals.patients = len(patients)
    return sorted(rows), totals


def test_spark_finds_what_one_process_finds(audited, export):
    rows, totals = audited
    expected_rows, expected = _reference(export)
    assert len(expected_rows) == len(_resources()["Procedure"])  # the gzipped file's included
    assert rows == expected_rows
    assert totals == expected  # resources by type, patients, encounters reviewed, malformed lines
    assert totals.resources_by_type["Organization"] == 1  # counted, though it names no patient
    assert totals.encounters_reviewed == totals.resources_by_type["Encounter"]


def test_a_malformed_line_is_named_by_file_and_line_and_skipped(audited):
    _rows, totals = audited
    [line] = totals.malformed
    assert (line.file, line.line) == ("Condition.ndjson", 3)
    assert line.problem.startswith("not JSON") and "Condition" not in line.problem  # named, never quoted
    # The lines after it are read: every Condition but the broken one.
    assert totals.resources_by_type["Condition"] == len(_resources()["Condition"])


def test_bytes_that_are_not_utf8_are_read_with_replacement(audited):
    # Hadoop's text decoding: the Latin-1 Patient is read, its id with U+FFFD, and reviewed like any other.
    _rows, totals = audited
    assert totals.resources_by_type["Patient"] == len(BUNDLES) + 1
    assert totals.patients == len(BUNDLES) + 1


@pytest.mark.parametrize("review", ["tests.audit_review_fake:nothing", "tests.no_such_module:review", "review"])
def test_a_review_that_cannot_be_imported_is_named_before_spark_runs(export, review):
    with pytest.raises(ValueError, match=re.escape(repr(review))):
        run_spark(export, review)


def _listening(pids: set[int]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses the processes `pids` listen on (TCP), from /proc."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    addresses = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(local.split(":")[0])
                # Each 32-bit word is in the host's (little-endian) order.
                packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                addresses.append(ipaddress.ip_address(packed))
    return addresses


def _descendants(pid: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = {pid}
    while grown := {child for child, parent in parents.items() if parent in found} - found:
        found |= grown
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from Linux's /proc")
def test_the_driver_listens_on_loopback_only(spark, audited):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.bindAddress") == conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    jvm = spark.sparkContext._gateway.proc.pid
    addresses = _listening(_descendants(jvm))
    assert addresses  # the driver's RPC and block manager at least
    assert all((getattr(address, "ipv4_mapped", None) or address).is_loopback for address in addresses), addresses

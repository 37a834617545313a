"""benchmarks/make_export.py: an export of more patients than there are templates is a valid Bulk Data export -
one resource per line, ids unique, every reference resolvable, each copy its own patient's, dates moved by one
number of days per copy - reproducible for a seed, gzipped alike, and generated one patient at a time."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cpt64640_cds.audit.lines import patient_of
from cpt64640_cds.tools.fhirserver import resources_in

from ..conftest import FIXTURES, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from make_export import main, make_export, patient_lines, templates

TEMPLATES = len(templates())
PATIENTS = TEMPLATES + 3  # every template once, then the first three again
SUFFIX = re.compile(r"-p(\d{6})$")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:.+\-Z]+)?")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("export")
    return out, make_export(PATIENTS, out)


def _read(out: Path) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for path in sorted(out.glob("*.ndjson*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            found[path.name.split(".")[0]] = [json.loads(line) for line in lines]
    return found


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [item] if key == "reference" and isinstance(item, str) else _references(item)
        return found
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_every_line_is_a_resource_of_its_file_with_a_unique_id(export):
    out, counts = export
    resources = _read(out)
    assert set(resources) == set(counts)
    for kind, items in resources.items():
        assert all(r["resourceType"] == kind for r in items)
        ids = [r["id"] for r in items]
        assert len(ids) == len(set(ids)), kind
        assert all(SUFFIX.search(i) and len(i) <= 64 for i in ids)
    assert len(resources["Patient"]) == PATIENTS
    # The scenarios' performed care is there; their draft orders are not.
    assert {"Procedure", "MedicationAdministration", "DocumentReference", "ChargeItem", "Encounter"} <= set(counts)
    assert not [r for items in resources.values() for r in items if r.get("status") == "draft"]


def test_every_reference_resolves_within_the_export_and_stays_with_its_patient(export):
    out, _ = export
    resources = _read(out)
    known = {f"{kind}/{r['id']}" for kind, items in resources.items() for r in items}
    checked = 0
    for items in resources.values():
        for resource in items:
            suffix = SUFFIX.search(resource["id"]).group(0)
            for reference in _references(resource):
                if reference.startswith("#"):
                    continue  # a contained resource
                assert reference in known, reference
                assert reference.endswith(suffix), (resource["id"], reference)
                checked += 1
            patient = patient_of(resource)
            assert patient is None or patient.endswith(suffix)
    assert checked > 10_000


def _walk(template: Any, copy: Any, suffix: str, ids: set[str], shifts: set[int]) -> None:
    """`copy` is `template` with the template's references suffixed and every date moved by one shift."""
    if isinstance(template, dict):
        assert list(template) == list(copy)
        for key, value in template.items():
            if key == "reference" and value in ids:
                assert copy[key] == value + suffix
            else:
                _walk(value, copy[key], suffix, ids, shifts)
    elif isinstance(template, list):
        assert len(template) == len(copy)
        for a, b in zip(template, copy, strict=True):
            _walk(a, b, suffix, ids, shifts)
    elif isinstance(template, str) and DATE.fullmatch(template):
        assert copy[10:] == template[10:]  # time and offset kept
        shifts.add((date.fromisoformat(copy[:10]) - date.fromisoformat(template[:10])).days)
    else:
        assert copy == template


def test_each_copy_is_its_template_with_ids_suffixed_and_dates_moved_together():
    pool = templates()
    moved = []
    for index, record in enumerate(patient_lines(PATIENTS)):
        template = pool[index % TEMPLATES]
        ids = {f"{r['resourceType']}/{r['id']}" for r in template}
        suffix = f"-p{index:06d}"
        shifts: set[int] = set()
        assert len(record) == len(template)
        for source, (kind, line) in zip(template, record, strict=True):
            copy = json.loads(line)
            assert kind == copy["resourceType"] == source["resourceType"]
            assert copy.pop("id") == source["id"] + suffix
            _walk({k: v for k, v in source.items() if k != "id"}, copy, suffix, ids, shifts)
        assert len(shifts) == 1  # every template has dates (a birth date at least)
        moved += shifts
    assert all(-364 <= days <= 0 for days in moved)
    assert len(set(moved)) > PATIENTS // 2  # the copies spread over the year


def test_templates_are_every_source_patient():
    patients = {r["id"] for record in templates() for r in record if r["resourceType"] == "Patient"}
    sources = [*(FIXTURES / "external" / "smart-sandbox").glob("*_*.json"), *(FIXTURES / "ehr").glob("*.json")]
    records = [resources_in(json.loads(p.read_text())) for p in sources]
    assert {r["id"] for record in records for r in record if r["resourceType"] == "Patient"} <= patients
    assert all(sum(r["resourceType"] == "Patient" for r in record) == 1 for record in templates())


def test_manifest_lists_every_file_with_its_count(export):
    out, counts = export
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["requiresAccessToken"] is False and manifest["error"] == []
    assert manifest["request"].endswith("$export")
    listed = {o["type"]: o for o in manifest["output"]}
    assert {kind: o["count"] for kind, o in listed.items()} == counts
    for kind, items in _read(out).items():
        assert listed[kind]["url"] == f"{kind}.ndjson" and listed[kind]["count"] == len(items)
    latest = max(DAY.findall("".join(p.read_text() for p in out.glob("*.ndjson"))))
    assert manifest["transactionTime"][:10] > latest


def test_same_seed_same_bytes_gzip_included(export, tmp_path: Path):
    out, counts = export
    again, packed, packed_again, other = (tmp_path / name for name in ("again", "gz", "gz-again", "other"))
    assert make_export(PATIENTS, again) == counts
    assert make_export(PATIENTS, packed, gzip=True) == counts
    make_export(PATIENTS, packed_again, gzip=True)
    make_export(PATIENTS, other, seed=1)
    for path in out.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes()
        if path.suffix == ".ndjson":
            gz = packed / f"{path.name}.gz"
            assert gzip.decompress(gz.read_bytes()) == path.read_bytes()
            assert (packed_again / gz.name).read_bytes() == gz.read_bytes()
    assert (other / "Encounter.ndjson").read_bytes() != (out / "Encounter.ndjson").read_bytes()
    urls = [o["url"] for o in json.loads((packed / "manifest.json").read_text())["output"]]
    assert urls and all(u.endswith(".ndjson.gz") and (packed / u).exists() for u in urls)


def test_a_new_export_replaces_the_previous_one_in_its_folder(tmp_path: Path):
    make_export(TEMPLATES, tmp_path)
    counts = make_export(2, tmp_path, gzip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["manifest.json", *(f"{kind}.ndjson.gz" for kind in counts)]
    )


def test_generation_is_lazy_and_memory_does_not_grow_with_patients(tmp_path: Path):
    first = next(patient_lines(10**9))  # a billion patients: only the first is made (and the templates compiled)
    assert [kind for kind, _ in first].count("Patient") == 1

    def peak(patients: int) -> int:
        tracemalloc.start()
        make_export(patients, tmp_path / str(patients))
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    # Each run copies every template, the largest included; held in memory, 6 times the patients would take
    # several times the memory (measured: 6.5 MB for one round of the templates, 21 MB holding six).
    small, large = peak(TEMPLATES), peak(6 * TEMPLATES)
    assert large < 1.5 * small


def test_command_line(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT / "service"), os.getenv("PYTHONPATH"))))}
    script = str(ROOT / "benchmarks" / "make_export.py")
    run = subprocess.run(
        [sys.executable, script, "3", str(tmp_path), "--gzip", "--seed", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("make_export: 3 patients, ")
    output = json.loads((tmp_path / "manifest.json").read_text())["output"]
    assert {"type": "Patient", "url": "Patient.ndjson.gz", "count": 3} in output
    with pytest.raises(SystemExit) as refused:
        main(["0", str(tmp_path)])
    assert refused.value.code == 2

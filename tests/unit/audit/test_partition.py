"""Grouping by patient through partition files: every resource lands with its patient, in the export's order,
and a partition is loaded alone, holding only its own patients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpt64640_cds.audit.local import review_partition
from cpt64640_cds.audit.model import FindingRow
from cpt64640_cds.audit.partition import (
    MAX_PARTITIONS,
    PARTITION_BYTES,
    Spill,
    load_partition,
    partition_count,
    partition_of,
)


def _resource(patient: str, number: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"{patient}-{number}", "subject": {"reference": f"Patient/{patient}"}}


def test_the_partition_count_grows_with_the_export_within_bounds():
    assert partition_count(0, workers=2) == 8  # four per worker, for an even share
    assert partition_count(100 * PARTITION_BYTES, workers=2) == 100
    assert partition_count(10_000 * PARTITION_BYTES, workers=2) == MAX_PARTITIONS


def test_a_patient_goes_to_the_same_partition_in_every_process():
    # crc32, not hash(): Python salts str hashes per process, and workers, reruns and Spark must all agree.
    assert [partition_of(p, 64) for p in ("p1", "neuro-1", "ü")] == [51, 15, 21]


def test_every_resource_lands_with_its_patient_in_export_order_patients_sorted(tmp_path):
    patients = [f"patient-{n:05d}" for n in range(2000)]
    with Spill(tmp_path, 16) as spill:
        for number in range(3):  # interleaved, as resources of different types come from different files
            for patient in reversed(patients):
                spill.add(patient, _resource(patient, number))
        paths = spill.close()
    assert len(paths) == 16
    seen: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        index = int(path.stem.split("-")[1])
        loaded = list(load_partition(path))
        ids = [patient for patient, _ in loaded]
        assert ids == sorted(ids)
        assert {partition_of(patient, 16) for patient in ids} == {index}  # only this partition's patients
        seen.update(loaded)
    assert sorted(seen) == patients
    assert all(seen[p] == [_resource(p, n) for n in range(3)] for p in patients)


def test_only_used_partitions_have_files_largest_first(tmp_path):
    with Spill(tmp_path, 64) as spill:
        for n in range(3):
            spill.add("p1", _resource("p1", n))
        spill.add("neuro-1", _resource("neuro-1", 0))
        paths = spill.close()
    assert [p.name for p in paths] == ["partition-0051.ndjson", "partition-0015.ndjson"]
    assert sorted(tmp_path.iterdir()) == sorted(paths)


def test_a_worker_holds_one_partition_patient_after_patient(tmp_path):
    """The bound: review_partition loads one partition file and gives the review one patient at a time."""
    patients = [f"p{n}" for n in range(500)]
    with Spill(tmp_path, 8) as spill:
        for patient in patients:
            spill.add(patient, _resource(patient, 0))
        paths = spill.close()
    calls: list[str] = []

    def review(patient_id: str, resources: list[dict[str, Any]]) -> tuple[list[FindingRow], int]:
        assert resources == [_resource(patient_id, 0)]
        calls.append(patient_id)
        return [], 1

    for path in paths:
        calls.clear()
        rows, reviewed_patients, encounters = review_partition(str(path), review)
        index = int(Path(path).stem.split("-")[1])
        assert calls == sorted(p for p in patients if partition_of(p, 8) == index)
        assert (rows, reviewed_patients, encounters) == ([], len(calls), len(calls))

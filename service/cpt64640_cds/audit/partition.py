"""Resources grouped by patient without holding the export in memory: one pass spills every resource, as one
compact JSON line, into one of K partition files chosen by a stable hash of its patient; then each partition is
loaded alone and grouped. A patient's resources all land in one partition, in the export's order.

Resources that name no patient (Practitioner, Organization, Location, Medication...) are counted by the reader and
not reviewed: the review looks at what a patient's own resources say."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# How much NDJSON one partition should hold: a worker holds one partition's resources, parsed (several times
# this in Python objects), plus the review's own working set.
PARTITION_BYTES = 8 * 1024 * 1024
# Partition files are all open while spilling; this many stays well under the usual 1,024 open files.
MAX_PARTITIONS = 512


def partition_count(expected_bytes: int, workers: int) -> int:
    """K: enough partitions for PARTITION_BYTES each, and at least four per worker so they share the work
    evenly; at most MAX_PARTITIONS (beyond MAX_PARTITIONS x PARTITION_BYTES partitions grow instead)."""
    wanted = max(math.ceil(expected_bytes / PARTITION_BYTES), 4 * max(1, workers))
    return min(wanted, MAX_PARTITIONS)


def partition_of(patient_id: str, count: int) -> int:
    """The same partition for the same patient on every run and every machine (unlike hash(), salted per process)."""
    return zlib.crc32(patient_id.encode("utf-8")) % count


class Spill:
    """Writes resources into `count` partition files under `folder` (created, left for the caller to remove)."""

    def __init__(self, folder: Path, count: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"partition-{index:04d}.ndjson" for index in range(count)]
        self.sizes = [0] * count
        self._streams: list[IO[str] | None] = [None] * count

    def add(self, patient_id: str, resource: dict[str, Any]) -> None:
        index = partition_of(patient_id, len(self.paths))
        stream = self._streams[index]
        if stream is None:  # opened on first use: a small export leaves most partitions empty, with no file
            stream = self._streams[index] = self.paths[index].open("w", encoding="utf-8")
        line = json.dumps([patient_id, resource], separators=(",", ":"), ensure_ascii=False)
        stream.write(line + "\n")
        self.sizes[index] += 1

    def close(self) -> list[Path]:
        """Closes every file; the partitions that hold anything, largest first (so the longest work starts first)."""
        for stream in self._streams:
            if stream is not None:
                stream.close()
        used = [index for index, size in enumerate(self.sizes) if size]
        return [self.paths[index] for index in sorted(used, key=lambda index: (-self.sizes[index], index))]

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def load_partition(path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """One partition's patients, sorted by id, each with its resources in the export's order. The whole partition
    is read (a patient's resources may be anywhere in it) but nothing of any other partition."""
    patients: dict[str, list[dict[str, Any]]] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            patient_id, resource = json.loads(line)
            patients.setdefault(patient_id, []).append(resource)
    for patient_id in sorted(patients):
        yield patient_id, patients.pop(patient_id)

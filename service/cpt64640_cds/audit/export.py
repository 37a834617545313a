"""A FHIR Bulk Data export on disk: which files it has, and their lines one at a time.

An export is a folder of `$export` output files (`Patient.ndjson`, `Procedure.1.ndjson.gz`: one resource type per
file, optionally gzipped), or the export's status manifest (`{"transactionTime", "request", "output": [{"type",
"url"}], "error": [...]}`) whose output URLs are `file:` URLs or paths relative to the manifest. Remote URLs are
refused: the audit reads what was downloaded, it never downloads. Files are read line by line, never whole."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from .lines import parse_line
from .model import MalformedLine

_SUFFIXES = (".ndjson", ".ndjson.gz")
_GZIP_MAGIC = b"\x1f\x8b"
# A guess of how much a gzipped NDJSON file holds once read, for sizing partitions: FHIR JSON compresses ~10:1.
GZIP_RATIO = 10


class ExportError(Exception):
    """The export cannot be used at all (missing, empty, a bad manifest): the command stops with this one line."""


@dataclass(frozen=True)
class ExportFile:
    label: str  # how the file is named in reports: relative to the export's folder (or the manifest's)
    path: Path

    @property
    def gzipped(self) -> bool:
        with self.path.open("rb") as stream:
            return stream.read(2) == _GZIP_MAGIC or self.path.name.endswith(".gz")

    def expected_bytes(self) -> int:
        """Roughly how many bytes of NDJSON the file holds."""
        size = self.path.stat().st_size
        return size * GZIP_RATIO if self.gzipped else size


@dataclass(frozen=True)
class Export:
    root: Path  # the folder the labels are relative to
    files: tuple[ExportFile, ...]

    def where(self, line: MalformedLine) -> str:
        """ "EXPORT/Procedure.ndjson:17": a malformed line as a person finds it."""
        return f"{self.root / line.file}:{line.line}"


def discover(path: Path) -> Export:
    """The export at `path`: a folder of NDJSON files or a status manifest."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_SUFFIXES))
        if not found:
            raise ExportError(f"{path}: no *.ndjson or *.ndjson.gz files in this folder")
        return Export(path, tuple(ExportFile(p.name, p) for p in found))
    if path.is_file():
        return _from_manifest(path)
    raise ExportError(f"{path}: no such file or folder")


def _from_manifest(path: Path) -> Export:
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ExportError(f"{path}: neither a folder of NDJSON files nor a Bulk Data manifest (not JSON)") from None
    outputs = manifest.get("output") if isinstance(manifest, dict) else None
    if not isinstance(outputs, list):
        raise ExportError(f'{path}: not a Bulk Data manifest (no "output" list)')
    folder = path.parent
    files = []
    for index, entry in enumerate(outputs):
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url:
            raise ExportError(f'{path}: output[{index}] has no "url"')
        files.append(_local_file(path, index, url, folder))
    if not files:
        raise ExportError(f"{path}: the manifest lists no output files")
    return Export(folder, tuple(files))


def _local_file(manifest: Path, index: int, url: str, folder: Path) -> ExportFile:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        raise ExportError(
            f"{manifest}: output[{index}] is a remote URL ({parsed.scheme}://{parsed.netloc}/...); "
            "the audit does not download: fetch the files and list them as paths or file: URLs"
        )
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ExportError(f"{manifest}: output[{index}] is a file: URL on another host ({parsed.netloc})")
        target = Path(url2pathname(unquote(parsed.path)))
    elif parsed.scheme:
        raise ExportError(f"{manifest}: output[{index}] has an unsupported URL scheme ({parsed.scheme}:)")
    else:
        target = folder / url
    if not target.is_file():
        raise ExportError(f"{manifest}: output[{index}]: {target} does not exist")
    try:
        label = str(target.relative_to(folder))
    except ValueError:
        label = str(target)
    return ExportFile(label, target)


def read(file: ExportFile) -> Iterator[tuple[str, int, dict[str, Any] | MalformedLine]]:
    """(file label, line number, resource or what is wrong with the line) for every line but blank ones. A bad
    line costs only itself; a file that breaks off (truncated gzip) is reported where it breaks."""
    number = 0
    with _open(file) as stream:
        try:
            for number, raw in enumerate(stream, 1):
                parsed = _parse(file.label, number, raw)
                if parsed is not None:
                    yield file.label, number, parsed
        except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
            yield file.label, number + 1, MalformedLine(file.label, number + 1, f"unreadable from here ({exc})")


def _open(file: ExportFile) -> BinaryIO:
    if file.gzipped:
        return gzip.open(file.path, "rb")  # type: ignore[return-value]
    return file.path.open("rb")


def _parse(label: str, number: int, raw: bytes) -> dict[str, Any] | MalformedLine | None:
    # Bytes that are not UTF-8 become U+FFFD, as Hadoop's text reader makes them for the Spark engine: both
    # engines read the same resources from the same line.
    return parse_line(label, number, raw.decode("utf-8", errors="replace"))

"""Reading every text of the fixtures gives what it gave when recorded: the readers were made faster (one read
per distinct text in a hook call, cheaper passes over each sentence) without changing a single finding.

Every string a reader may be given in fhir-fixtures/ (scenarios, the realistic notes of ehr/, the external
records: texts, displays, narratives, descriptions and decoded attachments) is read with `read`, `read_sites`
and `split`, and compared with recorded.json.gz (split by digest: its normalised sentences would be as long as
the texts). A reader that now finds something else fails here, naming the text; when the change is meant,
record again:

    PYTHONPATH=service .venv/bin/python tests/unit/reading/test_recorded.py
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading.context import split
from cpt64640_cds.reading.session import reading_session
from cpt64640_cds.reading.sites import read_sites
from cpt64640_cds.reading.text import indications_in, read

KB = load()
FIXTURES = Path(__file__).parents[3] / "fhir-fixtures"
RECORDED = Path(__file__).with_name("recorded.json.gz")
_TEXT_KEYS = frozenset({"text", "display", "div", "patientInstruction", "comment", "description", "valueString"})


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                try:
                    yield base64.b64decode(value).decode("utf-8", errors="replace")
                except (ValueError, binascii.Error):
                    continue
            elif isinstance(value, str):
                if key in _TEXT_KEYS:
                    yield value
            else:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


@cache
def texts() -> tuple[str, ...]:
    found: set[str] = set()
    for path in sorted(FIXTURES.rglob("*.json")):
        found.update(_strings(json.loads(path.read_text())))
    return tuple(sorted(found))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _plain(value: Any) -> Any:
    """JSON of a finding, sets in order, empty parts left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {name: v for name, v in fields.items() if v not in ([], {}, None, False, "")}
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def reading_of(text: str) -> dict[str, Any]:
    sentences = [(s.normal, s.section) for s in split(text, KB)]
    return {
        "read": _plain(read(text, "field", KB)),
        "sites": _plain(read_sites(text, KB, fuzzy=True)),
        "unknown sites": _plain(read_sites(text, KB, unknown=True, fuzzy=True)),
        "split": hashlib.sha256(json.dumps(sentences).encode()).hexdigest()[:20],
    }


@cache
def _recorded() -> dict[str, Any]:
    with gzip.open(RECORDED, "rt") as file:
        recorded: dict[str, Any] = json.load(file)
    return recorded


def test_every_text_is_recorded() -> None:
    """A fixture added since the recording is read here too (record again)."""
    recorded = _recorded()
    missing = [text[:60] for text in texts() if _key(text) not in recorded]
    assert len(texts()) > 1000 and not missing


def test_every_text_reads_as_recorded() -> None:
    recorded = _recorded()
    changed = [text[:80] for text in texts() if reading_of(text) != recorded[_key(text)]]
    assert not changed, f"{len(changed)} texts read differently: {changed[:5]}"


def test_the_indications_alone_are_those_of_the_whole_reading() -> None:
    recorded = _recorded()
    changed = [
        t[:80] for t in texts() if sorted(indications_in(t, KB)) != recorded[_key(t)]["read"].get("indications", [])
    ]
    assert not changed, f"{len(changed)} texts: {changed[:5]}"


def test_within_a_session_every_text_reads_as_recorded() -> None:
    """Read twice in one session, under another field name the second time: the same findings, relabelled."""
    recorded = _recorded()
    with reading_session():
        for text in texts():
            assert _plain(read(text, "field", KB)) == recorded[_key(text)]["read"]
            again = json.dumps(_plain(read(text, "other", KB))).replace('"other"', '"field"')
            assert json.loads(again) == recorded[_key(text)]["read"]


if __name__ == "__main__":
    recording = json.dumps({_key(t): reading_of(t) for t in texts()}, sort_keys=True, separators=(",", ":"))
    RECORDED.write_bytes(gzip.compress(recording.encode(), mtime=0))  # the same bytes for the same readings

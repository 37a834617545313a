"""The knowledge base loads, is schema-checked, cites its sources, and a broken file stops start-up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cpt64640_cds.knowledge.loader import FILES, KNOWLEDGE_DIR, KnowledgeError, load


def test_knowledge_base_loads_with_a_version():
    kb = load()
    assert kb.version
    assert kb.codes["64640"].imaging_included is True  # seed: image guidance is part of 64640
    assert kb.codes["64640"].global_days == 0  # seed: 0-day global period (the seed wins over research)
    assert kb.codes["64640"].daily_unit_limit is None  # no confirmed MUE value
    assert all(o.code in kb.codes for n in kb.nerves.values() for o in n.destruction)
    assert kb.nerves["genicular"].destruction[0].code == "64624"
    facet = {o.code for o in kb.nerves["facet"].destruction}
    assert facet == {"64633", "64635", "64999"}  # thermal by region; chemical facet denervation is unlisted


def _entries(value):
    """Every object in a knowledge file that states a fact: list items and named sections."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item
                yield from _entries(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and key not in ("codesByRegion", "codes", "nerveRegions"):
                yield item
            if isinstance(item, list | dict):
                yield from _entries(item)


def test_every_entry_cites_a_source():
    for name in FILES:
        data = json.loads((KNOWLEDGE_DIR / f"{name}.json").read_text())
        entries = list(_entries(data))
        assert entries, name
        for entry in entries:
            assert entry.get("source"), (name, entry)


def test_no_nerve_carries_an_unconfirmed_snomed_code():
    # coding-64640.md §6b: no SNOMED body-structure concept for these nerves was confirmed; match by text.
    assert all(nerve.snomed is None for nerve in load().nerves.values())


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    target.mkdir()
    for name in FILES:
        shutil.copy(KNOWLEDGE_DIR / f"{name}.json", target / f"{name}.json")
    return target


def test_a_broken_file_names_the_file_and_the_field(tmp_path):
    directory = _copy(tmp_path)
    nerves = json.loads((directory / "nerves.json").read_text())
    nerves["nerves"][2]["sided"] = "yes"
    (directory / "nerves.json").write_text(json.dumps(nerves))
    with pytest.raises(KnowledgeError) as error:
        load(directory)
    assert "nerves.json" in str(error.value)
    assert "nerves[2].sided" in str(error.value)


def test_a_missing_source_is_refused(tmp_path):
    directory = _copy(tmp_path)
    codes = json.loads((directory / "codes.json").read_text())
    codes["codes"][0]["source"] = []
    (directory / "codes.json").write_text(json.dumps(codes))
    with pytest.raises(KnowledgeError, match=r"codes\.json.*codes\[0\]\.source"):
        load(directory)


def test_a_dangling_code_reference_is_refused(tmp_path):
    directory = _copy(tmp_path)
    nerves = json.loads((directory / "nerves.json").read_text())
    nerves["nerves"][0]["destruction"][0]["code"] = "64641"
    (directory / "nerves.json").write_text(json.dumps(nerves))
    with pytest.raises(KnowledgeError, match=r"64641 is not in codes\.json"):
        load(directory)


def test_not_json_is_refused(tmp_path):
    directory = _copy(tmp_path)
    (directory / "modifiers.json").write_text("{")
    with pytest.raises(KnowledgeError, match=r"modifiers\.json: not valid JSON"):
        load(directory)

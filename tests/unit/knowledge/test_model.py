"""The knowledge base: one model per file validates it, the schemas are generated from the models, every
source can be checked from the repository, and a broken file stops start-up naming the file and the field."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cpt64640_cds.knowledge.fields import SOURCE_PATTERN
from cpt64640_cds.knowledge.loader import FILES, KNOWLEDGE_DIR, SCHEMA_DIR, KnowledgeError, json_schemas, load

ROOT = Path(__file__).resolve().parents[3]
SOURCES_MD = ROOT / "docs" / "sources.md"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target)
    return target


def _edit(directory: Path, name: str, change) -> None:
    path = directory / f"{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _sources(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (v if k == "source" else _sources(v))]
    if isinstance(value, list):
        return [s for v in value for s in _sources(v)]
    return []


def test_the_knowledge_base_loads_with_what_the_coding_rests_on():
    kb = load()
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", kb.version)
    assert kb.codes["64640"].imaging_included is True  # image guidance is part of 64640
    assert kb.codes["64640"].global_days == 0
    assert kb.codes["64640"].daily_unit_limit is None  # no confirmed MUE value
    assert kb.nerves["genicular"].destruction[0].code == "64624"
    assert {o.code for o in kb.nerves["facet"].destruction} == {"64633", "64635", "64999"}
    assert kb.fallbacks.other_nerve == "64640" and kb.fallbacks.unlisted == "64999"
    assert "urn:oid:2.16.840.1.113883.6.12" in kb.cpt_systems  # CPT's OID, as older feeds send it
    assert kb.families["neurolytic-destruction"].claims_destruction
    assert kb.treatment_of(frozenset({"0441T"})) == "cryo" and kb.treatment_of(frozenset({"64450"})) is None
    assert {kb.modifier_for(use) for use in ("right", "left", "bilateral")} == {"RT", "LT", "50"}
    assert kb.indication_group(kb.icd10cm_system, "G5712") is not None  # a descendant of a listed category


def test_the_schemas_in_the_repository_are_the_ones_the_models_generate():
    generated = json_schemas()
    on_disk = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == generated, "run `make schemas` and commit the result"


@pytest.mark.parametrize("name", list(FILES))
def test_each_file_also_passes_its_generated_json_schema(name):
    schema = json_schemas()[name]
    Draft202012Validator.check_schema(schema)
    data = json.loads((KNOWLEDGE_DIR / f"{name}.json").read_text())
    assert [e.message for e in Draft202012Validator(schema).iter_errors(data)] == []


def test_every_source_is_a_public_document_or_an_entry_of_docs_sources_md():
    anchors = set(re.findall(r"^### ([a-z0-9]+(?:-[a-z0-9]+)*)\s*$", SOURCES_MD.read_text(), re.M))
    cited = [s for name in FILES for s in _sources(json.loads((KNOWLEDGE_DIR / f"{name}.json").read_text()))]
    assert cited
    assert [s for s in cited if not re.fullmatch(SOURCE_PATTERN, s)] == []
    assert sorted({s for s in cited if s.startswith("sources.md#")} - {f"sources.md#{a}" for a in anchors}) == []


def test_a_broken_file_names_the_file_and_the_field(tmp_path):
    directory = _copy(tmp_path)
    _edit(directory, "nerves", lambda d: d["nerves"][2].update(sided="yes"))
    with pytest.raises(KnowledgeError) as error:
        load(directory)
    assert "nerves.json" in str(error.value)
    assert "nerves[2].sided" in str(error.value)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("codes", lambda d: d["codes"][0].update(source=[]), r"codes\.json.*codes\[0\]\.source"),
        ("codes", lambda d: d["codes"][0].update(source=["my notes"]), r"codes\.json.*codes\[0\]\.source\[0\]"),
        ("nerves", lambda d: d["nerves"][0].update(loinc="123456"), r"nerves\[0\]\.loinc: Extra inputs"),
        ("nerves", lambda d: d["nerves"][0]["destruction"][0].update(code="64641"), r"64641 is not in codes\.json"),
        ("codes", lambda d: d["codes"][0].update(family="magic"), r"family magic is not in families"),
        ("modifiers", lambda d: d.update(modifiers=d["modifiers"][:-1]), r"no modifier for use separate-evaluation"),
        (
            "agents",
            lambda d: d["agents"][0].update(words=d["agents"][0]["words"][:1] * 2),
            r"agents\[0\]\.words.*listed twice",
        ),
    ],
)
def test_what_a_file_may_not_say(tmp_path, name, change, message):
    directory = _copy(tmp_path)
    _edit(directory, name, change)
    with pytest.raises(KnowledgeError, match=message):
        load(directory)


def test_not_json_and_a_missing_file_are_refused(tmp_path):
    directory = _copy(tmp_path)
    (directory / "modifiers.json").write_text("{")
    with pytest.raises(KnowledgeError, match=r"modifiers\.json: not valid JSON"):
        load(directory)
    (directory / "modifiers.json").unlink()
    with pytest.raises(KnowledgeError, match=r"modifiers\.json: file is missing"):
        load(directory)

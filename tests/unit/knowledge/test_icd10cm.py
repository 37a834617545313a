"""data/icd10cm.json: the ICD-10-CM codes and titles the knowledge base uses, generated from the
simple-icd-10-cm package's tables (`make icd10cm`) so that the service never loads the package."""

from __future__ import annotations

import json

import pytest
import simple_icd_10_cm as icd

from cpt64640_cds.knowledge.icd10cm import icd10cm_data, icd10cm_json
from cpt64640_cds.knowledge.loader import KNOWLEDGE_DIR, KnowledgeError, load, write_icd10cm
from cpt64640_cds.knowledge.words import IndicationsFile

from .test_model import _copy, _edit

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _indications() -> IndicationsFile:
    return IndicationsFile.model_validate_json((KNOWLEDGE_DIR / "indications.json").read_text(encoding="utf-8"))


def _expanded(codes) -> set[str]:
    return {each for code in codes for each in (code, *icd.get_descendants(code))}


def test_the_committed_file_is_the_one_the_package_generates():
    committed = (KNOWLEDGE_DIR / "icd10cm.json").read_text(encoding="utf-8")
    assert json.loads(committed) == icd10cm_data(_indications()), "run `make icd10cm` and commit the result"
    assert committed == icd10cm_json(_indications()), "run `make icd10cm` (the layout differs)"


def test_the_loaded_codes_titles_and_leaves_are_the_packages():
    kb = load()
    groups = _expanded(code for group in kb.indication_groups for code in group.icd10cm)
    assert set(kb.icd10cm_groups) == groups
    assert dict(kb.icd10cm_titles) == {code: icd.get_description(code) for code in groups}
    assert kb.icd10cm_billable == {code for code in groups if icd.is_leaf(code)}
    assert set(kb.icd10cm_nerves) == _expanded(code for fit in _indications().nerve_specific for code in fit.icd10cm)
    assert kb.family_history_icd10cm == _expanded(_indications().family_history.icd10cm)


def test_a_code_listed_without_regenerating_stops_start_up_until_make_icd10cm_brings_it_in(tmp_path):
    directory = _copy(tmp_path)
    _edit(directory, "indications", lambda d: d["groups"][0]["icd10cm"].append("G54.0"))
    with pytest.raises(KnowledgeError, match=r"groups\[0\]\.icd10cm: G54\.0 is not in icd10cm\.json.*make icd10cm"):
        load(directory)
    write_icd10cm(directory)
    kb = load(directory)
    group = kb.indication_group(ICD10CM, "G540")
    assert group is not None and group.id == kb.indication_groups[0].id
    assert kb.diagnosis_title(ICD10CM, "G54.0") == icd.get_description("G54.0")


def test_a_covered_code_without_a_title_stops_start_up(tmp_path):
    directory = _copy(tmp_path)
    _edit(directory, "icd10cm", lambda d: d["titles"].pop("G56.01"))
    with pytest.raises(KnowledgeError, match=r"indications\.json: no title in icd10cm\.json for G56\.01"):
        load(directory)


def test_the_generator_refuses_a_code_the_package_does_not_know():
    data = json.loads((KNOWLEDGE_DIR / "indications.json").read_text(encoding="utf-8"))
    data["familyHistory"]["icd10cm"].append("Z99.99")
    with pytest.raises(ValueError, match=r"Z99\.99 is not an ICD-10-CM code"):
        icd10cm_data(IndicationsFile.model_validate_json(json.dumps(data)))

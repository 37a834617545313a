"""Card wording for narrow EHR panels: agreement, labels without resource ids, a line list that does not wrap
inside a code, and the evidence line in coders' words (the FHIR paths stay in `extension`)."""

from __future__ import annotations

import pytest

from cpt64640_cds.cards.evidence import found_in
from cpt64640_cds.facts.model import Evidence
from cpt64640_cds.knowledge.grammar import agree, count, is_plural

from ..factory import KB, episode, facts, indication
from .test_render import ORDER, _cards


def _name(nerve_id: str) -> str:
    return KB.nerves[nerve_id].name


@pytest.mark.parametrize(
    ("nerve_id", "plural"),
    [("genicular", True), ("lateral-femoral-cutaneous", False), ("ilioinguinal", False)],
)
def test_knowledge_base_nerve_names_agree_in_number(nerve_id, plural):
    name = _name(nerve_id)
    assert is_plural(name) is plural
    assert agree(name, "has", "have") == ("have" if plural else "has")


def test_a_gloss_in_parentheses_does_not_make_a_singular_name_plural():
    assert not is_plural("trigeminal nerve (branch not stated)")
    assert is_plural("facet joint nerves (medial branches)")
    assert not is_plural("celiac plexus")


def test_counts_agree():
    assert [count(1, "line"), count(2, "line"), count(3, "branch", "branches")] == ["1 line", "2 lines", "3 branches"]


def test_every_knowledge_base_nerve_name_reads_as_its_head_noun_says():
    for nerve in KB.nerves.values():
        head = nerve.name.split("(")[0].split()
        assert is_plural(nerve.name) is any(w in ("nerves", "branches") for w in head), nerve.name


def test_the_more_specific_reason_agrees_with_a_plural_nerve():
    [card] = _cards(facts(episode(nerve="genicular", indications=(indication("M17.12"),))))
    assert "genicular nerves have their own code" in card["detail"]
    assert "nerves has" not in card["detail"]


def test_labels_and_action_descriptions_name_no_resource():
    [card] = _cards(facts(episode(codes=("64450",))), {"ServiceRequest/sr-1": ORDER})
    labels = [s["label"] for s in card["suggestions"]]
    assert labels == ["Add 64640-LT: left lateral femoral cutaneous nerve", "Code the order as 64640"]
    descriptions = [a["description"] for s in card["suggestions"] for a in s["actions"]]
    assert descriptions and not any("sr-1" in d or "ServiceRequest" in d for d in labels + descriptions)
    assert all(len(label) <= 80 for label in labels)


def test_the_line_list_keeps_each_code_whole_and_has_no_wide_table():
    [card] = _cards(facts(episode()))
    assert "|---" not in card["detail"]
    assert "- **64640\u2011LT** · 1 unit · left lateral femoral cutaneous nerve · 2026-11-20" in card["detail"]
    assert "Diagnosis: G57.12 Meralgia paresthetica, left lower limb" in card["detail"]


def test_the_why_line_names_records_in_coders_words_and_keeps_rule_and_version():
    [card] = _cards(facts(episode()))
    why = card["detail"].split("**Why:**")[1]
    assert f"rule `line-suggestion`, rule set {KB.version}." in why
    assert (
        "Read from the procedure order (phenol 6% 3 mL, left lateral femoral cutaneous nerve, ultrasound guidance)"
        in why
    )
    assert "bodySite" not in why and "ServiceRequest/" not in why
    fields = card["extension"]["cpt64640-cds.explanation"]["evidence"][0]["fields"]
    assert any(f.startswith("bodySite") for f in fields)  # the paths are still there, as data


def test_records_of_one_kind_are_counted_and_a_condition_code_is_a_diagnosis():
    evidence = [
        Evidence("ServiceRequest/a", ("bodySite[0].text",)),
        Evidence("ServiceRequest/b", ("note[0].text",)),
        Evidence("Condition/c", ("code",)),
    ]
    assert found_in(evidence, [], KB) == "2 procedure orders (nerve and side, notes); condition (diagnosis)"


def test_a_record_a_nerve_episode_came_from_says_what_was_found():
    source = "ServiceRequest/o"
    order = episode(agent="dehydrated-alcohol", concentration_pct=None, guidance=("fluoroscopy",), source=source)
    evidence = [Evidence(source, ("bodySite",)), Evidence("Condition/c", ("code",))]
    assert found_in(evidence, [order], KB) == (
        "procedure order (dehydrated alcohol 3 mL, left lateral femoral cutaneous nerve, fluoroscopic guidance); "
        "condition (diagnosis)"
    )


def test_a_dose_another_one_says_more_about_is_not_repeated():
    from dataclasses import replace

    from cpt64640_cds.facts.model import Dose

    order = episode(source="ServiceRequest/o")
    fuller = order.doses[0]
    named_only = Dose("phenol", fuller.klass, 6.0, None, "MedicationRequest/m", "medicationCodeableConcept.text")
    other = Dose("phenol", fuller.klass, 10.0, None, "MedicationRequest/m", "dosageInstruction[0].text")
    order = replace(order, doses=(named_only, fuller, other))
    evidence = [Evidence("ServiceRequest/o", ("bodySite",))]
    assert found_in(evidence, [order], KB) == (
        "procedure order (phenol 6% 3 mL, phenol 10%, left lateral femoral cutaneous nerve, ultrasound guidance)"
    )

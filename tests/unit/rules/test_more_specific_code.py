"""more-specific-code: a nerve with its own destruction code gets that code's lines, never a 64640 line."""

from __future__ import annotations

from cpt64640_cds.rules.findings import OrderUpdate
from cpt64640_cds.rules.more_specific_code import run

from ..factory import episode, findings_of, indication, lines


def test_genicular_nerves_coded_64640_are_64624_and_the_order_is_recoded():
    [finding] = findings_of(run, episode(nerve="genicular", indications=(indication("M17.12"),)))
    assert finding.indicator == "warning"  # the order claims 64640
    assert finding.summary == "Use 64624 for the genicular nerves, not 64640"
    assert lines(finding) == [("64624", ("LT",), 1, "genicular nerves", "left")]
    [option] = finding.options
    assert option.recommended and option.updates == (OrderUpdate("ServiceRequest/sr-1", "64624", ("64640",)),)


def test_an_uncoded_order_is_told_the_code_as_information():
    [finding] = findings_of(run, episode(nerve="genicular", codes=()))
    assert finding.indicator == "info"
    assert finding.summary == "Bill 64624 for the genicular nerves"


def test_intercostal_nerves_are_one_unit_per_level():
    [finding] = findings_of(run, episode(nerve="intercostal", side="right", codes=(), levels=("t8", "t9", "t10")))
    assert lines(finding) == [("64620", ("RT",), 3, "intercostal nerve", "right")]


def test_lumbar_facet_joints_by_thermal_ablation_are_the_first_joint_and_the_add_on():
    facet = episode(
        nerve="facet",
        agent=None,
        treatment="thermal",
        codes=(),
        spinal_regions=("lumbar", "sacral"),
        joints=(("l4", "l5"), ("l5", "s1")),
    )
    [finding] = findings_of(run, facet)
    facet_nerves = "facet joint nerves (medial branches)"
    assert lines(finding) == [("64635", ("LT",), 1, facet_nerves, "left"), ("64636", ("LT",), 1, facet_nerves, "left")]


def test_a_trigeminal_nerve_without_its_branch_is_a_choice_none_recommended():
    [finding] = findings_of(run, episode(nerve="trigeminal"))
    assert finding.summary == "Trigeminal nerve (branch not stated): choose 64600 or 64605 or 64610, not 64640"
    assert [line.code for line in finding.lines] == ["64600", "64605", "64610"]
    assert not any(option.recommended for option in finding.options)


def test_no_card_when_the_order_already_carries_the_specific_code_or_the_nerve_is_64640s():
    assert findings_of(run, episode(nerve="genicular", codes=("64624",))) == []
    assert findings_of(run, episode()) == []

"""line-suggestion: one 64640 line per distinct nerve and side, and a recoding when the order is not coded 64640."""

from __future__ import annotations

from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.rules.findings import OrderUpdate
from cpt64640_cds.rules.line_suggestion import run

from ..factory import KB, MERALGIA, episode, findings_of, lines


def test_a_64640_order_for_a_sided_nerve_is_one_line_with_its_side():
    [finding] = findings_of(run, episode())
    assert finding.indicator == "info"
    assert finding.summary == "Bill 64640-LT for the lateral femoral cutaneous nerve, left"
    assert lines(finding) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [line] = finding.lines
    assert line.services == ("ServiceRequest/sr-1",) and line.reasons == (MERALGIA,) and not line.performed
    assert [option.updates for option in finding.options] == [()]  # already coded 64640: nothing to recode
    assert [e.reference for e in finding.evidence] == ["ServiceRequest/sr-1"]


def test_a_performed_procedure_is_a_billable_line():
    [finding] = findings_of(run, episode(stage="performed", side="right", nerve="greater-occipital"))
    [line] = finding.lines
    assert (line.label, line.performed, line.services) == ("64640-RT", True, ("Procedure/proc-1",))


def test_two_nerves_on_one_side_the_second_line_carries_59_or_the_configured_modifier():
    obturator = episode(nerve="obturator", source="ServiceRequest/sr-1")
    musculocutaneous = episode(nerve="musculocutaneous", source="ServiceRequest/sr-2")
    [finding] = findings_of(run, obturator, musculocutaneous)
    assert [line.label for line in finding.lines] == ["64640-LT", "64640-LT-59"]
    assert finding.summary == "Bill 2 lines of 64640: 64640-LT, 64640-LT-59"
    [finding] = findings_of(run, obturator, musculocutaneous, policy=ModifierPolicy.of(KB, "XS"))
    assert [line.label for line in finding.lines] == ["64640-LT", "64640-LT-XS"]


def test_a_look_alike_block_code_with_phenol_gets_the_line_and_a_recoding():
    [finding] = findings_of(run, episode(codes=("64450",)))
    assert lines(finding) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [_, recode] = finding.options
    assert recode.updates == (OrderUpdate("ServiceRequest/sr-1", "64640", ("64450",)),)
    assert "the second suggestion recodes it" in finding.detail


def test_a_nerve_the_knowledge_base_does_not_know_is_billed_as_written_with_a_caution():
    [finding] = findings_of(run, episode(nerve=None, nerve_text="medial antebrachial cutaneous nerve", side="right"))
    assert lines(finding) == [("64640", ("RT",), 1, "medial antebrachial cutaneous nerve", "right")]
    assert "Not in the knowledge base, billed as written: medial antebrachial cutaneous nerve" in finding.detail


def test_no_line_for_a_sided_nerve_without_its_side():
    assert findings_of(run, episode(side=None)) == []


def test_no_line_for_a_block_or_a_nerve_with_its_own_code():
    assert findings_of(run, episode(agent="bupivacaine", concentration_pct=0.25, volume_ml=5.0)) == []
    assert findings_of(run, episode(nerve="genicular", codes=())) == []

"""billed-differs: the documented lines held to what was billed, pair by pair, only in a review after the fact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cpt64640_cds.facts.model import BilledLine, Evidence
from cpt64640_cds.rules import billed_differs, imaging_bundled, line_suggestion, more_specific_code

from ..factory import TODAY, episode, facts, inputs


def _billed(code: str, *modifiers: str, units: int = 1, item: int | None = None, ref: str = "") -> BilledLine:
    reference = ref or (f"Claim/c{code}" if item else f"ChargeItem/c{code}{''.join(modifiers)}{units}")
    return BilledLine(reference, item, code, tuple(sorted(modifiers)), units, TODAY, Evidence(reference, ("code",)))


def _review(*billed: BilledLine, episodes=None):
    record = replace(facts(*(episodes or [episode(stage="performed")])), review=True, billed=list(billed))
    given = inputs(record)
    return billed_differs.run(record, given), record, given


def _pairs(findings):
    return [
        (
            [(d.code, d.modifiers, d.units) for d in f.documented],
            [(b.code, b.modifiers, b.units) for b in f.billed],
        )
        for f in findings
    ]


def test_billed_as_documented_draws_nothing():
    found, _, _ = _review(_billed("64640", "LT"))
    assert found == []


def test_nothing_billed_is_a_missing_line_offered_for_billing():
    [finding], _, _ = _review()
    assert _pairs([finding]) == [([("64640", ("LT",), 1)], [])]
    assert finding.summary.startswith("Not billed: 64640-LT") and finding.lines == finding.documented


@pytest.mark.parametrize(
    ("billed", "differ"),
    [(_billed("64640", "LT", units=3), "units"), (_billed("64640"), "modifiers"), (_billed("64640", "RT"), None)],
)
def test_the_same_code_with_other_units_or_modifiers_is_replaced(billed, differ):
    found, _, _ = _review(billed)
    if differ is None:  # the other side: a line nothing documents, and the documented one missing
        assert sorted(_pairs(found)) == [([], [("64640", ("RT",), 1)]), ([("64640", ("LT",), 1)], [])]
        return
    [finding] = found
    assert _pairs([finding]) == [([("64640", ("LT",), 1)], [(billed.code, billed.modifiers, billed.units)])]
    assert differ in finding.summary
    [option] = finding.options
    assert option.deletes == (billed.reference,) and option.lines == finding.documented


def test_a_more_specific_code_billed_as_64640():
    knee = episode(nerve="genicular", side="right", stage="performed", source="Procedure/knee")
    [finding], _, _ = _review(_billed("64640", "RT"), episodes=[knee])
    assert _pairs([finding]) == [([("64624", ("RT",), 1)], [("64640", ("RT",), 1)])]
    assert "another code" in finding.summary


def test_a_claim_item_gets_no_suggestion_its_office_corrects_it():
    [finding], _, _ = _review(_billed("64640", "LT", units=2, item=1))
    assert finding.options == () and finding.billed[0].item == 1


def test_separately_billed_guidance_with_a_code_that_includes_it():
    found, _, _ = _review(_billed("64640", "LT"), _billed("76942"))
    [finding] = found
    assert _pairs([finding]) == [([], [("76942", (), 1)])] and "included in 64640" in finding.summary


def test_order_time_calls_are_not_reviews_and_a_review_silences_the_order_time_rules():
    order_time = facts(episode(stage="performed"))
    order_time.billed = [_billed("76942")]
    assert billed_differs.run(order_time, inputs(order_time)) == []
    _, record, given = _review(episodes=[episode(stage="performed", nerve="genicular")])
    for rule in (line_suggestion, imaging_bundled):
        assert rule.run(record, given) == []
    assert more_specific_code.run(record, given) == []  # the specific code is billed-differs' to hold the bill to


def test_a_billed_block_nothing_pairs_with_is_not_this_rules_but_a_billed_destruction_is():
    nothing_documented = [episode(stage="performed", nerve="genicular", side="left", agent="lidocaine")]
    found, _, _ = _review(_billed("64450", "RT"), _billed("64640", "RT"), episodes=nothing_documented)
    assert _pairs(found) == [([], [("64640", ("RT",), 1)])]
    assert found[0].summary.startswith("Billed 64640-RT: not supported")

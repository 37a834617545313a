"""coding.lines: the modifier policy of docs/cards.md, applied to planned lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cpt64640_cds.coding.choice import choose
from cpt64640_cds.coding.lines import Line, ModifierPolicy, apply, plan
from cpt64640_cds.knowledge.loader import load

from ..factory import episode

KB = load()

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)


def _line(nerve: str, side: str | None, when: date = D1, code: str = "64640") -> Line:
    return Line(code, (), 1, nerve, nerve, side, when, None, ("ServiceRequest/x",), (), False)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([_line("lfcn", "left")], [("LT",)]),
        ([_line("lfcn", "right")], [("RT",)]),
        # Left and right of one nerve: two lines, RT and LT, no 59.
        ([_line("lfcn", "right"), _line("lfcn", "left")], [("RT",), ("LT",)]),
        # Two nerves, same side, same date: the second carries 59.
        ([_line("obturator", "left"), _line("musculocutaneous", "left")], [("LT",), ("LT", "59")]),
        # Three nerves on one side: every line after the first carries 59.
        (
            [_line("obturator", "left"), _line("musculocutaneous", "left"), _line("tibial", "left")],
            [("LT",), ("LT", "59"), ("LT", "59")],
        ),
        # Mixed sides: 59 only among lines with the same laterality modifier.
        (
            [_line("obturator", "left"), _line("tibial", "right"), _line("musculocutaneous", "left")],
            [("LT",), ("RT",), ("LT", "59")],
        ),
        # Different dates of service are independent.
        ([_line("obturator", "left", D1), _line("tibial", "left", D2)], [("LT",), ("LT",)]),
        # An unsided nerve has no laterality; a second one the same day is still distinct.
        ([_line("a", None), _line("b", None)], [(), ("59",)]),
    ],
)
def test_modifier_policy(lines, expected):
    assert [line.modifiers for line in apply(lines, ModifierPolicy.of(KB))] == expected


def test_xs_instead_of_59_when_configured():
    lines = apply([_line("obturator", "left"), _line("musculocutaneous", "left")], ModifierPolicy.of(KB, "XS"))
    assert [line.modifiers for line in lines] == [("LT",), ("LT", "XS")]


def test_right_and_left_of_one_nerve_are_one_line_with_50_in_the_bilateral_profile():
    [line] = apply([_line("lfcn", "right"), _line("lfcn", "left")], ModifierPolicy.of(KB, bilateral_as_50=True))
    assert (line.modifiers, line.side) == (("50",), "bilateral")


def test_no_line_is_planned_for_an_episode_whose_record_names_conflicting_sides():
    conflicted = replace(episode(side=None), side_conflict=("bodySite[0].text", "note[0].text"))
    unsided = replace(episode(nerve="basivertebral", side=None, codes=()), side_conflict=("bodySite[0].text",))
    coded = [(e, choose(e, KB)) for e in (conflicted, unsided, episode())]
    assert [line.side for line in plan(coded, KB, D1, ModifierPolicy.of(KB))] == ["left"]

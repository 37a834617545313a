"""global-period: an E/M service inside a proposed code's global period without modifier 25."""

from __future__ import annotations

from datetime import timedelta

from cpt64640_cds.rules.findings import ModifierUpdate
from cpt64640_cds.rules.global_period import run

from ..factory import TODAY, em_service, episode, findings_of


def test_an_em_order_on_the_day_of_64640_gets_a_25_line_to_choose():
    [finding] = findings_of(run, episode(), em_services=[em_service("99214")])
    assert finding.indicator == "info"
    assert finding.summary == "99214 falls in the 0-day global period of 64640: add 25 only if separate"
    [option] = finding.options
    assert not option.recommended  # the coder's judgement
    assert [(line.code, line.modifiers, line.services) for line in option.lines] == [
        ("99214", ("25",), ("ServiceRequest/sr-visit",))
    ]


def test_an_em_charge_item_is_updated_with_25():
    [finding] = findings_of(run, episode(), em_services=[em_service("99213", reference="ChargeItem/ci-1")])
    assert finding.options[0].modifier_updates == (ModifierUpdate("ChargeItem/ci-1", "25"),)


def test_a_ten_day_global_period_reaches_a_visit_days_later():
    intercostal = episode(nerve="intercostal", side="right", codes=(), levels=("t8",))
    [finding] = findings_of(run, intercostal, em_services=[em_service(when=TODAY + timedelta(days=7))])
    assert finding.summary == "99214 falls in the 10-day global period of 64620: add 25 only if separate"


def test_no_card_with_25_or_for_a_visit_the_day_after_64640():
    assert findings_of(run, episode(), em_services=[em_service(modifiers=("25",))]) == []
    assert findings_of(run, episode(), em_services=[em_service(when=TODAY + timedelta(days=1))]) == []

"""global-period: an E/M service (99202-99215) on the procedure date, inside the global period, without
the separate-visit modifier 25 (sources.md#global-period; each code's global days are in codes.json).
"""

from __future__ import annotations

from datetime import date, timedelta

from ..coding.lines import Line
from ..facts.model import EmService, Facts
from .common import fit
from .findings import Finding, ModifierUpdate, Option
from .inputs import RuleInputs

RULE_ID = "global-period"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    windows: list[tuple[str, int, date, date, str | None]] = []  # code, days, first day, last day, encounter
    for episode, choice in inputs.coded.chosen("line", "specific"):
        if choice.code is None:
            continue
        days = kb.codes[choice.code].global_days
        if days is None:
            continue
        start = episode.date or facts.today
        try:
            end = start + timedelta(days=days)
        except OverflowError:  # a date of service at the end of the calendar
            end = date.max
        windows.append((choice.code, days, start, end, episode.encounter))
    findings = []
    for service in facts.em_services:
        if inputs.kb.modifier_for("separate-evaluation") in service.modifiers:
            continue
        window = next(
            (
                w
                for w in windows
                if (service.date is not None and w[2] <= service.date <= w[3])
                or (service.date is None and service.encounter and service.encounter == w[4])
            ),
            None,
        )
        if window is not None:
            findings.append(_finding(service, window, facts, inputs))
    return findings


def _finding(
    service: EmService, window: tuple[str, int, date, date, str | None], facts: Facts, inputs: RuleInputs
) -> Finding:
    code, days, start, _, _ = window
    separate = inputs.kb.modifier_for("separate-evaluation")
    period = "the day of the procedure" if days == 0 else f"the day of the procedure and {days} days after"
    if service.reference.startswith("ChargeItem/"):
        option = Option(
            f"Add modifier {separate} to the {service.code} line",
            modifier_updates=(ModifierUpdate(service.reference, separate),),
            recommended=False,
        )
    else:
        line = Line(
            code=service.code,
            modifiers=(separate,),
            units=1,
            nerve_id=None,
            nerve_name="evaluation and management visit",
            side=None,
            date=service.date or start,
            encounter=service.encounter,
            services=(service.reference,),
            reasons=(),
            performed=service.reference.startswith("Procedure/"),
        )
        option = Option(f"Bill {service.code}-{separate} (separately identifiable)", lines=(line,), recommended=False)
    return Finding(
        rule_id=RULE_ID,
        indicator="info",
        summary=fit(f"{service.code} falls in the {days}-day global period of {code}: add {separate} only if separate"),
        detail=(
            f"{code} has a {days}-day global period ({period}): the evaluation that leads to the procedure is "
            f"part of it. `{service.reference}` ({service.code}, {service.date or 'same encounter'}) carries no "
            f"modifier {separate}. If the visit addressed a significant, separately identifiable problem, report "
            f"it with modifier {separate}; otherwise do not report it."
        ),
        evidence=(service.evidence,),
        options=(option,),
    )

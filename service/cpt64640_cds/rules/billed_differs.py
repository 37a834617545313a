"""billed-differs: at discharge, what was billed for the encounter against what its documentation supports.

The documented lines are the coding stage's (`CodedFacts.billable`: one per nerve and side, the more specific
code where one applies); the billed ones are the encounter's Claim items, or else its ChargeItems
(facts/billing.py). They are paired in steps, each step taking only what the earlier ones left: the same line
(no finding), the same code with other modifiers or units, another code for the same side, then what is left on
either side: a documented line nobody billed, or a billed destruction nothing documents (a billed block or
chemodenervation code left over is not this rule's: the chart claims no destruction for it). Image guidance
billed beside a code that includes it is a finding of its own (sources.md#image-guidance-inclusion). Each finding
carries one documented line and/or one billed line, so the audit writes one row per finding.
"""

from __future__ import annotations

from ..coding.lines import Line
from ..facts.model import BilledLine, Evidence, Facts
from ..knowledge.base import Knowledge
from .common import bill_label, fit, merge_evidence
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "billed-differs"
TIMES = "\N{MULTIPLICATION SIGN}"  # "64640-LT x 1": units, as a coder writes them
SIDES = frozenset({"LT", "RT", "50"})


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    if not facts.review:
        return []
    kb = inputs.kb
    documented = list(inputs.coded.billable)
    guidance = [b for b in facts.billed if kb.family(b.code) == "imaging-guidance"]
    billed = [b for b in facts.billed if kb.family(b.code) != "imaging-guidance"]
    findings: list[Finding] = []
    for step in (_same, _same_code, _same_side):
        for line in list(documented):
            match = next((b for b in billed if step(line, b)), None)
            if match is None:
                continue
            documented.remove(line)
            billed.remove(match)
            if step is not _same:
                findings.append(_differs(line, match, facts, kb))
    findings += [_missing(line, facts) for line in documented]
    # A billed block, chemodenervation or unlisted code nothing pairs with is outside this rule: the chart claims
    # no destruction for it (a plain nerve block is no episode at all). A billed destruction is.
    findings += [_unsupported(b) for b in billed if _destroys(b.code, kb)]
    including = sorted({line.code for line in inputs.coded.billable if kb.codes[line.code].imaging_included})
    if including:
        findings += [_guidance(b, including[0], kb) for b in guidance]
    return findings


def _destroys(code: str, kb: Knowledge) -> bool:
    family = kb.family_of(code)
    return family is not None and family.episode == "destruction"


def _sides(modifiers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(modifiers) & SIDES


def _same(line: Line, billed: BilledLine) -> bool:
    return line.code == billed.code and set(line.modifiers) == set(billed.modifiers) and line.units == billed.units


def _same_code(line: Line, billed: BilledLine) -> bool:
    return line.code == billed.code and (
        not _sides(billed.modifiers) or _sides(line.modifiers) == _sides(billed.modifiers)
    )


def _same_side(line: Line, billed: BilledLine) -> bool:
    return _sides(line.modifiers) == _sides(billed.modifiers)


def _evidence(line: Line | None, billed: BilledLine | None, facts: Facts) -> tuple[Evidence, ...]:
    """The records of the episodes a documented line bills for, then the billed line's."""
    episodes = [e for e in facts.episodes if line is not None and e.source in line.services]
    return merge_evidence(episodes) + ((billed.evidence,) if billed is not None else ())


def _written(line: Line) -> str:
    return f"{line.label} {TIMES} {line.units} ({f'{line.side} ' if line.side else ''}{line.nerve_name}, {line.date})"


def _bill(billed: BilledLine) -> str:
    where = f"claim item {billed.item}" if billed.item is not None else "charge"
    return f"{billed.label} {TIMES} {billed.units} ({where})"


def _fix(line: Line | None, billed: BilledLine, label: str) -> tuple[Option, ...]:
    """A charge can be replaced or removed; a claim already sent is corrected by the billing office, so a claim
    item's finding offers no suggestion."""
    if billed.item is not None:
        return ()
    return (Option(label, (line,) if line else (), deletes=(billed.reference,)),)


def _differs(line: Line, billed: BilledLine, facts: Facts, kb: Knowledge) -> Finding:
    if line.code != billed.code:
        summary = f"Billed {billed.label}, documented {line.label}: another code"
        reason = f"{kb.codes[line.code].display} ({line.code}) codes what was documented, not {billed.code}."
    else:
        differ = [
            name
            for name, different in (
                ("modifiers", set(line.modifiers) != set(billed.modifiers)),
                ("units", line.units != billed.units),
            )
            if different
        ]
        summary = (
            f"Billed {billed.label} {TIMES} {billed.units}, documented {line.label} {TIMES} {line.units}: "
            + " and ".join(differ)
        )
        reason = "One line per distinct nerve and side, one unit each, with its side modifier."
    return Finding(
        rule_id=RULE_ID,
        indicator="warning",
        summary=fit(summary),
        detail=f"Billed: {_bill(billed)}. Documented: {_written(line)}. {reason}",
        evidence=_evidence(line, billed, facts),
        options=_fix(line, billed, fit(f"Replace with {line.label}")),
        billed=(billed,),
        documented=(line,),
    )


def _missing(line: Line, facts: Facts) -> Finding:
    return Finding(
        rule_id=RULE_ID,
        indicator="warning",
        summary=fit(f"Not billed: {line.label} for the {line.site}"),
        detail=f"Documented: {_written(line)}. Nothing billed for this encounter covers it.",
        evidence=_evidence(line, None, facts),
        options=(Option(bill_label([line], line.code), (line,)),),
        documented=(line,),
    )


def _unsupported(billed: BilledLine) -> Finding:
    return _billed_only(
        billed,
        f"Billed {billed.label}: not supported by this encounter's documentation",
        "No completed procedure of this encounter documents a service it codes: the procedure may be "
        "undocumented, not neurolytic, or documented under another code.",
        "Remove the billed line",
    )


def _guidance(billed: BilledLine, code: str, kb: Knowledge) -> Finding:
    return _billed_only(
        billed,
        f"Billed {billed.label} separately: image guidance is included in {code}",
        kb.codes[code].descriptor,
        "Remove the guidance line",
    )


def _billed_only(billed: BilledLine, summary: str, why: str, label: str) -> Finding:
    """A billed line nothing documented pairs with."""
    return Finding(
        rule_id=RULE_ID,
        indicator="warning",
        summary=fit(summary),
        detail=f"Billed: {_bill(billed)}. {why}",
        evidence=(billed.evidence,),
        options=_fix(None, billed, label),
        billed=(billed,),
    )

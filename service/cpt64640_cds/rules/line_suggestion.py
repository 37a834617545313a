"""line-suggestion: one 64640 line per distinct nerve and side (seed: Coding Guidelines, Multiple Injections).

For a draft order that is not coded 64640 (uncoded, or coded as a block with a neurolytic agent) a second
suggestion recodes the order.
"""

from __future__ import annotations

from ..coding.choice import OTHER_NERVE
from ..coding.lines import Line, plan
from ..facts.model import Facts
from .common import fit, merge_evidence, recode
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "line-suggestion"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    chosen = []
    for coded in inputs.coded:
        episode, choice = coded.episode, coded.choice
        if choice is not None and choice.category == "line":
            chosen.append((episode, choice))
    lines = plan(chosen, kb, facts.today, inputs.policy)
    if not lines:
        return []
    billed = {service for line in lines for service in line.services}
    episodes = [e for e, _ in chosen if e.source in billed]
    options = [
        Option(f"Add billing {'line' if len(lines) == 1 else 'lines'} " + ", ".join(x.label for x in lines), lines)
    ]
    updates = recode(episodes, OTHER_NERVE, kb)
    if updates:
        orders = ", ".join(u.reference for u in updates)
        options.append(Option(f"Code {orders} as {OTHER_NERVE}"[:200], updates=updates))
    limit = kb.codes[OTHER_NERVE].daily_unit_limit
    over = limit is not None and any(sum(x.units for x in lines if x.date == line.date) > limit for line in lines)
    return [
        Finding(
            rule_id=RULE_ID,
            indicator="warning" if over else "info",
            summary=_summary(lines),
            detail=_detail(lines, inputs, bool(updates), limit if over else None),
            evidence=merge_evidence(episodes),
            options=tuple(options),
        )
    ]


def _summary(lines: list[Line]) -> str:
    if len(lines) == 1:
        return fit(f"Bill {lines[0].label} for the {lines[0].site}")
    return fit(f"Bill {len(lines)} lines of {OTHER_NERVE}: " + ", ".join(line.label for line in lines))


def _detail(lines: list[Line], inputs: RuleInputs, recoding: bool, limit_note: str) -> str:
    kb = inputs.kb
    rows = "\n".join(
        f"| {line.label} | {line.nerve_name} | {line.side or 'unsided'} | {line.units} | {line.date.isoformat()} "
        f"| {', '.join(line.services)} |"
        for line in lines
    )
    unknown = sorted({line.nerve_name for line in lines if line.nerve_id is None})
    used = sorted({m for line in lines for m in line.modifiers})
    legend = "; ".join(f"**{m}** {kb.modifiers[m].meaning.lower()}" for m in used)
    parts = [
        f"{kb.codes[OTHER_NERVE].descriptor} One line per distinct nerve and side, one unit each, however many "
        "injections the nerve received.",
        "| Line | Nerve | Side | Units | Date | For |\n|---|---|---|---|---|---|\n" + rows,
    ]
    if legend:
        parts.append(f"Modifiers: {legend}.")
    if unknown:
        parts.append(
            f"Not in the knowledge base, billed as written: {', '.join(unknown)}. Check that no more specific "
            "code names this nerve."
        )
    if recoding:
        parts.append(f"The order is not coded {OTHER_NERVE}; the second suggestion recodes it.")
    if limit_note:
        parts.append(limit_note)
    return "\n\n".join(parts)

"""line-suggestion: one 64640 line per distinct nerve and side (sources.md#multiple-injections).

For a draft order that is not coded 64640 (uncoded, or coded as a block with a neurolytic agent) a second
suggestion recodes the order.
"""

from __future__ import annotations

from ..coding.lines import Line
from ..facts.model import Facts
from .common import fit, merge_evidence, recode, unit_limit_note
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "line-suggestion"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    other_nerve = kb.fallbacks.other_nerve
    proposal = next(iter(inputs.coded.proposals_of("line")), None)
    lines = list(proposal.lines[other_nerve]) if proposal else []
    if proposal is None or not lines:
        return []
    billed = {service for line in lines for service in line.services}
    episodes = [e for e in proposal.episodes if e.source in billed]
    label = f"Add billing {'line' if len(lines) == 1 else 'lines'} " + ", ".join(x.label for x in lines)
    options = [Option(label, tuple(lines))]
    updates = recode(episodes, other_nerve, kb)
    if updates:
        orders = ", ".join(u.reference for u in updates)
        options.append(Option(f"Code {orders} as {other_nerve}"[:200], updates=updates))
    limit_note = unit_limit_note(lines, kb)
    return [
        Finding(
            rule_id=RULE_ID,
            indicator="warning" if limit_note else "info",
            summary=_summary(lines, other_nerve),
            detail=_detail(lines, inputs, bool(updates), limit_note),
            evidence=merge_evidence(episodes),
            options=tuple(options),
        )
    ]


def _summary(lines: list[Line], code: str) -> str:
    if len(lines) == 1:
        return fit(f"Bill {lines[0].label} for the {lines[0].site}")
    return fit(f"Bill {len(lines)} lines of {code}: " + ", ".join(line.label for line in lines))


def _detail(lines: list[Line], inputs: RuleInputs, recoding: bool, limit_note: str) -> str:
    kb = inputs.kb
    other_nerve = kb.fallbacks.other_nerve
    rows = "\n".join(
        f"| {line.label} | {line.nerve_name} | {line.side or 'unsided'} | {line.units} | {line.date.isoformat()} "
        f"| {', '.join(line.services)} |"
        for line in lines
    )
    unknown = sorted({line.nerve_name for line in lines if line.nerve_id is None})
    used = sorted({m for line in lines for m in line.modifiers})
    legend = "; ".join(f"**{m}** {kb.modifiers[m].meaning.lower()}" for m in used)
    parts = [
        f"{kb.codes[other_nerve].descriptor} One line per distinct nerve and side, one unit each, however many "
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
        parts.append(f"The order is not coded {other_nerve}; the second suggestion recodes it.")
    if limit_note:
        parts.append(limit_note)
    return "\n\n".join(parts)

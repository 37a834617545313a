"""more-specific-code: the nerve has its own code, so no 64640 line (sources.md#specific-nerve-coding,
sources.md#nerve-code-crosswalk). Facet nerves are coded by spinal region and joints, thermal destruction only;
chemical facet denervation goes to the unlisted code."""

from __future__ import annotations

from ..coding.coded import Proposal
from ..facts.model import Facts
from .common import bill_label, caution, fit, merge_evidence, recode, unit_limit_note, upper_first
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "more-specific-code"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    # After the fact, billed-differs holds the bill to the specific code; a code left to choose is still asked.
    categories = ("choose",) if facts.review else ("specific", "choose")
    return [_finding(proposal, inputs) for proposal in inputs.coded.proposals_of(*categories)]


def _finding(proposal: Proposal, inputs: RuleInputs) -> Finding:
    kb = inputs.kb
    episodes = proposal.episodes
    nerve = episodes[0].nerve
    assert nerve is not None  # proposed per nerve
    choice = proposal.choice
    other_nerve = kb.fallbacks.other_nerve
    claimed = any(other_nerve in e.cpt_codes for e in episodes)
    codes = choice.codes
    options = []
    limit_notes = []
    for code in codes:
        lines = proposal.lines[code]
        limit_notes.append(unit_limit_note(lines, kb))
        options.append(
            Option(
                bill_label(lines, code),
                lines=tuple(lines),
                updates=recode(episodes, code, kb),
                recommended=choice.category == "specific",
            )
        )
    verb = "Use" if claimed else "Bill"
    if choice.category == "choose":
        summary = fit(f"{upper_first(nerve.name)}: choose {' or '.join(codes)}, not {other_nerve}")
    else:
        summary = fit(f"{verb} {codes[0]} for the {nerve.name}" + (f", not {other_nerve}" if claimed else ""))
    descriptors = "\n".join(f"- **{code}** {kb.codes[code].descriptor}" for code in codes)
    detail = (
        f"{upper_first(choice.reason)}. {other_nerve} is only for a peripheral nerve or branch that no more specific "
        f"code names.\n\n{descriptors}" + caution(choice.confirmed, choice.source)
    )
    detail += "".join(f"\n\n{note}" for note in dict.fromkeys(limit_notes) if note)
    return Finding(
        rule_id=RULE_ID,
        indicator="warning" if claimed else "info",
        summary=summary,
        detail=detail,
        evidence=merge_evidence(episodes),
        options=tuple(options),
    )

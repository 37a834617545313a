"""not-neurolytic: what was done does not destroy the nerve with a neurolytic agent, so it is not 64640.

Anaesthetic and/or steroid only is the nerve's block code (64450 when none is more specific); botulinum toxin
is chemodenervation; pulsed radiofrequency is the unlisted code; cryoneurolysis is 0440T-0442T by region
(sources.md#code-selection-order).
"""

from __future__ import annotations

from ..coding.coded import Proposal
from ..facts.model import Facts
from .common import bill_label, caution, describe_treatment, fit, merge_evidence, recode, upper_first
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "not-neurolytic"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    return [_finding(proposal, inputs) for proposal in inputs.coded.proposals_of("not-neurolytic")]


def _finding(proposal: Proposal, inputs: RuleInputs) -> Finding:
    kb = inputs.kb
    episodes = proposal.episodes
    choice = proposal.choice
    other_nerve = kb.fallbacks.other_nerve
    claimed = any(other_nerve in e.cpt_codes or e.claims_destruction for e in episodes)
    what, things = describe_treatment(episodes[0], kb)
    options: tuple[Option, ...] = ()
    if choice.code is not None:
        lines = proposal.lines[choice.code]
        options = (
            Option(
                bill_label(lines, choice.code, " instead"),
                lines=tuple(lines),
                updates=recode(episodes, choice.code, kb),
            ),
        )
    target = choice.code or choice.family or "the code of what was injected"
    verb = "is" if things == 1 else "are"
    summary = fit(
        f"{upper_first(what)} {verb} not neurolytic: bill {target}" + (f", not {other_nerve}" if claimed else "")
    )
    detail = f"{upper_first(choice.reason)}."
    if choice.code is not None:
        detail += f"\n\n- **{choice.code}** {kb.codes[choice.code].descriptor}"
        if choice.alternatives:
            detail += "\n\nDepending on what was injected: " + ", ".join(choice.alternatives) + "."
        if kb.family(choice.code) == "chemodenervation":
            detail += (
                "\n\nBotulinum toxin into muscle is chemodenervation (64642-64647, by extremity and number of "
                "muscles; additional extremities take add-on codes; RT/LT and 50 do not apply). Destroying the "
                "nerve itself with phenol or alcohol would be 64640."
            )
    detail += caution(choice.confirmed, choice.source)
    return Finding(
        rule_id=RULE_ID,
        indicator="warning",
        summary=summary,
        detail=detail,
        evidence=merge_evidence(episodes),
        options=options,
    )

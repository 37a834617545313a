"""not-neurolytic: what was done does not destroy the nerve with a neurolytic agent, so it is not 64640.

Anaesthetic and/or steroid only is the nerve's block code (64450 when none is more specific); botulinum toxin
is chemodenervation; pulsed radiofrequency is the unlisted code; cryoneurolysis is 0440T-0442T by region
(sources.md#code-selection-order).
"""

from __future__ import annotations

from ..coding.choice import Choice
from ..coding.lines import Line, diagnoses, plan
from ..facts.model import Facts, NerveEpisode
from ..knowledge.base import Knowledge
from .common import bill_label, caution, describe_treatment, fit, merge_evidence, recode, upper_first
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "not-neurolytic"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    groups: dict[tuple[str | None, str | None], list[tuple[NerveEpisode, Choice]]] = {}
    for coded in inputs.coded:
        episode, choice = coded.episode, coded.choice
        if choice is None or choice.category != "not-neurolytic":
            continue
        if choice.code in episode.cpt_codes and not episode.claims_destruction:
            continue  # already coded right (a block coded as a block, cryo as 0441T)
        groups.setdefault((choice.code, episode.treatment), []).append((episode, choice))
    return [_finding(members, facts, inputs) for members in groups.values()]


def _finding(members: list[tuple[NerveEpisode, Choice]], facts: Facts, inputs: RuleInputs) -> Finding:
    kb = inputs.kb
    episodes = [e for e, _ in members]
    choice = members[0][1]
    other_nerve = kb.fallbacks.other_nerve
    claimed = any(other_nerve in e.cpt_codes or e.claims_destruction for e in episodes)
    what = describe_treatment(episodes[0], kb)
    options: tuple[Option, ...] = ()
    if choice.code is not None:
        if kb.family(choice.code) == "chemodenervation":
            lines = [_chemodenervation_line(choice.code, choice.target or "muscles injected", episodes, facts, kb)]
        else:
            lines = plan(members, kb, facts.today, inputs.policy)
        options = (
            Option(
                bill_label(lines, choice.code, " instead"),
                lines=tuple(lines),
                updates=recode(episodes, choice.code, kb),
            ),
        )
    target = choice.code or choice.family or "the code of what was injected"
    summary = fit(f"{upper_first(what)} is not neurolytic: bill {target}" + (f", not {other_nerve}" if claimed else ""))
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


def _chemodenervation_line(code: str, target: str, episodes: list[NerveEpisode], facts: Facts, kb: Knowledge) -> Line:
    """Chemodenervation is coded per extremity or area, without laterality: one line naming the target."""
    return Line(
        code=code,
        modifiers=(),
        units=1,
        nerve_id=None,
        nerve_name=target,
        side=None,
        date=min(e.date or facts.today for e in episodes),
        encounter=next((e.encounter for e in episodes if e.encounter), facts.encounter),
        services=tuple(dict.fromkeys(e.source for e in episodes)),
        reasons=diagnoses(episodes, kb),
        performed=any(e.stage == "performed" for e in episodes),
    )

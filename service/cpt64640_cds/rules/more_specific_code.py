"""more-specific-code: the nerve has its own code, so no 64640 line (sources.md#specific-nerve-coding,
sources.md#nerve-code-crosswalk). Facet nerves are coded by spinal region and joints, thermal destruction only;
chemical facet denervation goes to the unlisted code."""

from __future__ import annotations

from ..coding.choice import Choice
from ..coding.lines import plan
from ..facts.model import Facts, NerveEpisode
from .common import bill_label, caution, fit, merge_evidence, recode, unit_limit_note, upper_first
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "more-specific-code"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    by_nerve: dict[str, list[tuple[NerveEpisode, Choice]]] = {}
    for coded in inputs.coded:
        episode, choice = coded.episode, coded.choice
        if choice is None or choice.category not in ("specific", "choose") or episode.nerve is None:
            continue
        if set(choice.codes) & set(episode.cpt_codes):
            continue  # the order already carries the right code
        by_nerve.setdefault(episode.nerve.id, []).append((episode, choice))
    return [_finding(members, facts, inputs) for members in by_nerve.values()]


def _finding(members: list[tuple[NerveEpisode, Choice]], facts: Facts, inputs: RuleInputs) -> Finding:
    kb = inputs.kb
    episodes = [e for e, _ in members]
    nerve = episodes[0].nerve
    assert nerve is not None  # grouped by nerve id
    choice = members[0][1]
    other_nerve = kb.fallbacks.other_nerve
    claimed = any(other_nerve in e.cpt_codes for e in episodes)
    codes = choice.codes
    options = []
    limit_notes = []
    for code in codes:
        lines = plan([(e, _with_code(c, code)) for e, c in members], kb, facts.today, inputs.policy)
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


def _with_code(choice: Choice, code: str) -> Choice:
    if code == choice.code:
        return choice
    return Choice(choice.category, code, 1, reason=choice.reason, confirmed=choice.confirmed, source=choice.source)

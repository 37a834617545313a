"""line-suggestion: one 64640 line per distinct nerve and side (sources.md#multiple-injections).

For a draft order that is not coded 64640 (uncoded, or coded as a block with a neurolytic agent) a second
suggestion recodes the order.
"""

from __future__ import annotations

from ..coding.lines import Line
from ..facts.indications import billable, diagnosis_code
from ..facts.model import Coding, Facts, Indication, NerveEpisode
from ..knowledge.base import Knowledge
from ..knowledge.grammar import count
from .common import bill_label, fit, merge_evidence, recode, recode_label, unit_limit_note
from .findings import Finding, Option
from .inputs import RuleInputs

RULE_ID = "line-suggestion"
TITLE_LIMIT = 60  # characters of a diagnosis title in a line
NO_BREAK_HYPHEN = "\u2011"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    if facts.review:
        return []  # after the fact, billed-differs compares the lines with the bill instead
    kb = inputs.kb
    other_nerve = kb.fallbacks.other_nerve
    proposal = next(iter(inputs.coded.proposals_of("line")), None)
    lines = list(proposal.lines[other_nerve]) if proposal else []
    if proposal is None or not lines:
        return []
    billed = {service for line in lines for service in line.services}
    episodes = [e for e in proposal.episodes if e.source in billed]
    options = [Option(bill_label(lines, other_nerve), tuple(lines))]
    updates = recode(episodes, other_nerve, kb)
    if updates:
        options.append(Option(recode_label(updates, other_nerve), updates=updates))
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
    # A list, not a table: EHRs show cards in a narrow column (~400 px) where a 7-column table wrapped
    # "64640-LT" at its hyphen; the non-breaking hyphen (U+2011) keeps each code and its modifiers whole.
    rows = "\n".join(
        f"- **{line.label.replace('-', NO_BREAK_HYPHEN)}** · {count(line.units, 'unit')} · "
        f"{f'{line.side} ' if line.side else ''}{line.nerve_name} · {line.date.isoformat()}  \n"
        f"  Diagnosis: {'; '.join(_named(i, kb) for i in line.reasons) or 'none linked'}"
        for line in lines
    )
    unknown = sorted({line.nerve_name for line in lines if line.nerve_id is None})
    used = sorted({m for line in lines for m in line.modifiers})
    legend = "; ".join(f"**{m}** {kb.modifiers[m].meaning.lower()}" for m in used)
    parts = [
        f"{kb.codes[other_nerve].descriptor} One line per distinct nerve and side, one unit each, however many "
        "injections the nerve received.",
        rows,
    ]
    parts += [_unlinked(line, [c.episode for c in inputs.coded.episodes], kb) for line in lines if not line.reasons]
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


def _title(coding: Coding, kb: Knowledge) -> str:
    """A short title: the record's display, else the ICD-10-CM title (never one typed here)."""
    title = coding.display or kb.diagnosis_title(coding.system, coding.code) or ""
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip(" ,;") + "…"


def _named(indication: Indication, kb: Knowledge) -> str:
    return ", ".join(f"{c.code} {_title(c, kb)}".strip() for c in indication.codings)


def _unlinked(line: Line, episodes: list[NerveEpisode], kb: Knowledge) -> str:
    """Why a line carries no diagnosis, and which of its order's reasons stay on the order as context."""
    own = [
        e
        for e in episodes
        if e.source in line.services
        and (e.nerve.id if e.nerve else None) == line.nerve_id
        and (line.side in (None, "bilateral") or e.side == line.side)
    ]
    text = f"No billable ICD-10-CM diagnosis is linked to {line.label} ({line.site})."
    categories = {c.code for e in own for i in e.indications if (c := diagnosis_code(i, kb)) and not billable(i, kb)}
    if categories:
        text += f" {', '.join(sorted(categories))} is a category: code the diagnosis completely."
    reasons = list(dict.fromkeys(r for e in own for r in e.reasons))
    context = [r for r in reasons if not any(c.system == kb.icd10cm_system for c in r.codings)]
    if context:
        said = "; ".join(_context(r, kb) for r in context)
        text += f" Without an ICD-10-CM code, the reason stays on the order as context: {said}."
    unrelated = [
        f"{c.code} {_title(c, kb)}".strip()
        for r in reasons
        if (c := diagnosis_code(r, kb)) and not any(r in e.indications for e in own)
    ]
    if unrelated:
        text += f" Not for this nerve or side: {'; '.join(dict.fromkeys(unrelated))}."
    return text


def _context(indication: Indication, kb: Knowledge) -> str:
    """A reason as written: its codes (SNOMED CT named) and its words."""
    codes = ", ".join(
        f"{'SNOMED CT ' if c.system == kb.snomed_system else ''}{c.code} {c.display or ''}".strip()
        for c in indication.codings
    )
    if codes and indication.text:
        return f'{codes}, "{indication.text}"'
    return codes or f'"{indication.text or ""}"'

"""Cards: findings rendered as CDS Hooks 2.0 cards with FHIR actions (the contract of docs/cards.md).

Every card carries a uuid, a summary under 140 characters, Markdown detail ending in the rule id, rule-set
version and the records it read (in coders' words), `source.topic` = the rule id in this project's rule system,
and the same explanation, FHIR paths included, as machine-readable data in `extension`.
Proposed billing lines are ChargeItems in `create` actions.
Nothing here emits null or an empty string, array or object.
"""

from __future__ import annotations

from typing import Any

from ..reading.findings import MAX_TEXT_CHARS
from ..rules.findings import Finding, Option
from .context import CardContext
from .evidence import found_in, resource_word
from .resources import charge_item, modifier_action, recode_action

SOURCE_LABEL = "CPT 64640 coding assistant"

EXPLANATION_KEY = "cpt64640-cds.explanation"


def render(findings: list[Finding], ctx: CardContext) -> list[dict[str, Any]]:
    return [_card(finding, ctx) for finding in findings]


def _card(finding: Finding, ctx: CardContext) -> dict[str, Any]:
    kb = ctx.kb
    rule = kb.rules[finding.rule_id]
    card: dict[str, Any] = {
        "uuid": ctx.new_id(),
        "summary": finding.summary,
        "indicator": finding.indicator,
        "detail": _detail(finding, ctx),
        "source": {"label": SOURCE_LABEL, "topic": {"system": kb.topic_system, "code": rule.id, "display": rule.title}},
        "extension": {
            EXPLANATION_KEY: {
                "ruleId": rule.id,
                "ruleSetVersion": kb.version,
                "evidence": [
                    {"reference": e.reference, **({"fields": list(e.fields)} if e.fields else {})}
                    for e in finding.evidence
                ],
            }
        },
    }
    card["overrideReasons"] = [
        {"system": ctx.kb.override_system, "code": r.code, "display": r.display} for r in rule.override_reasons
    ]
    if finding.missing:
        card["extension"][EXPLANATION_KEY]["missing"] = list(finding.missing)
    # A review after the fact: both sides of the comparison, as data (each only when there is one).
    if finding.documented:
        card["extension"][EXPLANATION_KEY]["documented"] = [
            {"code": d.code, **_modifiers(d.modifiers), "units": d.units, "nerve": d.nerve_name, "side": d.side}
            for d in finding.documented
        ]
    if finding.billed:
        card["extension"][EXPLANATION_KEY]["billed"] = [
            {
                "reference": b.reference,
                **({"item": b.item} if b.item is not None else {}),
                "code": b.code,
                **_modifiers(b.modifiers),
                "units": b.units,
            }
            for b in finding.billed
        ]
    suggestions = [s for s in (_suggestion(option, ctx) for option in finding.options) if s]
    if suggestions:
        card["suggestions"] = suggestions
        several_recommended = sum(1 for option in finding.options if option.recommended) > 1
        card["selectionBehavior"] = "any" if several_recommended else "at-most-one"
    return card


def _modifiers(modifiers: tuple[str, ...]) -> dict[str, list[str]]:
    return {"modifiers": list(modifiers)} if modifiers else {}  # JSON arrays are never empty (FHIR's rule)


def _suggestion(option: Option, ctx: CardContext) -> dict[str, Any] | None:
    # FHIR transaction order: deletes, then creates, then updates.
    actions: list[dict[str, Any]] = [
        {"type": "delete", "description": f"Remove the {resource_word(reference)}", "resourceId": reference}
        for reference in option.deletes
    ]
    actions += [
        {
            "type": "create",
            "description": f"Add billing line {line.label}: {line.site}",
            "resource": charge_item(line, ctx),
        }
        for line in option.lines
    ]
    actions += [action for update in option.updates if (action := recode_action(update, ctx))]
    actions += [action for update in option.modifier_updates if (action := modifier_action(update, ctx))]
    if not actions:
        return None
    suggestion: dict[str, Any] = {"label": option.label, "uuid": ctx.new_id(), "actions": actions}
    if option.recommended:
        suggestion["isRecommended"] = True
    return suggestion


def _detail(finding: Finding, ctx: CardContext) -> str:
    found = f" Read from the {found_in(finding.evidence, ctx.facts.episodes, ctx.kb)}." if finding.evidence else ""
    parts = [finding.detail, f"**Why:** rule `{finding.rule_id}`, rule set {ctx.kb.version}.{found}"]
    if ctx.facts.unavailable:
        parts.append(
            "**Data not available:** "
            + ", ".join(ctx.facts.unavailable)
            + ". The suggestion may change once it can be read."
        )
    if ctx.facts.incomplete:
        parts.append("**Data incomplete (not every page could be read):** " + ", ".join(ctx.facts.incomplete) + ".")
    if ctx.facts.unread:
        parts.append(
            f"**Text read only in part:** only the first {MAX_TEXT_CHARS:,} characters of a field are read, and "
            + "; ".join(f"`{e.reference}` ({', '.join(e.fields)})" for e in ctx.facts.unread[:5])
            + " held more. What they say past that point was not read."
        )
    if ctx.facts.dropped:
        parts.append(
            "**Entries ignored as invalid FHIR:** "
            + "; ".join(f"{d.resource_type} at {d.where}" for d in ctx.facts.dropped[:5])
            + "."
        )
    return "\n\n".join(parts)

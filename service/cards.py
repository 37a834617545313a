"""Cards: findings rendered as CDS Hooks 2.0 cards with FHIR actions (the contract of docs/cards.md).

Every card carries a uuid, a summary under 140 characters, Markdown detail ending in the rule id, rule-set
version and evidence, `source.topic` = the rule id in this project's rule system, and the same explanation
as machine-readable data in `extension`. Proposed billing lines are ChargeItems in `create` actions.
Nothing here emits null or an empty string, array or object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from .facts import CPT_SYSTEMS, Facts, Indication
from .findings import Finding, Line, ModifierUpdate, Option, OrderUpdate
from .knowledge import Knowledge

SOURCE_LABEL = "CPT 64640 coding assistant"
MODIFIER_EXTENSION = "urn:cpt64640-cds:extension:cpt-modifier"
EXPLANATION_KEY = "cpt64640-cds.explanation"


@dataclass(frozen=True)
class CardContext:
    kb: Knowledge
    facts: Facts
    resources: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # draft orders etc. as sent, by Type/id
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())


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
        "source": {
            "label": SOURCE_LABEL,
            "topic": {"system": kb.topic_system, "code": rule.id, "display": rule.title},
        },
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
    reasons = ctx.kb.overrides_for(rule.id)
    if reasons:
        card["overrideReasons"] = [
            {"system": ctx.kb.override_system, "code": r.code, "display": r.display} for r in reasons
        ]
    if finding.missing:
        card["extension"][EXPLANATION_KEY]["missing"] = list(finding.missing)
    suggestions = [s for s in (_suggestion(option, ctx) for option in finding.options) if s]
    if suggestions:
        card["suggestions"] = suggestions
        several_recommended = sum(1 for option in finding.options if option.recommended) > 1
        card["selectionBehavior"] = "any" if several_recommended else "at-most-one"
    return card


def _suggestion(option: Option, ctx: CardContext) -> dict[str, Any] | None:
    # FHIR transaction order: deletes, then creates, then updates.
    actions = [
        {"type": "delete", "description": f"Remove {reference}", "resourceId": reference}
        for reference in option.deletes
    ]
    actions += [
        {
            "type": "create",
            "description": f"Add billing line {line.label} ({line.site})",
            "resource": charge_item(line, ctx),
        }
        for line in option.lines
    ]
    actions += [action for update in option.updates if (action := _recode(update, ctx))]
    actions += [action for update in option.modifier_updates if (action := _add_modifier(update, ctx))]
    if not actions:
        return None
    suggestion: dict[str, Any] = {"label": option.label, "uuid": ctx.new_id(), "actions": actions}
    if option.recommended:
        suggestion["isRecommended"] = True
    return suggestion


def _valid_fhir(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, KeyError, ValueError, TypeError):
        return False
    return True


def _pruned(value: Any) -> Any:
    """A copy of a client's resource without null, "", [] or {} (FHIR JSON forbids them; some EHRs send them).

    An update action carries the whole resource back; echoing an empty element would make the card invalid.
    """
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _pruned(v)) for k, v in value.items()) if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [v for v in (_pruned(item) for item in value) if v not in (None, "", [], {})]
    return value


def _recode(update: OrderUpdate, ctx: CardContext) -> dict[str, Any] | None:
    """The draft order in its entirety with the CPT code put right (CDS Hooks: update carries the whole resource)."""
    original = ctx.resources.get(update.reference)
    if original is None:
        return None
    order = _pruned(original)
    concept = order["code"] if isinstance(order.get("code"), dict) else {}
    order["code"] = concept
    existing = concept.get("coding") if isinstance(concept.get("coding"), list) else []
    codings = [
        c
        for c in existing
        if isinstance(c, dict) and not (c.get("system") in CPT_SYSTEMS and c.get("code") in update.remove)
    ]
    entry = ctx.kb.codes[update.code]
    codings.append({"system": ctx.kb.cpt_system, "code": update.code, "display": entry.display})
    concept["coding"] = codings
    if not _valid_fhir(order):
        return None  # the order as sent is not valid R4 once its empty elements go: the lines still stand
    removed = f", replacing {', '.join(update.remove)}" if update.remove else ""
    return {
        "type": "update",
        "description": f"Code {update.reference} as CPT {update.code}{removed}",
        "resource": order,
    }


def _modifier_extension(code: str, kb: Knowledge) -> dict[str, Any]:
    modifier = kb.modifiers[code]
    return {
        "url": MODIFIER_EXTENSION,
        "valueCoding": {"system": modifier.system, "code": code, "display": modifier.meaning},
    }


def _add_modifier(update: ModifierUpdate, ctx: CardContext) -> dict[str, Any] | None:
    original = ctx.resources.get(update.reference)
    if original is None:
        return None
    item = _pruned(original)
    item.setdefault("extension", []).append(_modifier_extension(update.modifier, ctx.kb))
    if not _valid_fhir(item):
        return None
    return {
        "type": "update",
        "description": f"Add modifier {update.modifier} to {update.reference}",
        "resource": item,
    }


def _detail(finding: Finding, ctx: CardContext) -> str:
    evidence = "; ".join(
        f"`{e.reference}`" + (f" ({', '.join(e.fields)})" if e.fields else "") for e in finding.evidence
    )
    parts = [finding.detail, f"**Why:** rule `{finding.rule_id}`, rule set {ctx.kb.version}. Evidence: {evidence}."]
    if ctx.facts.unavailable:
        parts.append(
            "**Data not available:** "
            + ", ".join(ctx.facts.unavailable)
            + ". The suggestion may change once it can be read."
        )
    if ctx.facts.incomplete:
        parts.append("**Data incomplete (not every page could be read):** " + ", ".join(ctx.facts.incomplete) + ".")
    if ctx.facts.dropped:
        parts.append(
            "**Entries ignored as invalid FHIR:** "
            + "; ".join(f"{d.resource_type} at {d.where}" for d in ctx.facts.dropped[:5])
            + "."
        )
    return "\n\n".join(parts)


def _concept(indication: Indication) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    codings = [
        {"system": c.system, "code": c.code, **({"display": c.display} if c.display else {})}
        for c in indication.codings
        if c.system and c.code
    ]
    if codings:
        concept["coding"] = codings
    if indication.text:
        concept["text"] = indication.text
    return concept


def charge_item(line: Line, ctx: CardContext) -> dict[str, Any]:
    kb, facts = ctx.kb, ctx.facts
    item: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": ctx.new_id(),
        "status": "billable" if line.performed else "planned",
        "code": {
            "coding": [{"system": kb.cpt_system, "code": line.code, "display": kb.codes[line.code].display}],
            "text": line.label,
        },
        "subject": {"reference": facts.patient},
        "occurrenceDateTime": line.date.isoformat(),
        "quantity": {"value": line.units},
        "bodysite": [{"text": line.nerve_name}],
        "service": [{"reference": ref} for ref in line.services],
    }
    if line.modifiers:
        item["extension"] = [_modifier_extension(m, kb) for m in line.modifiers]
    if line.side:
        side = kb.sides[line.side]
        item["bodysite"].append(
            {"coding": [{"system": kb.snomed_system, "code": side.snomed, "display": line.side.capitalize()}]}
        )
    if line.encounter:
        item["context"] = {"reference": line.encounter}
    if facts.user:
        item["enterer"] = {"reference": facts.user}
    reasons = [c for c in (_concept(i) for i in line.reasons) if c]
    if reasons:
        item["reason"] = reasons
    return item

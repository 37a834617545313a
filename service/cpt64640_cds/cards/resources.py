"""The FHIR resources a card carries: proposed billing lines as ChargeItems, and the client's own draft
orders or ChargeItems echoed whole with a code or modifier put right (CDS Hooks: an update carries the
whole resource). Nothing here emits null or an empty string, array or object.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..coding.lines import Line
from ..facts.model import Indication
from ..knowledge.base import Knowledge
from ..rules.findings import ModifierUpdate, OrderUpdate
from .context import CardContext

MODIFIER_EXTENSION = "urn:cpt64640-cds:extension:cpt-modifier"


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


def recode_action(update: OrderUpdate, ctx: CardContext) -> dict[str, Any] | None:
    """The draft order in its entirety with the CPT code put right (CDS Hooks: update carries the whole resource)."""
    original = ctx.resources.get(update.reference)
    if original is None:
        return None
    order = _pruned(original)
    concept = order["code"] if isinstance(order.get("code"), dict) else {}
    order["code"] = concept
    existing: list[Any] = concept["coding"] if isinstance(concept.get("coding"), list) else []
    codings = [
        c
        for c in existing
        if isinstance(c, dict) and not (c.get("system") in ctx.kb.cpt_systems and c.get("code") in update.remove)
    ]
    entry = ctx.kb.codes[update.code]
    codings.append({"system": ctx.kb.cpt_system, "code": update.code, "display": entry.display})
    concept["coding"] = codings
    if not _valid_fhir(order):
        return None  # the order as sent is not valid R4 once its empty elements go: the lines still stand
    removed = f", replacing {', '.join(update.remove)}" if update.remove else ""
    return {
        "type": "update",
        "description": f"Code the order as CPT {update.code}{removed}",
        "resource": order,
    }


def _modifier_extension(code: str, kb: Knowledge) -> dict[str, Any]:
    modifier = kb.modifiers[code]
    return {
        "url": MODIFIER_EXTENSION,
        "valueCoding": {"system": modifier.system, "code": code, "display": modifier.meaning},
    }


def modifier_action(update: ModifierUpdate, ctx: CardContext) -> dict[str, Any] | None:
    original = ctx.resources.get(update.reference)
    if original is None:
        return None
    item = _pruned(original)
    item.setdefault("extension", []).append(_modifier_extension(update.modifier, ctx.kb))
    if not _valid_fhir(item):
        return None
    codes = [c.get("code") for c in item.get("code", {}).get("coding", []) if isinstance(c, dict) and c.get("code")]
    line = f"the {codes[0]} billing line" if codes else "the billing line"
    return {"type": "update", "description": f"Add modifier {update.modifier} to {line}", "resource": item}


def _reason(indication: Indication, kb: Knowledge) -> dict[str, Any] | None:
    """A line's reason as a CodeableConcept of its ICD-10-CM codings only (SNOMED CT stays on the order); the
    display is the record's, else the ICD-10-CM title."""
    codings = [
        {"system": c.system, "code": c.code, **({"display": display} if display else {})}
        for c in indication.codings
        if c.system == kb.icd10cm_system and c.code
        for display in (c.display or kb.diagnosis_title(c.system, c.code),)
    ]
    if not codings:
        return None
    return {"coding": codings, **({"text": indication.text} if indication.text else {})}


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
    reasons = [c for c in (_reason(i, kb) for i in line.reasons) if c]
    if reasons:
        item["reason"] = reasons
    return item

"""Cards read back as an EHR or a coder sees them: the rules that fired, the billing lines proposed, the codes
suggested, and whether a response keeps the contract. Shared by replay, the tests and the benchmarks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..cards.render import EXPLANATION_KEY
from ..protocol import contract

CPT = "http://www.ama-assn.org/go/cpt"
SUMMARY_LIMIT = 140  # CDS Hooks 2.0: "summary: <140-character"


class ProposedLine(NamedTuple):
    """A billing line a card proposes (a ChargeItem to create); compares equal to the plain tuple."""

    code: str
    modifiers: tuple[str, ...]
    units: int
    nerve: str
    side: str | None


def topics(cards: Iterable[dict[str, Any]]) -> list[str]:
    """The rule of each card, in card order."""
    return [card["source"]["topic"]["code"] for card in cards]


def actions(card: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for suggestion in card.get("suggestions", []):
        yield from suggestion.get("actions", [])


def _cpt_codes(resource: dict[str, Any]) -> list[str]:
    return [c["code"] for c in resource.get("code", {}).get("coding", []) if c.get("system") == CPT]


def _creates_charge_item(action: dict[str, Any]) -> bool:
    return action["type"] == "create" and action.get("resource", {}).get("resourceType") == "ChargeItem"


def charge_line(item: dict[str, Any]) -> ProposedLine:
    """A ChargeItem as (code, modifiers, units, nerve, side)."""
    modifiers = tuple(e["valueCoding"]["code"] for e in item.get("extension", []) if "valueCoding" in e)
    side = next((c["display"].lower() for b in item["bodysite"] for c in b.get("coding", [])), None)
    return ProposedLine(_cpt_codes(item)[0], modifiers, item["quantity"]["value"], item["bodysite"][0]["text"], side)


ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def line_diagnoses(item: dict[str, Any]) -> list[str]:
    """The ICD-10-CM codes a ChargeItem's reason carries, in order: the diagnoses the line rests on."""
    return [c["code"] for r in item.get("reason", []) for c in r.get("coding", []) if c.get("system") == ICD10CM]


def proposed_lines(cards: Iterable[dict[str, Any]]) -> list[ProposedLine]:
    """Every ChargeItem the cards propose to create, in card and suggestion order."""
    return [charge_line(a["resource"]) for card in cards for a in actions(card) if _creates_charge_item(a)]


def summarize(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What matters of each card for a golden comparison, without uuids and in a stable order."""
    out = []
    for card in cards:
        codes = {
            code
            for action in actions(card)
            if _creates_charge_item(action) or action["type"] == "update"
            for code in _cpt_codes(action.get("resource", {}))
        }
        lines = []
        for action in actions(card):
            if _creates_charge_item(action):
                code, modifiers, *rest = charge_line(action["resource"])
                lines.append([code, list(modifiers), *rest, line_diagnoses(action["resource"])])
        explanation = card.get("extension", {}).get(EXPLANATION_KEY, {})
        summary = {
            "topic": card["source"]["topic"]["code"],
            "indicator": card["indicator"],
            "lines": sorted(lines, key=json.dumps),
            "codes": sorted(codes),
            "missing": explanation.get("missing", []),
        }
        if explanation.get("ruleId") == "billed-differs":  # both sides, as code-modifiers x units (or none)
            summary["documented"] = sorted(_line_label(d) for d in explanation.get("documented", []))
            summary["billed"] = sorted(_line_label(b) for b in explanation.get("billed", []))
        out.append(summary)
    return sorted(out, key=lambda c: (c["topic"], json.dumps(c["lines"])))


def _line_label(line: dict[str, Any]) -> str:
    return f"{'-'.join([line['code'], *line.get('modifiers', [])])} \N{MULTIPLICATION SIGN} {line['units']}"


def response_problems(payload: Any) -> list[str]:
    """Why a 200 answer breaks the spec schema, our card contract or FHIR R4 (R4B models); [] when it keeps them."""
    problems = [f"{i.expression}: {i.diagnostics}" for i in contract.issues("cds-response", payload)]
    problems += [f"{i.expression}: {i.diagnostics}" for i in contract.issues("cpt64640-response", payload)]
    if problems:
        return problems
    for index, card in enumerate(payload["cards"]):
        if len(card["summary"]) >= SUMMARY_LIMIT:
            problems.append(f"cards[{index}].summary: {len(card['summary'])} characters")
        for action in actions(card):
            if "resource" not in action:
                continue
            resource = action["resource"]
            try:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            except (ValidationError, KeyError, ValueError) as exc:
                problems.append(f"cards[{index}] {resource.get('resourceType')}: {exc}")
    return problems

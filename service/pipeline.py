"""One hook call, end to end: contract → prefetch → typed FHIR → facts → rules → cards.

Each arrow is one module with one job; this function only wires them. The web layer hands it a parsed
JSON body and gets back cards (or an ApiError that becomes a 4xx with an OperationOutcome).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import cards as cards_module
from . import contract, facts, prefetch, record, rules
from .config import Settings
from .knowledge import Knowledge
from .lines import ModifierPolicy
from .logs import event
from .registry import CdsService


@dataclass
class Result:
    cards: list[dict[str, Any]]
    rule_ids: list[str]
    prefetch: prefetch.PrefetchResult
    dropped: int


def run(
    service: CdsService,
    body: Any,
    *,
    kb: Knowledge,
    policy: ModifierPolicy,
    settings: Settings,
    deadline: prefetch.Deadline,
    today: date,
    logger: logging.Logger,
    allowlist: prefetch.FhirAllowlist,
    bound_to: tuple[str, ...] | None = None,
) -> Result:
    contract.check(service.request_schema, body)
    completed = prefetch.complete(service, body, settings, deadline, allowlist, bound_to)
    parsed = record.build(body["context"], service.focus(body["context"]), completed)
    found = facts.extract(parsed, kb, today)
    findings = rules.run_all(found, rules.RuleInputs(kb, policy))
    rendered = cards_module.render(findings, cards_module.CardContext(kb, found, parsed.raw))
    return Result(_guard(rendered, logger), [f.rule_id for f in findings], completed, len(parsed.dropped))


def _guard(rendered: list[dict[str, Any]], logger: logging.Logger) -> list[dict[str, Any]]:
    """Never send a card that breaks the contract: drop it and log the broken field (a bug to fix)."""
    kept = []
    for card in rendered:
        problems = contract.issues("cpt64640-response", {"cards": [card]})
        if problems:
            event(
                logger,
                "card-dropped",
                logging.ERROR,
                rule=card.get("source", {}).get("topic", {}).get("code"),
                fields=[p.expression for p in problems],
            )
            continue
        kept.append(card)
    return kept

"""One hook call, end to end: contract → prefetch → typed FHIR → facts → coding → rules → cards.

Each arrow is one stage with one job; this function only wires them, and times each (`Result.timings`: the
web layer sends them as Server-Timing and in /metrics). The web layer hands it a parsed JSON body and gets back
cards (or an ApiError that becomes a 4xx with an OperationOutcome).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from .cards.context import CardContext
from .cards.render import render
from .coding.coded import code
from .coding.lines import ModifierPolicy
from .config import Settings
from .facts.extract import extract
from .fhir.record import Record, build
from .knowledge.base import Knowledge
from .logs import event
from .protocol import contract
from .protocol.declarations import CdsService
from .protocol.prefetch.allowlist import FhirAllowlist
from .protocol.prefetch.completion import PrefetchResult, complete
from .protocol.prefetch.deadline import Deadline
from .rules.catalogue import run_all
from .rules.findings import Finding
from .rules.inputs import RuleInputs

STAGES = ("contract", "prefetch", "parse", "facts", "coding", "rules", "cards")


@dataclass
class Result:
    cards: list[dict[str, Any]]
    findings: list[Finding]  # what the cards were rendered from (the audit writes them as rows)
    prefetch: PrefetchResult
    dropped: int
    timings: dict[str, float]  # milliseconds per stage, in STAGES order
    record: Record  # the typed resources the cards were read from (the web layer frees them after answering)

    @property
    def rule_ids(self) -> list[str]:
        return [f.rule_id for f in self.findings]


class _Stopwatch:
    """Milliseconds per stage, each counted from the end of the one before (perf_counter: a few tens of ns)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = (now - self._last) * 1000
        self._last = now


def run(
    service: CdsService,
    body: Any,
    *,
    kb: Knowledge,
    policy: ModifierPolicy,
    settings: Settings,
    deadline: Deadline,
    today: date,
    logger: logging.Logger,
    allowlist: FhirAllowlist,
    bound_to: tuple[str, ...] | None = None,
) -> Result:
    watch = _Stopwatch()
    contract.check(service.request_schema, body)
    watch.lap("contract")
    completed = complete(service, body, settings, deadline, allowlist, bound_to)
    watch.lap("prefetch")
    record = build(body["context"], service.focus(body["context"]), completed)
    watch.lap("parse")
    facts = extract(record, kb, today, review=service.review)
    watch.lap("facts")
    coded = code(facts, kb, policy)
    watch.lap("coding")
    findings = run_all(facts, RuleInputs(kb, policy, coded))
    watch.lap("rules")
    cards = _guard(render(findings, CardContext(kb, facts, record.raw)), logger)
    watch.lap("cards")
    return Result(cards, findings, completed, len(record.dropped), watch.ms, record)


def _guard(rendered: list[dict[str, Any]], logger: logging.Logger) -> list[dict[str, Any]]:
    """Never send a card that breaks the contract: drop it and log the broken field (a bug to fix).

    The response schema constrains each card on its own (`cards` has only `items`), so one compiled check of
    the whole list clears every card at once; only when it fails is each card judged to find the broken ones."""
    if contract.conforms("cpt64640-response", {"cards": rendered}):
        return list(rendered)
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

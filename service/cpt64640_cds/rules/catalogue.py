"""The rules that run: every active rule of the rule set (knowledge/data/ruleset.json), in its order, each
the `run` function of the module named after its id (`line-suggestion` → `rules/line_suggestion.py`).

Adding a rule touches its module, its rule-set entry, its docs section and its tests; nothing here.
"""

from __future__ import annotations

import importlib
from functools import cache

from ..facts.model import Facts
from ..knowledge.base import Knowledge
from .findings import Finding
from .inputs import Rule, RuleInputs


class RuleSetError(ValueError):
    """The rule set names a rule whose module is missing or does not fit; start-up stops with the name."""


@cache
def active_rules(kb: Knowledge) -> dict[str, Rule]:
    """Rule id → function, in rule-set order (which is also the order of the cards)."""
    rules: dict[str, Rule] = {}
    for rule in kb.rules.values():
        if rule.status != "active":
            continue
        name = rule.id.replace("-", "_")
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            raise RuleSetError(f"rule {rule.id}: no module rules/{name}.py") from exc
        run = getattr(module, "run", None)
        if getattr(module, "RULE_ID", None) != rule.id or not callable(run):
            raise RuleSetError(f"rule {rule.id}: rules/{name}.py must define RULE_ID = {rule.id!r} and run()")
        rules[rule.id] = run
    return rules


def run_all(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    findings: list[Finding] = []
    for rule in active_rules(inputs.kb).values():
        findings.extend(rule(facts, inputs))
    return findings

"""Rules: small pure functions from facts (plus the knowledge base and policy) to findings.

A rule never sees HTTP, JSON or FHIR resources. To add one: write `rules/<rule_id>.py` with a function
`run(facts, inputs) -> list[Finding]`, list it in RULES below, add its entry to knowledge/ruleset.json and
its section to docs/rules.md (see docs/architecture.md, "Adding a rule").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..facts import Facts
from ..findings import Finding
from ..knowledge import Knowledge
from ..lines import ModifierPolicy
from . import line_suggestion


@dataclass(frozen=True)
class RuleInputs:
    kb: Knowledge
    policy: ModifierPolicy


Rule = Callable[[Facts, RuleInputs], list[Finding]]

# rule id -> function; the ids are the card topics of docs/cards.md.
RULES: dict[str, Rule] = {
    "line-suggestion": line_suggestion.run,
}


def run_all(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES.values():
        findings.extend(rule(facts, inputs))
    return findings

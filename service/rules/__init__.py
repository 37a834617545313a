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


@dataclass(frozen=True)
class RuleInputs:
    kb: Knowledge
    policy: ModifierPolicy


Rule = Callable[[Facts, RuleInputs], list[Finding]]


def _registry() -> dict[str, Rule]:
    from . import (
        documentation_incomplete,
        duplicate_nerve,
        global_period,
        image_guidance_missing,
        imaging_bundled,
        indication_missing,
        line_suggestion,
        more_specific_code,
        not_neurolytic,
    )

    # rule id -> function; the ids are the card topics of docs/cards.md. Cards come out in this order.
    return {
        "line-suggestion": line_suggestion.run,
        "more-specific-code": more_specific_code.run,
        "not-neurolytic": not_neurolytic.run,
        "imaging-bundled": imaging_bundled.run,
        "duplicate-nerve": duplicate_nerve.run,
        "indication-missing": indication_missing.run,
        "documentation-incomplete": documentation_incomplete.run,
        "image-guidance-missing": image_guidance_missing.run,
        "global-period": global_period.run,
    }


RULES: dict[str, Rule] = _registry()


def run_all(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES.values():
        findings.extend(rule(facts, inputs))
    return findings

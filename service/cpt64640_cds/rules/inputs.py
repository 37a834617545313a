"""What every rule receives besides the facts, and the shape of a rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..coding.coded import CodedFacts
from ..coding.lines import ModifierPolicy
from ..facts.model import Facts
from ..knowledge.base import Knowledge
from .findings import Finding


@dataclass(frozen=True)
class RuleInputs:
    kb: Knowledge
    policy: ModifierPolicy
    coded: CodedFacts  # each episode's code choice and the lines of every proposal, computed once


Rule = Callable[[Facts, RuleInputs], list[Finding]]

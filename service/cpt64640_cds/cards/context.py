"""What rendering a card needs besides the finding: the knowledge base, the facts, the resources as sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..facts.model import Facts
from ..knowledge.base import Knowledge


@dataclass(frozen=True)
class CardContext:
    kb: Knowledge
    facts: Facts
    resources: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # draft orders etc. as sent, by Type/id
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

"""Everything one app instance owns (settings, knowledge base, services, store, logger, authenticator),
kept on `app.extensions`, never on module globals: tests get a clean app each, and nothing of one request
outlives it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import current_app

from ..coding.lines import ModifierPolicy
from ..config import Settings
from ..knowledge.base import Knowledge
from ..protocol.declarations import CdsService
from ..protocol.prefetch.allowlist import FhirAllowlist
from ..security.authenticator import Authenticator
from ..store.store import Store

EXTENSION = "cpt64640"

# A body above this is a large call (a long patient history): a few at a time per worker (see routes._admitted).
LARGE_BODY_BYTES = 1024 * 1024
LARGE_CALLS_PER_WORKER = 2
LARGE_CALL_WAIT_SECONDS = 0.5


@dataclass
class Environment:
    settings: Settings
    kb: Knowledge
    services: dict[str, CdsService]
    store: Store
    logger: logging.Logger
    policy: ModifierPolicy
    authenticator: Authenticator | None  # None: development mode, nobody is checked
    allowlist: FhirAllowlist
    large_calls: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(LARGE_CALLS_PER_WORKER)
    )


def env() -> Environment:
    return current_app.extensions[EXTENSION]

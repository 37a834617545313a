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
from ..security.dev_issuer import DevIssuer
from ..security.proxies import TrustedProxies
from ..store.store import Store

EXTENSION = "cpt64640"

# A body above this is a large call (a long patient history). Per worker, one is read and processed at a time
# and one more may wait for it (until its deadline); others are answered 503 at once (see routes._admitted).
# So a burst of large calls holds at most two of the worker's four threads and one large body in memory.
LARGE_BODY_BYTES = 1024 * 1024
LARGE_CALLS_ADMITTED = 2


@dataclass
class Environment:
    settings: Settings
    kb: Knowledge
    services: dict[str, CdsService]
    store: Store
    logger: logging.Logger
    policy: ModifierPolicy
    # Development mode: the playground's issuer alone (None when its key could not be kept: nobody is checked).
    authenticator: Authenticator | None
    allowlist: FhirAllowlist
    proxies: TrustedProxies  # CDS_FORWARDED_ALLOW_IPS: whose X-Proxy-Request-Id the replay check believes
    dev_issuer: DevIssuer | None = None  # development mode only: signs the playground's calls
    large_admitted: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(LARGE_CALLS_ADMITTED)
    )
    large_running: threading.Lock = field(default_factory=threading.Lock)
    # Set once a rehearsal call has gone through the whole pipeline in this process (server/warmup.py):
    # /readyz answers 200 only then.
    warm: threading.Event = field(default_factory=threading.Event)


def env() -> Environment:
    return current_app.extensions[EXTENSION]

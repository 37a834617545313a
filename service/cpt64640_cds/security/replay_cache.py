"""JWT ids already seen, so a captured token cannot be sent twice.

The service keeps them in its database (`SharedReplayCache` over the store), so a replay is caught whichever
worker, or whichever instance sharing a PostgreSQL database, it reaches. `MemoryReplayCache` is per process:
the fallback of the "open" outage policy, and the default of a bare `Authenticator` in tests.

An `attempt` is the trusted proxy's id of one client request (security/proxies.py), the same on each instance the
proxy tries: a token seen again with the attempt id it was recorded with is that request passed on after a crash,
not a replay. A token recorded without one, or seen again without one or with another, is a replay."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    def seen(self, jti: str, iss: str, expires_at: float, attempt: str | None = None) -> bool:
        """True if (iss, jti) was seen before, unless in the same proxy attempt (both ids non-empty and equal);
        otherwise remember it, with the attempt, until `expires_at` and return False."""
        ...


class ReplayStoreUnavailable(Exception):
    """The shared replay store failed and the policy is to fail closed: the call is answered 503."""


class MemoryReplayCache:
    """Thread-safe, per-process replay cache. Entries leave once their token could no longer be accepted.

    With several worker processes a replay that lands on another worker is not caught: the service uses
    `SharedReplayCache`; this one is its per-worker fallback.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str], str | None] = {}  # (iss, jti) seen -> its proxy attempt id
        self._heap: list[tuple[float, str, str]] = []  # (expires_at, iss, jti), soonest first

    def seen(self, jti: str, iss: str, expires_at: float, attempt: str | None = None) -> bool:
        with self._lock:
            self._evict(self._clock())
            if (iss, jti) in self._attempts:
                return not (attempt and self._attempts[(iss, jti)] == attempt)
            self._attempts[(iss, jti)] = attempt or None
            heapq.heappush(self._heap, (expires_at, iss, jti))
            return False

    def __len__(self) -> int:
        with self._lock:
            self._evict(self._clock())
            return len(self._attempts)

    def _evict(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, iss, jti = heapq.heappop(self._heap)
            self._attempts.pop((iss, jti), None)


class SharedReplayCache:
    """The store's replay table, with a policy for when the store fails (CDS_REPLAY_OUTAGE):
    "closed" raises `ReplayStoreUnavailable` (the web layer answers 503 with Retry-After); "open" keeps
    checking in this worker's memory and logs each fallback, trading cross-worker replay protection for
    availability."""

    def __init__(self, store: ReplayCache, policy: str, logger: logging.Logger, clock: Callable[[], float] = time.time):
        self._store = store
        self._policy = policy
        self._logger = logger
        self._fallback = MemoryReplayCache(clock)

    def seen(self, jti: str, iss: str, expires_at: float, attempt: str | None = None) -> bool:
        try:
            return self._store.seen(jti, iss, expires_at, attempt)
        except Exception as exc:  # any store failure: a database driver error, a timeout, a lost connection
            self._logger.error(
                "replay-store-failed", extra={"fields": {"policy": self._policy, "error": type(exc).__name__}}
            )
            if self._policy == "closed":
                raise ReplayStoreUnavailable() from None
            return self._fallback.seen(jti, iss, expires_at, attempt)

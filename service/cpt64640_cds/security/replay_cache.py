"""JWT ids already seen, so a captured token cannot be sent twice."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """True if (iss, jti) was seen before; otherwise remember it until `expires_at` and return False."""
        ...


class MemoryReplayCache:
    """Thread-safe, per-process replay cache. Entries leave once their token could no longer be accepted.

    With several worker processes a replay that lands on another worker is not caught; use a shared store
    (same `seen` protocol) where that matters.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, str, str]] = []  # (expires_at, iss, jti), soonest first

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        with self._lock:
            self._evict(self._clock())
            if (iss, jti) in self._expiry:
                return True
            self._expiry[(iss, jti)] = expires_at
            heapq.heappush(self._heap, (expires_at, iss, jti))
            return False

    def __len__(self) -> int:
        with self._lock:
            self._evict(self._clock())
            return len(self._expiry)

    def _evict(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, iss, jti = heapq.heappop(self._heap)
            self._expiry.pop((iss, jti), None)

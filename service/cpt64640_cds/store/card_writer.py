"""Card records written off the response path: the hook call queues its rows and returns; one daemon thread
per store (per worker process) writes them in batches.

The cards go out whatever the database does. When it is slow or down, rows wait in a bounded queue; a batch
the store refuses, and rows that find the queue full, are dropped and counted (`on_dropped(count, reason)`),
never retried: a card record only lets feedback name its rule, and feedback that finds no record is still
stored. The thread starts with the first rows and ends after a short idle spell, so an idle worker holds none.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable
from functools import partial
from typing import Any

Row = dict[str, Any]
DropListener = Callable[[int, str], None]

QUEUE_FULL = "queue-full"
STORE_FAILED = "store-failed"


class CardWriter:
    def __init__(
        self,
        write: Callable[[list[Row]], None],
        on_dropped: DropListener | None = None,
        *,
        capacity: int = 10_000,
        batch_rows: int = 500,
        idle_seconds: float = 2.0,
        linger_seconds: float = 0.2,
        exit_seconds: float = 5.0,
    ):
        self._write = write
        self._on_dropped = on_dropped
        self._capacity = capacity
        self._batch_rows = batch_rows
        self._idle_seconds = idle_seconds
        # Rows wait this long for others to share their transaction: one commit for many calls, where a commit
        # per call cost more than the rest of the call's store work (and a SQLite file a sync each).
        self._linger_seconds = linger_seconds
        self._exit_seconds = exit_seconds
        self._state = threading.Condition()
        self._rows: deque[Row] = deque()
        self._writing = 0  # rows of the batch being written
        self._dropped: Counter[str] = Counter()  # not yet reported
        self._thread: threading.Thread | None = None
        self._at_exit: Callable[[], None] | None = None  # weak: an idle writer and its store can go

    def submit(self, rows: list[Row]) -> None:
        """Queue rows for writing; never waits on the database. Rows beyond the queue's capacity are dropped."""
        if not rows:
            return
        with self._state:
            room = max(0, self._capacity - len(self._rows) - self._writing)
            self._rows.extend(rows[:room])
            if len(rows) > room:
                self._dropped[QUEUE_FULL] += len(rows) - room
            if self._thread is None or not self._thread.is_alive():  # not alive: forked, or ended idle
                self._thread = threading.Thread(target=self._run, name="cpt64640-card-writer", daemon=True)
                self._thread.start()
                if self._at_exit is None:  # a worker that exits cleanly writes what it queued first
                    self._at_exit = partial(_flush_at_exit, weakref.ref(self), self._exit_seconds)
                    atexit.register(self._at_exit)
            self._state.notify()

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queued row to be written or dropped; True when done."""
        with self._state:
            return self._state.wait_for(lambda: not self._rows and not self._writing, timeout)

    def close(self, timeout: float) -> bool:
        done = self.flush(timeout)
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
        return done

    def _run(self) -> None:
        while True:
            with self._state:
                if not self._rows:
                    self._state.wait(self._idle_seconds)
                if self._rows:
                    self._state.wait_for(lambda: len(self._rows) >= self._batch_rows, self._linger_seconds)
                batch = [self._rows.popleft() for _ in range(min(self._batch_rows, len(self._rows)))]
                self._writing = len(batch)
                dropped, self._dropped = self._dropped, Counter()
                if not batch and not dropped:
                    self._thread = None
                    self._state.notify_all()
                    return
            try:
                if batch:
                    self._write(batch)
            except Exception:  # the store is down or slow: these rows are lost, and counted
                dropped[STORE_FAILED] += len(batch)
            try:
                for reason, count in dropped.items():
                    if self._on_dropped:
                        self._on_dropped(count, reason)
            finally:
                with self._state:
                    self._writing = 0
                    self._state.notify_all()


def _flush_at_exit(writer: weakref.ref[CardWriter], seconds: float) -> None:
    alive = writer()
    if alive is not None:
        alive.flush(seconds)

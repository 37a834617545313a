"""The fetch threads of one worker process, shared by every hook call (`CDS_FHIR_FETCH_THREADS`).

Created on first use, so each forked worker makes its own; a call's jobs queue when every thread is busy,
and those that cannot start before the call's deadline are cancelled. Threads are never held past a call's
deadline, because its sockets are cut then (outbound.py).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[int, ThreadPoolExecutor] = {}  # by size: one in a service, more only when tests vary the setting
_lock = threading.Lock()


def fetch_pool(threads: int) -> ThreadPoolExecutor:
    with _lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prefetch")
        return _pools[threads]


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _pools.clear()  # the parent's threads do not exist in the child


os.register_at_fork(after_in_child=_forget_after_fork)

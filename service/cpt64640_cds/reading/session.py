"""One hook call reads the same texts many times (a condition's name for its indication, for care tried
before and for its family history; a note for its agents and for its nerves): within a reading session each
distinct text is read once.

The session is per call: a context variable, so threads and concurrent calls never share one, and it ends
with the call (`with reading_session():` in the facts stage). Narrative is never kept longer; only the names of
concepts are, per worker (reading/text.py `read_name`). Outside a session every reader reads afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

_T = TypeVar("_T")
_MEMO: ContextVar[dict[Hashable, Any] | None] = ContextVar("reading_memo", default=None)


@contextmanager
def reading_session() -> Iterator[None]:
    """Readings inside are kept until the block ends; a session inside another one is part of it."""
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def once(key: Hashable, compute: Callable[[], _T]) -> _T:
    """compute(), or what it gave for `key` earlier in this session. What is kept is shared: callers copy
    before they change it."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    try:
        found: _T = memo[key]
    except KeyError:
        found = memo[key] = compute()
    return found

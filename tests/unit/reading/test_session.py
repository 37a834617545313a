"""reading.session: within a session a text is read once; outside one, and in other threads, afresh."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading.session import once, reading_session
from cpt64640_cds.reading.text import read

KB = load()
NOTE = "US-guided, 6% phenol 2 mL to the left LFCN. Failed gabapentin and PT. Plan: RF ablation next visit."


def _counting() -> tuple[list[int], Callable[[], int]]:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    return calls, compute


def test_a_session_computes_each_key_once_and_forgets_it_at_its_end() -> None:
    calls, compute = _counting()
    with reading_session():
        assert [once("k", compute), once("k", compute), once("other", compute)] == [1, 1, 2]
        with reading_session():  # part of the outer one
            assert once("k", compute) == 1
        assert once("k", compute) == 1
    assert once("k", compute) == 3 and once("k", compute) == 4  # outside a session: every time
    assert len(calls) == 4


def test_threads_never_share_a_session() -> None:
    _, compute = _counting()
    seen: list[int] = []
    with reading_session():
        once("k", compute)
        thread = threading.Thread(target=lambda: seen.extend([once("k", compute), once("k", compute)]))
        thread.start()
        thread.join()
    assert seen == [2, 3]  # the thread started inside the session reads afresh


def test_findings_read_in_a_session_are_the_callers_own() -> None:
    """Callers merge into what they were given and append coded agents to it: the next caller in the session
    still gets what the text says, under its own field name."""
    with reading_session():
        first = read(NOTE, "note[0].text", KB)
        first.agents.clear()
        first.guidance.add("ct")
        first.conservative.clear()
        again = read(NOTE, "note[0].text", KB)
        other = read(NOTE, "content", KB)
    fresh = read(NOTE, "note[0].text", KB)
    assert fresh.agents and fresh.conservative and again == fresh
    assert other.fields == {"content"} and [a.field for a in other.agents] == ["content"]
    assert [a.agent for a in other.agents] == [a.agent for a in fresh.agents]

"""The background card writer: never waits on the database, writes in batches, drops and counts what it
cannot write, and leaves no thread behind when idle."""

from __future__ import annotations

import threading
import time

from cpt64640_cds.store.card_writer import QUEUE_FULL, STORE_FAILED, CardWriter


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"card_uuid": f"c{i}"} for i in range(start, start + n)]


def test_rows_are_written_in_batches():
    batches: list[int] = []
    writer = CardWriter(lambda rows: batches.append(len(rows)), batch_rows=10, idle_seconds=0.2)
    writer.submit(_rows(25))
    assert writer.flush(5)
    assert sum(batches) == 25 and max(batches) <= 10


def test_submit_never_waits_on_a_hung_store_and_counts_what_it_drops():
    release = threading.Event()
    dropped: list[tuple[int, str]] = []

    def hung(rows: list[dict]) -> None:
        release.wait(10)
        raise TimeoutError("no answer")

    writer = CardWriter(hung, lambda n, reason: dropped.append((n, reason)), capacity=5, idle_seconds=0.2)
    started = time.monotonic()
    for i in range(20):
        writer.submit(_rows(1, i))
    assert time.monotonic() - started < 0.1  # 20 submits while the store hangs
    release.set()
    assert writer.flush(5)
    totals = {reason: sum(n for n, r in dropped if r == reason) for reason in (QUEUE_FULL, STORE_FAILED)}
    assert sum(totals.values()) == 20 and totals[QUEUE_FULL] > 0 and totals[STORE_FAILED] > 0


def test_the_thread_ends_when_idle_and_comes_back_with_work():
    written: list[str] = []
    writer = CardWriter(lambda rows: written.extend(r["card_uuid"] for r in rows), idle_seconds=0.1)
    before = threading.active_count()
    writer.submit(_rows(1))
    assert writer.flush(5)
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before
    writer.submit(_rows(1, 1))
    assert writer.close(5)
    assert written == ["c0", "c1"]


def test_calls_submitted_within_the_linger_share_one_write():
    batches: list[int] = []
    writer = CardWriter(lambda rows: batches.append(len(rows)), linger_seconds=1.0)
    for i in range(5):  # five hook calls, one card each, in quick succession
        writer.submit(_rows(1, i))
    assert writer.flush(5)
    assert batches == [5]

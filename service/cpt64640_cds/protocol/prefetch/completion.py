"""Prefetch completion: turn what the client sent into one complete (or explicitly degraded) data set.

Per declared key (CDS Hooks 2.0 §Prefetch, decision table in docs/architecture.md):
- a provided resource or Bundle is used; `null` means "no data" and is never re-queried;
- a provided OperationOutcome means the client failed to get that key: it is fetched again when possible;
- an absent key is fetched from `fhirServer` with the client's bearer token, all keys in parallel on the
  worker's shared fetch threads, every call bounded by its own timeouts, by the one deadline of the hook
  call (sockets still open then are cut) and by one byte budget for the call; `next` pages are followed on
  the same server up to a limit;
- a required key that still cannot be had raises 412 with an OperationOutcome naming it.
The access token lives only in the `FhirClient` of one call; it is never logged, stored or echoed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from ...config import Settings
from ...errors import ApiError, Issue
from ..declarations import CdsService
from .allowlist import FhirAllowlist
from .bundles import bundle_entries, next_link
from .client import FetchError, FhirClient
from .deadline import Deadline
from .pool import fetch_pool
from .templates import resolve_template

Source = Literal["prefetch", "fetched", "null", "not-applicable", "failed"]

# How long each (service, key) took to fetch the last time in this worker. Keys are sent slowest first: each
# job spends about a millisecond of CPU before its request leaves, so the key sent last starts that much later,
# and the call lasts as long as its slowest key. Bounded: services and keys are declarations, not client input.
_last_ms: dict[tuple[str, str], int] = {}


@dataclass
class KeyResult:
    key: str
    source: Source
    value: dict[str, Any] | None = None
    ms: int | None = None
    pages: int = 0
    problem: str | None = None  # why the key failed or is incomplete; never holds data or tokens
    issue_code: str = "exception"  # FHIR issue type reported when a required key fails
    truncated: bool = False


@dataclass
class PrefetchResult:
    keys: dict[str, KeyResult] = field(default_factory=dict)

    def unavailable(self) -> list[str]:
        return [k for k, r in self.keys.items() if r.source == "failed"]

    def incomplete(self) -> list[str]:
        return [k for k, r in self.keys.items() if r.truncated]

    def log_view(self) -> dict[str, dict[str, Any]]:
        view: dict[str, dict[str, Any]] = {}
        for key, result in self.keys.items():
            entry: dict[str, Any] = {"source": result.source}
            if result.ms is not None:
                entry["ms"] = result.ms
            if result.pages:
                entry["pages"] = result.pages
            if result.problem:
                entry["problem"] = result.problem
            view[key] = entry
        return view


def _is_outcome(value: Mapping[str, Any]) -> bool:
    return value.get("resourceType") == "OperationOutcome"


def _fetch_key(client: FhirClient, key: str, query: str, max_pages: int, max_resources: int) -> KeyResult:
    started = time.monotonic()
    status, first = client.get(f"{client.base}/{query}")
    if first is None:
        if "?" in query:
            raise FetchError(f"HTTP {status} on a search")  # the server (or its base URL) is wrong
        # A read (Patient/x) that is not found is "no data", not a failure.
        return KeyResult(key, "fetched", None, _ms(started), pages=1)
    if _is_outcome(first):
        raise FetchError("server answered with an OperationOutcome")
    result = KeyResult(key, "fetched", first, pages=1)
    _follow_pages(client, result, max_pages, max_resources)
    result.ms = _ms(started)
    return result


def _follow_pages(client: FhirClient, result: KeyResult, max_pages: int, max_resources: int) -> None:
    """Merge `next` pages into the first Bundle, staying on the client's FHIR server."""
    bundle = result.value
    if not bundle or bundle.get("resourceType") != "Bundle":
        return
    entries = list(bundle_entries(bundle))
    url = next_link(bundle)
    if len(entries) > max_resources:
        result.truncated, result.problem = True, f"stopped at {max_resources} resources"
        entries, url = entries[:max_resources], None
    while url:
        if result.pages >= max_pages:
            result.truncated = True
            result.problem = f"stopped after {max_pages} pages"
            break
        if not client.same_server(url):
            result.truncated = True
            result.problem = "next link points outside fhirServer; not followed"
            break
        _, page = client.get(url)
        result.pages += 1
        if not page or page.get("resourceType") != "Bundle":
            raise FetchError("next page is not a Bundle")
        entries.extend(bundle_entries(page))
        url = next_link(page)
        if len(entries) > max_resources:
            result.truncated, result.problem = True, f"stopped at {max_resources} resources"
            entries = entries[:max_resources]
            break
    merged = {k: v for k, v in bundle.items() if k != "link"}
    if entries:
        merged["entry"] = entries
    result.value = merged


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def complete(
    service: CdsService,
    body: Mapping[str, Any],
    settings: Settings,
    deadline: Deadline,
    allowlist: FhirAllowlist,
    bound_to: tuple[str, ...] | None = None,
) -> PrefetchResult:
    context = body.get("context") or {}
    given = body.get("prefetch") or {}
    result = PrefetchResult()
    to_fetch: dict[str, str] = {}

    oversized = [
        Issue(
            "too-long",
            f"prefetch.{key}: {count} entries, more than CDS_MAX_PREFETCH_RESOURCES={settings.max_prefetch_resources}",
            f"prefetch.{key}",
        )
        for key, value in given.items()
        if isinstance(value, dict) and (count := len(bundle_entries(value))) > settings.max_prefetch_resources
    ]
    if oversized:
        raise ApiError(413, oversized)

    for key, spec in service.prefetch.items():
        query = resolve_template(spec.template, context)
        if query is None:
            result.keys[key] = KeyResult(key, "not-applicable")
            continue
        if key in given:
            value = given[key]
            if value is None:
                result.keys[key] = KeyResult(key, "null")
                continue
            if not _is_outcome(value):
                result.keys[key] = KeyResult(key, "prefetch", value, pages=1)
                continue
            result.keys[key] = KeyResult(key, "failed", problem="client sent an OperationOutcome")
        to_fetch[key] = query

    server = body.get("fhirServer")  # a string: the contract checked it
    refused = bool(server) and not allowlist.allows(str(server), bound_to)
    if refused:
        server = None  # never contacted: answer from prefetch alone, or 412
    # Bundles the client sent with a `next` link: the rest is on the client's server.
    to_continue = [k for k, r in result.keys.items() if r.source == "prefetch" and r.value and next_link(r.value)]
    if server and (to_fetch or to_continue):
        token = (body.get("fhirAuthorization") or {}).get("access_token")
        client = FhirClient(server, token, settings, deadline)
        jobs: dict[str, Callable[[], KeyResult]] = {
            key: partial(_fetch_key, client, key, query, settings.fhir_max_pages, settings.max_prefetch_resources)
            for key, query in to_fetch.items()
        }
        jobs.update(
            {
                key: partial(
                    _continue_key, client, result.keys[key], settings.fhir_max_pages, settings.max_prefetch_resources
                )
                for key in to_continue
            }
        )
        slowest_first = sorted(jobs, key=lambda k: -_last_ms.get((service.id, k), 0))
        started = time.monotonic()
        _run_parallel(jobs, slowest_first, result, deadline, settings.fhir_fetch_threads, client.close)
        for key in jobs:
            done = result.keys[key]
            took = _ms(started) if done.ms is None and done.issue_code == "timeout" else done.ms  # timed out: slowest
            if took is not None:
                _last_ms[(service.id, key)] = took
    else:
        for key in to_fetch:
            if key not in result.keys:  # a client OperationOutcome stays as the reason
                problem = (
                    "not in prefetch; fhirServer is not on the allowlist (CDS_FHIR_ALLOWLIST) and was not contacted"
                    if refused
                    else "not in prefetch and no fhirServer to fetch it from"
                )
                result.keys[key] = KeyResult(
                    key, "failed", problem=problem, issue_code="forbidden" if refused else "not-found"
                )
        for key in to_continue:
            result.keys[key].truncated = True
            result.keys[key].problem = "more pages on the client's server and no fhirServer; first page used"

    missing = [k for k in result.unavailable() if service.prefetch[k].required]
    if missing:
        raise ApiError(
            412,
            [
                Issue(
                    result.keys[k].issue_code,
                    f"prefetch {k} ({service.prefetch[k].template}) is required and could not be obtained: "
                    f"{result.keys[k].problem}",
                    f"prefetch.{k}",
                )
                for k in missing
            ],
        )
    return result


def _continue_key(client: FhirClient, given: KeyResult, max_pages: int, max_resources: int) -> KeyResult:
    """A prefetched first page completed from the server; if that fails, the first page still counts."""
    started = time.monotonic()
    partial_result = KeyResult(given.key, "prefetch", given.value, pages=1)
    try:
        _follow_pages(client, partial_result, max_pages, max_resources)
    except FetchError as exc:
        return KeyResult(given.key, "prefetch", given.value, pages=1, truncated=True, problem=f"next page: {exc}")
    partial_result.ms = _ms(started)
    return partial_result


def _run_parallel(
    jobs: dict[str, Callable[[], KeyResult]],
    order: list[str],
    result: PrefetchResult,
    deadline: Deadline,
    threads: int,
    when_all_ended: Callable[[], None],
) -> None:
    """Run the jobs (sent in `order`) on the shared fetch threads until they end or the deadline passes,
    whichever is first; their results go into `result` in the jobs' own order.

    Keys not done by then fail with "deadline exceeded": queued jobs are cancelled, running ones are left to
    the cut of their sockets at the same deadline. `when_all_ended` runs once the last job has ended or been
    cancelled (it closes the call's client), in whichever thread that happens.
    """
    pending = len(jobs)
    lock = threading.Lock()

    def ended(_: Future[KeyResult]) -> None:
        nonlocal pending
        with lock:
            pending -= 1
            last = pending == 0
        if last:
            when_all_ended()

    pool = fetch_pool(threads)
    futures: dict[str, Future[KeyResult]] = {}
    for key in order:
        futures[key] = pool.submit(jobs[key])
        futures[key].add_done_callback(ended)
    _, not_done = wait(futures.values(), timeout=max(deadline.remaining(), 0))
    for key in jobs:  # results in the jobs' order whatever the order they were sent in
        future = futures[key]
        previous = result.keys.get(key)
        if future in not_done:
            future.cancel()  # a job still queued never starts
            if previous and previous.source == "prefetch":
                previous.truncated, previous.problem = True, "next page: deadline exceeded"
            else:
                result.keys[key] = KeyResult(key, "failed", problem="deadline exceeded", issue_code="timeout")
            continue
        try:
            result.keys[key] = future.result()
        except FetchError as exc:
            result.keys[key] = KeyResult(key, "failed", problem=str(exc), issue_code=exc.issue_code)

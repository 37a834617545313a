"""Prefetch completion: turn what the client sent into one complete (or explicitly degraded) data set.

Per declared key (CDS Hooks 2.0 §Prefetch, decision table in docs/architecture.md):
- a provided resource or Bundle is used; `null` means "no data" and is never re-queried;
- a provided OperationOutcome means the client failed to get that key: it is fetched again when possible;
- an absent key is fetched from `fhirServer` with the client's bearer token, all keys in parallel, every
  call bounded by its own timeouts and by the one deadline of the hook call; `next` pages are followed on
  the same server up to a limit;
- a required key that still cannot be had raises 412 with an OperationOutcome naming it.
The access token lives only in the `FhirClient` of one call; it is never logged, stored or echoed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from .config import Settings
from .outcome import ApiError, Issue
from .registry import CdsService, Prefetch

Source = Literal["prefetch", "fetched", "null", "not-applicable", "failed"]


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


class FetchError(Exception):
    """A FHIR call failed; the message is safe to log (no URL query, no body, no token)."""

    def __init__(self, message: str, issue_code: str = "exception"):
        super().__init__(message)
        self.issue_code = issue_code


@dataclass
class Deadline:
    at: float  # time.monotonic() value

    @classmethod
    def after_ms(cls, ms: int) -> Deadline:
        return cls(time.monotonic() + ms / 1000)

    def remaining(self) -> float:
        return self.at - time.monotonic()


class FhirClient:
    """GETs against one client FHIR server, streamed so that size and deadline hold mid-body."""

    def __init__(self, base: str, token: str | None, settings: Settings, deadline: Deadline):
        self.base = base.rstrip("/")
        self._origin = urlsplit(self.base)
        self._token = token
        self._settings = settings
        self._deadline = deadline
        self._session = requests.Session()
        self._session.trust_env = False  # never route PHI through proxies picked up from the environment

    def close(self) -> None:
        self._session.close()

    def same_server(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return (
            parts.scheme == self._origin.scheme
            and parts.netloc == self._origin.netloc
            and (parts.path + "/").startswith(self._origin.path.rstrip("/") + "/")
        )

    def get(self, url: str) -> tuple[int, dict[str, Any] | None]:
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise FetchError("deadline exceeded before the call", "timeout")
        headers = {"Accept": "application/fhir+json, application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connect = min(self._settings.fhir_connect_timeout_ms / 1000, remaining)
        read = min(self._settings.fhir_read_timeout_ms / 1000, remaining)
        try:
            with self._session.get(
                url, headers=headers, timeout=(connect, read), stream=True, allow_redirects=False
            ) as response:
                body = self._read(response)
                status = response.status_code
        except requests.Timeout:
            raise FetchError("timed out", "timeout") from None
        except requests.ConnectionError:
            raise FetchError("connection failed") from None
        except requests.RequestException as exc:
            raise FetchError(f"request failed ({type(exc).__name__})") from None
        if status in (404, 410):
            return status, None
        if status != 200:
            raise FetchError(f"HTTP {status}")
        try:
            data = json.loads(body)
        except ValueError:
            raise FetchError("response is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("response is not a FHIR resource")
        return status, data

    def _read(self, response: requests.Response) -> bytes:
        limit = self._settings.fhir_max_response_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"response larger than {limit} bytes")
            if self._deadline.remaining() <= 0:
                raise FetchError("deadline exceeded while reading", "timeout")
            chunks.append(chunk)
        return b"".join(chunks)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class FhirAllowlist:
    """Where the client's bearer token may go: URL prefixes (scheme, host, port, path on a segment boundary).

    Anything else is never contacted, so a crafted `fhirServer` cannot make us call an internal address
    with the token (SSRF). In development mode with no list, loopback addresses are allowed.
    """

    prefixes: tuple[str, ...]
    loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FhirAllowlist:
        return cls(tuple(settings.fhir_allowlist), loopback=settings.development and not settings.fhir_allowlist)

    def allows(self, url: str, bound_to: tuple[str, ...] | None = None) -> bool:
        try:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
                return False
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return False
        if bound_to is not None and not any(_under(parts, p) for p in bound_to):
            return False  # the authenticated client may only send us to its own servers
        if self.loopback and parts.hostname in LOOPBACK:
            return True
        return any(_under(parts, prefix) for prefix in self.prefixes)


def _port(parts: Any) -> int | None:
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _under(parts: Any, prefix: str) -> bool:
    try:
        allowed = urlsplit(prefix)
    except ValueError:
        return False
    return (
        parts.scheme == allowed.scheme
        and (parts.hostname or "").lower() == (allowed.hostname or "").lower()
        and _port(parts) == _port(allowed)
        and (parts.path.rstrip("/") + "/").startswith(allowed.path.rstrip("/") + "/")
    )


def resolve_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill {{context.x}} tokens; None when a token has no primitive value (e.g. no encounterId)."""
    out = template
    for token in Prefetch(template, False, "").tokens():
        if not token.startswith("context."):
            return None  # user tokens are not used by our templates
        value = context.get(token.removeprefix("context."))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            return None
        out = out.replace("{{" + token + "}}", str(value)).replace("{{ " + token + " }}", str(value))
    return out


def _is_outcome(value: Mapping[str, Any]) -> bool:
    return value.get("resourceType") == "OperationOutcome"


def bundle_entries(bundle: Mapping[str, Any]) -> list[Any]:
    """`Bundle.entry`, or nothing when a client sent something else there."""
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


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
    url = _next_link(bundle)
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
        url = _next_link(page)
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

    server = body.get("fhirServer")
    refused = bool(server) and not allowlist.allows(server, bound_to)
    if refused:
        server = None  # never contacted: answer from prefetch alone, or 412
    # Bundles the client sent with a `next` link: the rest is on the client's server.
    to_continue = [k for k, r in result.keys.items() if r.source == "prefetch" and r.value and _next_link(r.value)]
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
        try:
            _run_parallel(jobs, result, deadline)
        finally:
            client.close()
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


def _run_parallel(jobs: dict[str, Callable[[], KeyResult]], result: PrefetchResult, deadline: Deadline) -> None:
    # One thread per key (at most the service's declared keys): a slow server costs one round trip, not two.
    pool = ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="prefetch")
    try:
        futures = {pool.submit(job): key for key, job in jobs.items()}
        _, not_done = wait(futures, timeout=max(deadline.remaining(), 0))
        for future, key in futures.items():
            previous = result.keys.get(key)
            if future in not_done:
                if previous and previous.source == "prefetch":
                    previous.truncated, previous.problem = True, "next page: deadline exceeded"
                else:
                    result.keys[key] = KeyResult(key, "failed", problem="deadline exceeded", issue_code="timeout")
                continue
            try:
                result.keys[key] = future.result()
            except FetchError as exc:
                result.keys[key] = KeyResult(key, "failed", problem=str(exc), issue_code=exc.issue_code)
    finally:
        # Never wait for stragglers: their sockets time out on their own, the answer goes out now.
        pool.shutdown(wait=False, cancel_futures=True)

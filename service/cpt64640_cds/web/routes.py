"""The routes: discovery, the service call, feedback, OpenAPI, metrics, liveness and readiness. No coding
logic lives here; a hook call is `pipeline.run`."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from .. import __version__, pipeline
from ..errors import ApiError, Issue, unavailable
from ..logs import LOGGER_NAME, event
from ..protocol import contract
from ..protocol.declarations import CdsService
from ..protocol.prefetch.deadline import Deadline
from ..security.authenticator import AuthError, Claims
from ..security.dev_issuer import issued_by_playground
from ..security.proxies import ATTEMPT_HEADER
from ..security.replay_cache import ReplayStoreUnavailable
from . import metrics, openapi
from .environment import LARGE_BODY_BYTES, Environment, env
from .http import OPEN_PATHS, api_error, error_response, json_response, read_json, route_label

bp = Blueprint("cds", __name__)

UNAUTHENTICATED = OPEN_PATHS | {"/readyz"}


@bp.before_app_request
def _authenticate() -> Response | None:
    """Every CDS Hooks call carries the client's JWT (discovery, services, feedback); preflight does not.
    Development mode checks only the tokens that claim the playground's issuer; it trusts every other caller
    (the public CDS Hooks sandbox, for one, sends tokens of its own)."""
    environment = env()
    if request.method == "OPTIONS" or request.path in UNAUTHENTICATED or environment.authenticator is None:
        return None
    if request.blueprint == "playground":
        return None  # its page holds no patient data; its development helpers answer 404 outside development mode
    settings = environment.settings
    if settings.development and not issued_by_playground(request.headers.get("Authorization")):
        return None
    # The audience is a configured base URL + the path, never built from the client's Host header. Development
    # mode without one takes the request's own base URL: harmless, since it trusts every caller anyway.
    bases = settings.public_base_urls or ((request.host_url,) if settings.development else ())
    audiences = [base.rstrip("/") + request.path for base in bases]
    try:
        # The proxy's id of this client request, believed only from a configured proxy (security/proxies.py).
        attempt = environment.proxies.attempt(request.remote_addr, request.headers.get(ATTEMPT_HEADER))
        g.claims = environment.authenticator.verify(request.headers.get("Authorization"), audiences, attempt)
    except AuthError as exc:
        # The reason goes to the log and metrics only; the caller learns nothing (CDS Hooks best practice).
        metrics.AUTH_FAILURES.labels(exc.reason).inc()
        event(environment.logger, "auth-failed", logging.WARNING, reason=exc.reason, path=route_label())
        response = error_response(401, [Issue("login", "authentication required")])
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    except ReplayStoreUnavailable:
        # CDS_REPLAY_OUTAGE=closed: without the shared store a replay could not be told apart (docs/security.md).
        metrics.AUTH_FAILURES.labels("replay-store-unavailable").inc()
        return api_error(unavailable("service temporarily unavailable; retry shortly"))
    return None


def _service(service_id: str) -> CdsService:
    service = env().services.get(service_id)
    if service is None:
        raise ApiError(404, [Issue("not-found", f"no CDS service with id {service_id!r}; see /cds-services")])
    return service


@bp.get("/cds-services")
def discovery() -> Response:
    environment = env()
    return json_response({"services": [s.discovery(environment.kb) for s in environment.services.values()]})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    environment = env()
    services = [s.discovery(environment.kb) for s in environment.services.values()]
    return json_response(openapi.document(services, __version__, environment.kb.version))


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)


@bp.get("/healthz")
def healthz() -> Response:
    environment = env()
    return json_response({"status": "ok", "version": __version__, "ruleSetVersion": environment.kb.version})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready for traffic: this worker has rehearsed a hook call (warm) and the store answers within its timeout,
    with this version's schema. 503 otherwise, saying which."""
    environment = env()
    warm = environment.warm.is_set()
    store = environment.store.readiness()
    ready = warm and store == "reachable"
    return json_response(
        {"status": "ready" if ready else "not-ready", "warm": warm, "store": store}, 200 if ready else 503
    )


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    environment = env()
    started = time.monotonic()
    deadline = Deadline.after_ms(environment.settings.request_deadline_ms)
    label = service_id if service_id in environment.services else "unknown"  # never log client-chosen text
    fields: dict[str, Any] = {"service": label}
    status = 500
    try:
        service = _service(service_id)
        with _admitted(environment, deadline):
            response = _answer(environment, service, deadline, fields)
        status = 200
        return response
    except ApiError as exc:
        status = exc.status
        fields["issues"] = [contract.loggable(i.expression) if i.expression else i.code for i in exc.issues]
        raise
    except HTTPException as exc:
        status = exc.code or 500
        raise
    finally:
        elapsed = time.monotonic() - started
        metrics.REQUESTS.labels(label, str(status)).inc()
        metrics.LATENCY.labels(label).observe(elapsed)
        fields.update(status=status, durationMs=round(elapsed * 1000))
        if g.get("claims"):
            fields.update(_claims_view(environment, g.claims))
        event(environment.logger, "hook", **fields)


def _answer(environment: Environment, service: CdsService, deadline: Deadline, fields: dict[str, Any]) -> Response:
    body = read_json()
    if isinstance(body, dict) and _UUID.fullmatch(str(body.get("hookInstance"))):
        fields["hookInstance"] = body["hookInstance"]  # logged only in the shape the spec gives it
    claims = g.get("claims")
    issuer = environment.authenticator.issuers.get(claims.iss) if claims and environment.authenticator else None
    result = pipeline.run(
        service,
        body,
        kb=environment.kb,
        policy=environment.policy,
        settings=environment.settings,
        deadline=deadline,
        today=date.today(),
        logger=environment.logger,
        allowlist=environment.allowlist,
        bound_to=issuer.fhir_servers if issuer else None,
    )
    fields.update(rules=result.rule_ids, prefetch=result.prefetch.log_view(), cards=len(result.cards))
    _count(result)
    if result.dropped:
        fields["droppedEntries"] = result.dropped
    _record_cards(environment, service.id, body["hookInstance"], result.cards)
    response = json_response({"cards": result.cards})
    response.headers["Server-Timing"] = server_timing(result.timings)
    for stage, ms in result.timings.items():
        metrics.STAGE_LATENCY.labels(service.id, stage).observe(ms / 1000)
    # Freeing the call's body and models takes time too (about 13 ms for 1,000 resources): it is done once the
    # answer has been sent, when the server closes the response.
    leftovers = [body, result]
    response.call_on_close(leftovers.clear)
    return response


def server_timing(timings: dict[str, float]) -> str:
    """W3C Server-Timing: `contract;dur=0.12, prefetch;dur=0.05, ...` (milliseconds)."""
    return ", ".join(f"{stage};dur={ms:.2f}" for stage, ms in timings.items())


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _claims_view(environment: Environment, claims: Claims) -> dict[str, str]:
    """What of a verified token may be logged: the issuer (configured), the tenant only when the issuer's
    list admitted it, and the `jti` as a hash (the client chooses it; an operator can hash theirs to match)."""
    view = {"iss": claims.iss, "jtiSha256": hashlib.sha256(claims.jti.encode()).hexdigest()[:16]}
    issuer = environment.authenticator.issuers.get(claims.iss) if environment.authenticator else None
    if claims.tenant is not None and issuer is not None and issuer.tenants is not None:
        view["tenant"] = claims.tenant
    return view


@contextmanager
def _admitted(environment: Environment, deadline: Deadline) -> Iterator[None]:
    """A large body is read, parsed and validated only while the worker's large-call turn is held: memory stays
    bounded and small calls keep their threads. Past the one that may wait, or no turn by the deadline: 503."""
    length = request.content_length
    if length is not None and length <= LARGE_BODY_BYTES:
        yield
        return
    if not environment.large_admitted.acquire(blocking=False):
        raise _busy()
    try:
        if not environment.large_running.acquire(timeout=max(deadline.remaining(), 0)):
            raise _busy()
        try:
            yield
        finally:
            environment.large_running.release()
    finally:
        environment.large_admitted.release()


def _busy() -> ApiError:
    # The unread body is drained (not kept) first, for a second at most: a proxy still sending it would take a
    # reset for a failure. Behind the front the whole body is already here and this takes milliseconds.
    until = time.monotonic() + 1.0
    while request.stream.read(64 * 1024) and time.monotonic() < until:
        pass
    return unavailable("busy with other large requests; retry shortly", retry_after_seconds=2)


def _count(result: pipeline.Result) -> None:
    for card in result.cards:
        metrics.RULES.labels(card["source"]["topic"]["code"]).inc()
    for key, entry in result.prefetch.keys.items():
        metrics.PREFETCH.labels(key, entry.source).inc()
        if entry.source == "fetched" and entry.ms is not None:
            metrics.FETCH.labels(key).observe(entry.ms / 1000)


def _record_cards(environment: Environment, service_id: str, hook_instance: str, cards: list[dict[str, Any]]) -> None:
    """Remember which rule issued each card, for feedback. Queued for the store's background writer: the cards
    go out whatever the database does (records it cannot take are counted: `cards_dropped`)."""
    environment.store.record_cards_later(service_id, hook_instance, cards)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    environment = env()
    service = _service(service_id)
    body = read_json()
    _check_feedback_count(body, environment.settings.max_feedback_items)  # before validating every item
    contract.check("feedback", body)
    items = body.get("feedback", [body])
    try:
        stored = environment.store.store_feedback(service.id, items)
    except SQLAlchemyError as exc:  # down, locked, or no answer within CDS_DATABASE_TIMEOUT_MS
        return _feedback_unavailable(environment, service.id, exc)
    for item in items:
        metrics.FEEDBACK.labels(service.id, item["outcome"]).inc()
    event(environment.logger, "feedback", service=service.id, received=len(items), stored=stored)
    return json_response({"received": len(items), "stored": stored})


FEEDBACK_RETRY_AFTER_SECONDS = 5


def _check_feedback_count(body: Any, limit: int) -> None:
    items = body.get("feedback") if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > limit:
        raise ApiError(
            413,
            [
                Issue(
                    "too-long",
                    f"feedback: {len(items)} items, more than {limit} per post (CDS_MAX_FEEDBACK_ITEMS); "
                    "send them in several posts",
                    "feedback",
                )
            ],
        )


def _feedback_unavailable(environment: Environment, service_id: str, exc: Exception) -> Response:
    """Never a 200 for feedback that may not be stored, never a 500: a 503 the client can retry (posting the
    same feedback again is safe, it is stored once)."""
    metrics.FEEDBACK_UNAVAILABLE.inc()
    event(environment.logger, "feedback-unavailable", logging.ERROR, service=service_id, error=type(exc).__name__)
    return api_error(
        unavailable(
            "feedback could not be stored just now; post it again shortly (it is stored once)",
            FEEDBACK_RETRY_AFTER_SECONDS,
        )
    )


def cards_dropped(count: int, reason: str) -> None:
    """Called by the store's card writer (its own thread, no request context): counts only in the log."""
    metrics.CARD_RECORDS_DROPPED.labels(reason).inc(count)
    event(logging.getLogger(LOGGER_NAME), "card-records-dropped", logging.WARNING, count=count, reason=reason)

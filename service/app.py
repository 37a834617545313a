"""The web layer: routes, JSON in and out, CORS, errors as OperationOutcome. No coding logic lives here.

`create_app(config)` builds a fresh application (Flask tutorial style); all per-app resources (settings,
knowledge base, store, logger) hang off `app.extensions`, never off module globals, and nothing about one
request outlives it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from . import contract, metrics, openapi, pipeline
from .auth import Authenticator, AuthError, MemoryReplayCache, load_trusted_issuers, sandbox_preset
from .config import ConfigError, Settings
from .knowledge import Knowledge
from .knowledge import load as load_knowledge
from .lines import ModifierPolicy
from .logs import configure, event
from .outcome import ApiError, Issue, bad_request, operation_outcome
from .prefetch import Deadline, FhirAllowlist
from .registry import CdsService, all_services
from .store import Store

EXTENSION = "cpt64640"
FHIR_JSON = "application/fhir+json"


@dataclass
class Environment:
    settings: Settings
    kb: Knowledge
    services: dict[str, CdsService]
    store: Store
    logger: logging.Logger
    policy: ModifierPolicy
    authenticator: Authenticator | None  # None: development mode, nobody is checked
    allowlist: FhirAllowlist


def env() -> Environment:
    return current_app.extensions[EXTENSION]


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logger = configure(settings.log_level)
    store = Store(settings.database_url)
    app.extensions[EXTENSION] = Environment(
        settings=settings,
        kb=load_knowledge(),
        services=all_services(),
        store=store,
        logger=logger,
        policy=ModifierPolicy(settings.distinct_modifier, settings.bilateral_modifier_50),
        authenticator=_authenticator(settings, store, logger),
        allowlist=FhirAllowlist.from_settings(settings),
    )
    app.url_map.strict_slashes = False  # "/cds-services/" is discovery too: clients join base URLs carelessly
    app.register_blueprint(bp)
    app.after_request(_cors)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _authenticator(settings: Settings, store: Store, logger: logging.Logger) -> Authenticator | None:
    if settings.development:
        event(
            logger, "authentication-off", logging.WARNING, note="CDS_AUTH=off: development only, every caller trusted"
        )
        return None
    issuers = {}
    try:
        if settings.trusted_issuers:
            issuers.update(load_trusted_issuers(settings.trusted_issuers))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CDS_TRUSTED_ISSUERS: {exc}") from None
    if settings.sandbox_issuer:
        event(logger, "sandbox-issuer-trusted", logging.WARNING, note="its private key is public: never in production")
        issuers.update(sandbox_preset())
    cache = store if settings.replay_store == "database" else MemoryReplayCache()
    return Authenticator(issuers, replay_cache=cache)


bp = Blueprint("cds", __name__)
OPEN_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})


@bp.before_app_request
def _authenticate() -> Response | None:
    """Every CDS Hooks call carries the client's JWT (discovery, services, feedback); preflight does not."""
    environment = env()
    if request.method == "OPTIONS" or request.path in OPEN_PATHS or environment.authenticator is None:
        return None
    base = environment.settings.public_base_url.rstrip("/") or request.host_url.rstrip("/")
    try:
        g.claims = environment.authenticator.verify(request.headers.get("Authorization"), base + request.path)
    except AuthError as exc:
        # The reason goes to the log and metrics only; the caller learns nothing (CDS Hooks best practice).
        metrics.AUTH_FAILURES.labels(exc.reason).inc()
        event(environment.logger, "auth-failed", logging.WARNING, reason=exc.reason, path=_route_label())
        response = _error_response(401, [Issue("login", "authentication required")])
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return None


def _route_label() -> str:
    """The route for logs: ours as they are, anything else (client-chosen text) as "other"."""
    parts = request.path.rstrip("/").split("/")
    if parts[1:2] == ["cds-services"] and (
        len(parts) == 2 or (parts[2] in env().services and (len(parts) == 3 or parts[3:] == ["feedback"]))
    ):
        return "/".join(parts)
    return request.path if request.path in OPEN_PATHS else "other"


def _json_response(payload: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype=mimetype)


def _error_response(status: int, issues: list[Issue]) -> Response:
    return _json_response(operation_outcome(issues), status, FHIR_JSON)


def _read_json() -> Any:
    raw = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
    if not raw:
        raise bad_request("(body): the request body is empty; send a JSON object", code="required")
    limit = env().settings.max_json_depth
    try:
        body = json.loads(raw)
    except RecursionError:
        raise bad_request(
            f"(body): JSON nested deeper than {limit} levels (CDS_MAX_JSON_DEPTH)", code="too-long"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"(body): not valid JSON ({type(exc).__name__})", code="structure") from None
    problem = _structure_problem(body, limit)
    if problem:
        raise bad_request(f"(body): {problem}", code="too-long" if "deeper" in problem else "structure")
    return body


def _structure_problem(value: Any, limit: int) -> str | None:
    """Too deep, or text that is not Unicode (an unpaired surrogate escape such as \\ud800)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return f"JSON nested deeper than {limit} levels (CDS_MAX_JSON_DEPTH)"
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return "text with an unpaired surrogate escape (e.g. \\ud800) is not valid Unicode"
        elif isinstance(current, dict):
            stack.extend((k, depth + 1) for k in current)
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)
    return None


def _service(service_id: str) -> CdsService:
    service = env().services.get(service_id)
    if service is None:
        raise ApiError(404, [Issue("not-found", f"no CDS service with id {service_id!r}; see /cds-services")])
    return service


@bp.get("/cds-services")
def discovery() -> Response:
    environment = env()
    return _json_response({"services": [s.discovery(environment.kb.version) for s in environment.services.values()]})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    environment = env()
    services = [s.discovery(environment.kb.version) for s in environment.services.values()]
    return _json_response(openapi.document(services, environment.kb.version))


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)


@bp.get("/healthz")
def healthz() -> Response:
    environment = env()
    return _json_response({"status": "ok", "ruleSetVersion": environment.kb.version})


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
        body = _read_json()
        if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
            fields["hookInstance"] = body["hookInstance"][:64]
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
        status = 200
        return _json_response({"cards": result.cards})
    except ApiError as exc:
        status = exc.status
        fields["issues"] = [i.expression or i.code for i in exc.issues]
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
            fields.update(iss=g.claims.iss, tenant=g.claims.tenant, jti=g.claims.jti)
        event(environment.logger, "hook", **fields)


def _count(result: pipeline.Result) -> None:
    for card in result.cards:
        metrics.RULES.labels(card["source"]["topic"]["code"]).inc()
    for key, entry in result.prefetch.keys.items():
        metrics.PREFETCH.labels(key, entry.source).inc()
        if entry.source == "fetched" and entry.ms is not None:
            metrics.FETCH.labels(key).observe(entry.ms / 1000)


def _record_cards(environment: Environment, service_id: str, hook_instance: str, cards: list[dict[str, Any]]) -> None:
    """Remember which rule issued each card, for feedback. A store outage must not cost the clinician the
    cards: it is logged and the answer goes out."""
    try:
        environment.store.record_cards(service_id, hook_instance, cards)
    except SQLAlchemyError as exc:
        event(environment.logger, "card-record-failed", logging.ERROR, service=service_id, error=type(exc).__name__)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    environment = env()
    service = _service(service_id)
    body = _read_json()
    contract.check("feedback", body)
    items = body.get("feedback", [body])
    stored = environment.store.store_feedback(service.id, items)
    for item in items:
        metrics.FEEDBACK.labels(service.id, item["outcome"]).inc()
    event(environment.logger, "feedback", service=service.id, received=len(items), stored=stored)
    return _json_response({"received": len(items), "stored": stored})


def _cors(response: Response) -> Response:
    allowed = env().settings.cors_origins
    origin = request.headers.get("Origin")
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _api_error(exc: ApiError) -> Response:
    return _error_response(exc.status, exc.issues)


_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-long", 415: "not-supported"}


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        text = f"(body): larger than the limit of {env().settings.max_body_bytes} bytes (CDS_MAX_BODY_BYTES)"
    else:
        text = f"{exc.name}: {exc.description}" if exc.description else exc.name
    response = _error_response(status, [Issue(_HTTP_ISSUE_CODES.get(status, "processing"), text)])
    for name, value in exc.get_headers():
        if name.lower() != "content-type":  # e.g. Allow on a 405
            response.headers[name] = value
    return response


def _unexpected_error(exc: Exception) -> Response:
    environment = env()
    environment.logger.error(
        "unhandled", exc_info=(type(exc), exc, exc.__traceback__), extra={"fields": {"path": _route_label()}}
    )
    return _error_response(500, [Issue("exception", "internal error; the service log has the details")])

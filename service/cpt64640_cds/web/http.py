"""HTTP plumbing shared by the routes: JSON answers, OperationOutcome errors, reading a body safely, CORS,
and the error handlers that make sure a stack trace never leaves the process."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError, Issue, bad_request, operation_outcome
from .environment import env

FHIR_JSON = "application/fhir+json"

OPEN_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})


def route_label() -> str:
    """The route for logs: ours as they are, anything else (client-chosen text) as "other"."""
    parts = request.path.rstrip("/").split("/")
    if parts[1:2] == ["cds-services"] and (
        len(parts) == 2 or (parts[2] in env().services and (len(parts) == 3 or parts[3:] == ["feedback"]))
    ):
        return "/".join(parts)
    return request.path if request.path in OPEN_PATHS else "other"


def json_response(payload: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype=mimetype)


def error_response(status: int, issues: list[Issue]) -> Response:
    return json_response(operation_outcome(issues), status, FHIR_JSON)


def read_json() -> Any:
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


def cors(response: Response) -> Response:
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


def api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.issues)


_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-long", 415: "not-supported"}


def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        text = f"(body): larger than the limit of {env().settings.max_body_bytes} bytes (CDS_MAX_BODY_BYTES)"
    else:
        text = f"{exc.name}: {exc.description}" if exc.description else exc.name
    response = error_response(status, [Issue(_HTTP_ISSUE_CODES.get(status, "processing"), text)])
    for name, value in exc.get_headers():
        if name.lower() != "content-type":  # e.g. Allow on a 405
            response.headers[name] = value
    return response


def unexpected_error(exc: Exception) -> Response:
    environment = env()
    environment.logger.error(
        "unhandled", exc_info=(type(exc), exc, exc.__traceback__), extra={"fields": {"path": route_label()}}
    )
    return error_response(500, [Issue("exception", "internal error; the service log has the details")])

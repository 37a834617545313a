"""HTTP plumbing shared by the routes: JSON answers, OperationOutcome errors, reading a body safely, CORS,
and the error handlers that make sure a stack trace never leaves the process."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError, Issue, bad_request, operation_outcome
from ..protocol.contract import field_path
from ..protocol.decoding import UNDECIDED, fast_loads
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


# A realistic 5 MB FHIR body has about one object or array per 60-130 bytes; parsing, walking and validating
# cost grows with their number, so a body made of nested arrays is refused before any of that is paid.
MAX_CONTAINERS = 200_000

# A \uD800-\uDFFF escape in the raw bytes, or such a code point written out as UTF-8 bytes (invalid UTF-8 that
# json.loads decodes all the same).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")


def _may_hold_surrogates(raw: bytes) -> bool:
    """Only then can a decoded string hold an unpaired surrogate (a NUL byte: UTF-16 or UTF-32, whose code units
    may be lone surrogates). A byte looked for first: many times faster than a regular expression's search."""
    return (
        b"\x00" in raw
        or (b"\\" in raw and _SURROGATE_ESCAPE.search(raw) is not None)
        or (b"\xed" in raw and _SURROGATE_BYTES.search(raw) is not None)
    )


class _NonFinite:
    """Stands for NaN, Infinity or a number beyond float range while parsing, so its field can be named."""

    __slots__ = ()


_NON_FINITE = _NonFinite()


def read_json() -> Any:
    raw = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
    if not raw:
        raise bad_request("(body): the request body is empty; send a JSON object", code="required")
    containers = raw.count(b"{") + raw.count(b"[")  # counts brackets inside strings too: an upper bound
    if containers > MAX_CONTAINERS:
        raise ApiError(
            413, [Issue("too-costly", f"(body): more than {MAX_CONTAINERS} JSON objects and arrays", "(body)")]
        )
    limit = env().settings.max_json_depth
    body = fast_loads(raw)
    if body is UNDECIDED:
        body = _decode(raw, limit)
    if containers > limit and _nests_deeper(raw, limit) and _deeper_than(body, limit):
        raise bad_request(f"(body): JSON nested deeper than {limit} levels (CDS_MAX_JSON_DEPTH)", code="too-long")
    return body


def _decode(raw: bytes, limit: int) -> Any:
    non_finite: list[bool] = []

    def constant(_text: str) -> _NonFinite:
        non_finite.append(True)
        return _NON_FINITE

    def number(text: str) -> float | _NonFinite:
        value = float(text)
        return value if math.isfinite(value) else constant(text)

    try:
        body = json.loads(raw, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise bad_request(
            f"(body): JSON nested deeper than {limit} levels (CDS_MAX_JSON_DEPTH)", code="too-long"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"(body): not valid JSON ({type(exc).__name__})", code="structure") from None
    if _may_hold_surrogates(raw):
        where = _path_to(body, _unpaired_surrogate)
        if where is not None:
            raise bad_request(
                f"{where}: text with an unpaired surrogate escape (e.g. \\ud800) is not valid Unicode",
                where,
                code="structure",
            )
    if non_finite:
        where = _path_to(body, lambda value: value is _NON_FINITE) or "(body)"
        raise bad_request(
            f"{where}: must be a finite number (NaN, Infinity and numbers beyond the range of a double are not "
            "JSON numbers)",
            where,
        )
    return body


# The body's quotes and brackets, `{}` read as `[]`: all that decides how deep its containers nest.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


def _nests_deeper(raw: bytes, limit: int) -> bool:
    """Whether the raw body's brackets outside strings nest deeper than `limit`: a few passes of C over the bytes
    instead of a walk over every parsed object. Never less than the parsed depth (a duplicate key's dropped
    value still counts here), so False settles it and True is confirmed on the parsed body."""
    if b"\x00" in raw:  # UTF-16 or UTF-32 (UTF-8 JSON cannot hold a NUL byte): its bytes are not its characters
        return True
    # Escaped backslashes, then escaped quotes, go first: every quote left opens or closes a string.
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw
    # Two adjacent quotes are an empty string or two strings with no bracket between them: dropping them leaves
    # the brackets outside strings as they were, and only strings holding brackets remain to be cut out.
    shape = text.translate(_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in shape:
        shape = b"".join(shape.split(b'"')[::2])
    # One pass of replace removes every empty container (it never rescans its own output), so after `limit`
    # passes only containers nested deeper than `limit` are left.
    for _ in range(limit):
        shape = shape.replace(b"[]", b"")
        if not shape:
            return False
    return True


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict | list):  # a bare scalar body has no depth to check
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _unpaired_surrogate(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _path_to(value: Any, wanted: Callable[[Any], bool]) -> str | None:
    """The field path (as in OperationOutcome.expression) of the first value, or object key, that is `wanted`."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        current, path = stack.pop()
        if wanted(current):
            return field_path(path) or "(body)"
        if isinstance(current, dict):
            for key, child in current.items():
                if wanted(key):  # a bad key: name the object holding it, not the key itself
                    return field_path(path) or "(body)"
                stack.append((child, (*path, key)))
        elif isinstance(current, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(current))
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


def no_store(response: Response) -> Response:
    """Cards and errors may carry patient data: no cache (browser, proxy, EHR middleware) may keep them."""
    if request.method != "GET" or response.status_code >= 400:
        response.headers["Cache-Control"] = "no-store"
    return response


def api_error(exc: ApiError) -> Response:
    response = error_response(exc.status, exc.issues)
    response.headers.update(exc.headers)
    return response


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

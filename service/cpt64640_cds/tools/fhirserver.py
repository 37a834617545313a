"""A small FHIR R4 server on loopback that serves the resources found in fixture folders.

Used by the tests for the fetch path (prefetch absent + fhirServer), by replay in fetch mode, and by people
pointing the CDS Hooks sandbox at local data. It supports what our prefetch templates and the EHRs we
imitate use: read, search by patient/subject/encounter/_id/code/status, _sort on dates, _count with `next`
paging, POST _search, CORS, an optional bearer token, and fault injection (latency, error rate).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from ..protocol.prefetch.bundles import bundle_entries

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT = 50
MAX_COUNT = 500

# Where each search parameter looks, per the FHIR R4 search parameter definitions (simplified to the
# reference/token paths our fixtures use).
REFERENCE_PATHS = {
    "patient": ("subject", "patient"),
    "subject": ("subject", "patient"),
    "encounter": ("encounter", "context"),
}
CODE_PATHS = ("code", "type", "medicationCodeableConcept", "procedureCode")
DATE_PATHS = {
    "date": (
        "performedDateTime",
        "performedPeriod.start",
        "occurrenceDateTime",
        "authoredOn",
        "date",
        "recordedDate",
        "onsetDateTime",
        "period.start",
        "effectiveDateTime",
        "effectivePeriod.start",
    ),
    "started": ("started",),
    "effective-time": ("effectiveDateTime", "effectivePeriod.start"),
    "authored": ("authoredOn",),
}


def resource_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of a Bundle that carry a resource object; the rest (bare fullUrls, junk) are passed over."""
    return [e for e in bundle_entries(bundle) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def resources_in(document: Any) -> list[dict[str, Any]]:
    """The resources of a FHIR JSON document: a Bundle's entries (one level), or the resource itself."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        return []
    if document["resourceType"] == "Bundle":
        return [e["resource"] for e in resource_entries(document)]
    return [document]


def _path(resource: dict[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class FixtureStore:
    """All resources under some folders, by type and id; transaction urn:uuid references rewritten."""

    def __init__(self, paths: Iterable[Path]):
        self.by_type: dict[str, dict[str, dict[str, Any]]] = {}
        for path in paths:
            files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
            for file in files:
                try:
                    data = json.loads(file.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue  # not every file in a fixture folder is FHIR JSON
                self._add_document(data)

    def _add_document(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            for resource in resources_in(data):
                self._add(resource)
            return
        entries = resource_entries(data)
        aliases = {
            e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in entries
            if e.get("fullUrl") and e["resource"].get("id")
        }
        for entry in entries:
            self._add(_rewrite_references(entry["resource"], aliases))

    def _add(self, resource: dict[str, Any]) -> None:
        if resource.get("id"):
            self.by_type.setdefault(resource["resourceType"], {})[resource["id"]] = resource

    def count(self) -> int:
        return sum(len(v) for v in self.by_type.values())


def _rewrite_references(value: Any, aliases: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (aliases.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite_references(v, aliases))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_references(v, aliases) for v in value]
    return value


def _references(resource: dict[str, Any], names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        value = resource.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("reference"), str):
                yield item["reference"]


def _codes(resource: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
    for name in CODE_PATHS:
        value = resource.get(name)
        for concept in value if isinstance(value, list) else [value]:
            if isinstance(concept, dict):
                for coding in concept.get("coding") or []:
                    if isinstance(coding, dict) and coding.get("code"):
                        yield coding.get("system"), coding["code"]


_DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")


def _date_matches(resource: dict[str, Any], param: str, wanted: str) -> bool:
    """FHIR date search on the day: date=2026-11-10, date=ge2026-11-01, date=lt2026-12-01."""
    prefix = wanted[:2] if wanted[:2] in _DATE_PREFIXES else "eq"
    target = wanted[2:] if wanted[:2] in _DATE_PREFIXES else wanted
    value = _sort_key(resource, param)[: len(target)]
    if not value:
        return False
    return {
        "eq": value == target,
        "ne": value != target,
        "lt": value < target,
        "gt": value > target,
        "le": value <= target,
        "ge": value >= target,
    }[prefix]


def _matches(resource: dict[str, Any], name: str, wanted: str) -> bool:
    if name in DATE_PATHS:
        return _date_matches(resource, name, wanted)
    values = wanted.split(",")
    if name in REFERENCE_PATHS:
        refs = list(_references(resource, REFERENCE_PATHS[name]))
        return any(r == v or r.endswith("/" + v) or r.split("/")[-1] == v for r in refs for v in values)
    if name == "_id":
        return resource.get("id") in values
    if name == "status":
        return resource.get("status") in values
    if name == "code":
        codes = list(_codes(resource))
        for value in values:
            system, _, code = value.rpartition("|")
            if any(c == code and (not system or s == system) for s, c in codes):
                return True
        return False
    return True  # unknown parameters are ignored, as lenient FHIR servers do


def _sort_key(resource: dict[str, Any], param: str) -> str:
    for dotted in DATE_PATHS.get(param, ()):
        value = _path(resource, dotted)
        if isinstance(value, str):
            return value
    return ""


@dataclass
class Faults:
    latency_ms: int = 0
    fail_rate: float = 0.0  # share of requests answered 500
    malformed_rate: float = 0.0  # share of requests answered 200 with broken JSON
    token: str | None = None  # when set, every request must carry "Authorization: Bearer <token>"


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    authorization: list[str] = field(default_factory=list)  # what clients sent, for the token tests


def create_fhir_app(store: FixtureStore, faults: Faults | None = None) -> Flask:
    faults = faults or Faults()
    stats = Stats()
    app = Flask(__name__)

    def outcome(status: int, code: str, text: str) -> Response:
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
        return Response(json.dumps(body), status=status, mimetype=FHIR_JSON)

    @app.before_request
    def _enter() -> Response | None:
        if request.path == "/_stats":
            return None
        with stats.lock:
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            stats.authorization.append(request.headers.get("Authorization", ""))
        if request.method == "OPTIONS":
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.token and request.headers.get("Authorization") != f"Bearer {faults.token}":
            return outcome(401, "login", "bearer token required")
        if faults.fail_rate and random.random() < faults.fail_rate:
            return outcome(500, "transient", "injected failure")
        if faults.malformed_rate and random.random() < faults.malformed_rate:
            return Response('{"resourceType": "Bundle", "entry": [{"resou', mimetype=FHIR_JSON)
        return None

    @app.after_request
    def _leave(response: Response) -> Response:
        if request.path != "/_stats":
            with stats.lock:
                stats.in_flight -= 1
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        return response

    @app.get("/_stats")
    def _stats() -> Response:
        with stats.lock:
            body = {
                "requests": stats.requests,
                "maxInFlight": stats.max_in_flight,
                "authorization": sorted(set(stats.authorization)),
            }
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/metadata")
    def metadata() -> Response:
        body = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-27",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]}
                        for t in sorted(store.by_type)
                    ],
                }
            ],
        }
        return Response(json.dumps(body), mimetype=FHIR_JSON)

    @app.get("/<resource_type>/<resource_id>")
    def read(resource_type: str, resource_id: str) -> Response:
        resource = store.by_type.get(resource_type, {}).get(resource_id)
        if resource is None:
            return outcome(404, "not-found", f"{resource_type}/{resource_id} is not known")
        return Response(json.dumps(resource), mimetype=FHIR_JSON)

    @app.route("/<resource_type>", methods=["GET"])
    @app.route("/<resource_type>/_search", methods=["POST"])
    def search(resource_type: str) -> Response:
        params = request.args.to_dict(flat=True) | request.form.to_dict(flat=True)
        try:
            count = min(int(params.get("_count", DEFAULT_COUNT)), MAX_COUNT)
            offset = max(int(params.get("_offset", 0)), 0)
        except ValueError:
            return outcome(400, "invalid", "_count and _offset must be integers")
        found = [
            r
            for r in store.by_type.get(resource_type, {}).values()
            if all(
                _matches(r, name, value) for name, value in params.items() if not name.startswith("_") or name == "_id"
            )
        ]
        sort = params.get("_sort", "")
        if sort:
            found.sort(key=lambda r: _sort_key(r, sort.lstrip("-")), reverse=sort.startswith("-"))
        page = found[offset : offset + count]
        base = request.host_url.rstrip("/") + "/" + resource_type
        links = [{"relation": "self", "url": f"{base}?{urlencode(params)}"}]
        if offset + count < len(found):
            links.append({"relation": "next", "url": f"{base}?{urlencode(params | {'_offset': offset + count})}"})
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": links,
        }
        if page:
            bundle["entry"] = [
                {
                    "fullUrl": f"{base}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in page
            ]
        return Response(json.dumps(bundle), mimetype=FHIR_JSON)

    return app

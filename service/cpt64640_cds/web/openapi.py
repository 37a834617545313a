"""OpenAPI 3.1 description of the service (served at /openapi.json).

Built from data, never written by hand: one path per discovered service, the hooks/ JSON Schemas embedded
under `components/schemas` (named by their `$id` without the `urn:cpt64640-cds:hooks:` prefix) with every
`$ref` rewritten to point inside the document, so it is self-contained. OpenAPI 3.1 Schema Objects are
JSON Schema 2020-12, the dialect of hooks/, so the schemas are embedded unchanged apart from their refs.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from ..protocol.contract import CONTRACT_DIR

SCHEMA_PREFIX = "urn:cpt64640-cds:hooks:"
COMPONENTS = "#/components/schemas/"
FHIR_JSON = "application/fhir+json"
BEARER = "cdsHooksJwt"

OPERATION_OUTCOME: dict[str, Any] = {
    "title": "FHIR OperationOutcome (every non-2xx answer)",
    "description": "Each issue names the request field it is about in `expression` (FHIRPath-like).",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string", "minLength": 1},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

FEEDBACK_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["received", "stored"],
    "properties": {
        "received": {"type": "integer", "minimum": 0, "description": "Feedback items in the request."},
        "stored": {"type": "integer", "minimum": 0, "description": "Items new to the store (repeats are ignored)."},
    },
}

HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "version", "ruleSetVersion"],
    "properties": {
        "status": {"const": "ok"},
        "version": {"type": "string", "description": "The package version (CHANGELOG.md)."},
        "ruleSetVersion": {"type": "string", "description": "The rule set's version (docs/rules.md)."},
    },
}

READINESS: dict[str, Any] = {
    "type": "object",
    "required": ["status", "warm", "store"],
    "properties": {
        "status": {"enum": ["ready", "not-ready"]},
        "warm": {"type": "boolean", "description": "This worker has rehearsed a hook call."},
        "store": {
            "enum": ["reachable", "unreachable", "needs-upgrade"],
            "description": "Within CDS_DATABASE_TIMEOUT_MS; needs-upgrade: run `cpt64640 db upgrade`.",
        },
    },
}

REQUIRED_PREFETCH = " (required: 412 when absent and not obtainable from fhirServer)"

# Why each error status happens; the body is always an OperationOutcome.
ERRORS = {
    "400": "Not JSON, nested too deeply, or not valid against the hook's request schema; each issue names the field.",
    "401": "Missing or invalid client JWT (only when authentication is on; CDS_AUTH=off turns it off).",
    "404": "No CDS service with this id.",
    "412": "A required prefetch key was neither sent nor obtainable from fhirServer; the issue names the key.",
    "413": "Body larger than CDS_MAX_BODY_BYTES, or a prefetch Bundle over CDS_MAX_PREFETCH_RESOURCES entries.",
}


@cache
def _contract_schemas() -> dict[str, dict[str, Any]]:
    """hooks/*.schema.json by component name (their $id without the prefix), refs rewritten."""
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(CONTRACT_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        name = schema.pop("$id").removeprefix(SCHEMA_PREFIX)
        schema.pop("$schema", None)  # the OpenAPI 3.1 default dialect is a superset of JSON Schema 2020-12
        schemas[name] = _rewrite_refs(schema, name)
    return schemas


def _rewrite_refs(node: Any, name: str) -> Any:
    """`urn:...:hooks:<other>#/x` → `#/components/schemas/<other>/x`; a local `#/x` → `.../<name>/x`."""
    if isinstance(node, list):
        return [_rewrite_refs(item, name) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref(value, name)
        else:
            out[key] = _rewrite_refs(value, name)
    return out


def _ref(ref: str, name: str) -> str:
    if ref.startswith(SCHEMA_PREFIX):
        target, _, fragment = ref.removeprefix(SCHEMA_PREFIX).partition("#")
        return COMPONENTS + target + fragment
    if ref.startswith("#"):
        return COMPONENTS + name + ref[1:]
    raise ValueError(f"hooks/ schema {name}: $ref {ref!r} points outside the contract")


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": COMPONENTS + name}


def _json(name: str, media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": _schema(name)}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: {"description": ERRORS[status], **_json("OperationOutcome", FHIR_JSON)} for status in statuses}


def _request_schema(hook: str, schemas: dict[str, Any]) -> str:
    """The hook's own request schema (hooks/<hook>.request.schema.json), else the generic CDS Hooks request."""
    name = f"{hook}-request"
    return name if name in schemas else "cds-request"


def _request_body(hook: str, prefetch: dict[str, str], required: list[str], schemas: dict[str, Any]) -> dict[str, Any]:
    """The hook's request schema, with the service's prefetch keys (from discovery) named: each a FHIR
    resource or null, as hooks/cds-request says; the template and whether the key is required in words."""
    keys = {
        key: {
            "description": f"`{template}`" + (REQUIRED_PREFETCH if key in required else ""),
            "anyOf": [{"type": "null"}, {"$ref": COMPONENTS + "fhir-common/$defs/resource"}],
        }
        for key, template in prefetch.items()
    }
    schema: dict[str, Any] = {"allOf": [_schema(_request_schema(hook, schemas))]}
    if keys:
        schema["properties"] = {"prefetch": {"type": "object", "properties": keys}}
    return schema


def _service_paths(service: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    service_id, hook = service["id"], service["hook"]
    security: list[dict[str, list[str]]] = [{BEARER: []}]
    prefetch = service.get("prefetch") or {}
    required = (service.get("extension") or {}).get("cpt64640-cds.requiredPrefetch", [])
    call = {
        "operationId": f"call-{service_id}",
        "tags": ["CDS Hooks"],
        "summary": service.get("title", service_id),
        "description": service.get("description", ""),
        "security": security,
        "requestBody": {
            "required": True,
            "description": f"A CDS Hooks 2.0 `{hook}` request; prefetch keys as in discovery.",
            "content": {"application/json": {"schema": _request_body(hook, prefetch, required, schemas)}},
        },
        "responses": {
            "200": {"description": "Cards (possibly none).", **_json("cpt64640-response")},
            **_errors("400", "401", "404", "412", "413"),
        },
    }
    feedback = {
        "operationId": f"feedback-{service_id}",
        "tags": ["CDS Hooks"],
        "summary": f"Feedback on cards of {service_id}",
        "security": security,
        "requestBody": {"required": True, **_json("feedback")},
        "responses": {
            "200": {"description": "Feedback received; repeats are stored once.", **_json("FeedbackResult")},
            **_errors("400", "401", "404", "413"),
        },
    }
    return {f"/cds-services/{service_id}": {"post": call}, f"/cds-services/{service_id}/feedback": {"post": feedback}}


def document(services: list[dict[str, Any]], version: str, rule_set_version: str) -> dict[str, Any]:
    schemas = copy.deepcopy(_contract_schemas())
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "tags": ["CDS Hooks"],
                "summary": "CDS Hooks discovery",
                "security": [{BEARER: []}],
                "responses": {"200": {"description": "The services offered.", **_json("discovery")}, **_errors("401")},
            }
        }
    }
    for service in services:
        paths.update(_service_paths(service, schemas))
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "tags": ["Operations"],
            "summary": "Liveness, the package version and the rule-set version",
            "responses": {"200": {"description": "Up.", **_json("Health")}},
        }
    }
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "tags": ["Operations"],
            "summary": "Readiness: the worker is warm and the store answers",
            "responses": {
                "200": {"description": "Ready.", **_json("Readiness")},
                "503": {"description": "Not ready; the body says which.", **_json("Readiness")},
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "tags": ["Operations"],
            "summary": "Prometheus metrics (text exposition format)",
            "responses": {
                "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "tags": ["Operations"],
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {}}}}},
        }
    }
    schemas.update(
        OperationOutcome=OPERATION_OUTCOME, FeedbackResult=FEEDBACK_RESULT, Health=HEALTH, Readiness=READINESS
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cpt64640-cds",
            "version": version,
            "x-rule-set-version": rule_set_version,
            "summary": "CDS Hooks 2.0 coding assistant for CPT 64640",
            "description": f"The version is the package's (CHANGELOG.md); the rules are rule set {rule_set_version} "
            "(x-rule-set-version, docs/rules.md). Request and card schemas are the ones in hooks/, enforced at run "
            "time; every non-2xx answer is a FHIR OperationOutcome.",
        },
        "tags": [{"name": "CDS Hooks"}, {"name": "Operations"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "CDS Hooks 2.0 client JWT signed by a trusted issuer (aud = the URL called). "
                    "Not checked when the service runs with CDS_AUTH=off (development).",
                }
            },
        },
    }

"""OpenAPI 3.1 description of the service (served at /openapi.json)."""

from __future__ import annotations

from typing import Any


def document(services: list[dict[str, Any]], version: str) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "cpt64640-cds", "version": version}, "paths": {}}

"""Hook requests shaped the ways an EHR sends them: with prefetch answered from a FHIR server, with every key
null ("no data"), or with no prefetch and a `fhirServer` plus token for the service to fetch it all.
Shared by replay, the tests and the benchmarks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import requests

from ..protocol.prefetch.templates import resolve_template
from ..protocol.services import all_services
from ..protocol.services.order_sign import SERVICE as ORDER_SIGN
from .fhirserver import FixtureStore, create_fhir_app


def templates_of(service_id: str) -> dict[str, str]:
    """The prefetch templates a service declares, by key (what discovery lists)."""
    return {key: spec.template for key, spec in all_services()[service_id].prefetch.items()}


def answer_prefetch(
    templates: Mapping[str, str], context: dict[str, Any], source: FixtureStore | str
) -> dict[str, Any]:
    """What an EHR would prefetch: each template answered from a record (in-process) or a FHIR server's base URL.

    A template whose tokens the context cannot fill is left out, as the CDS Hooks sandbox does; an answer other
    than 200 is sent as null.
    """
    client = create_fhir_app(source).test_client() if isinstance(source, FixtureStore) else None
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        query = resolve_template(template, context)
        if query is None:
            continue
        if client is not None:
            response = client.get(f"/{query}")
            status, payload = response.status_code, response.get_json()
        else:
            answer = requests.get(f"{str(source).rstrip('/')}/{query}", timeout=10)
            status, payload = answer.status_code, answer.json()
        prefetch[key] = payload if status == 200 else None
    return prefetch


def with_prefetch(body: dict[str, Any], prefetch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["prefetch"] = prefetch
    return out


def null_prefetch(body: dict[str, Any], service_id: str = ORDER_SIGN.id) -> dict[str, Any]:
    """Every prefetch key of the service sent as null: the EHR has no data for it."""
    return with_prefetch(body, dict.fromkeys(all_services()[service_id].prefetch))


def fetching(body: dict[str, Any], server: str, token: str) -> dict[str, Any]:
    """The request without prefetch, pointing the service at `server` with a bearer token to fetch it all."""
    out = copy.deepcopy(body)
    out.pop("prefetch", None)
    out["fhirServer"] = server
    out["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "user/*.read",
        "subject": "cpt64640-cds",
    }
    return out

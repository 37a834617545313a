"""The playground: a small CDS client served at `/`, for informaticists to compose neurolysis orders the way an
EHR order form does and see the cards as an EHR shows them (docs/playground.md).

Served in development mode, or in production when CDS_PLAYGROUND=on. The page and its script are static and
hold no patient data: the browser reads patients from the FHIR server the user picks and calls the hooks like any
CDS client. Two helpers exist in development mode only: signing a JWT with the development issuer's key
(security/dev_issuer.py) and showing the feedback the store holds for a card.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ApiError, Issue, unavailable
from ..knowledge.base import Knowledge
from .environment import env
from .http import json_response, read_json

bp = Blueprint(
    "playground",
    __name__,
    static_folder="static",
    static_url_path="/playground/static",
    template_folder="templates",
)

# The page's own script and styles only; it may call any FHIR server the user names.
_CSP = (
    "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Procedure codes the order form offers, by family, in this order (the knowledge base's families).
_FAMILIES = (
    ("neurolytic-destruction", "Neurolytic destruction"),
    ("cryoablation", "Cryoablation"),
    ("nerve-block", "Nerve block (anaesthetic or steroid)"),
    ("chemodenervation", "Chemodenervation"),
    ("unlisted", "Unlisted"),
    ("imaging-guidance", "Image guidance (its own order)"),
)


@bp.before_request
def _enabled() -> None:
    if not env().settings.playground_enabled:
        abort(404)


@bp.after_request
def _policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/")
def page() -> str:
    environment = env()
    return render_template(
        "playground.html",
        fhir_url=environment.settings.playground_fhir_url,
        development=environment.settings.development,
        rule_set=environment.kb.version,
    )


@bp.get("/playground/vocabulary.json")
def vocabulary() -> Response:
    environment = env()
    services = {service.id: service.hook for service in environment.services.values()}
    return json_response({**order_vocabulary(environment.kb), "services": services})


@bp.post("/playground/token")
def token() -> Response:
    """A JWT for one call, signed with the development issuer's key (development mode only)."""
    environment = env()
    if environment.dev_issuer is None:
        abort(404)
    body = read_json()
    audience = body.get("audience") if isinstance(body, dict) else None
    if not isinstance(audience, str) or not _own_url(audience):
        raise ApiError(400, [Issue("value", "audience: the URL of one of this service's endpoints", "audience")])
    return json_response({"token": environment.dev_issuer.sign(audience)})


@bp.get("/playground/feedback/<card_uuid>")
def stored_feedback(card_uuid: str) -> Response:
    """What the store holds about one card's feedback (development mode only)."""
    environment = env()
    if not environment.settings.development:
        abort(404)
    if not _UUID.fullmatch(card_uuid):
        raise ApiError(400, [Issue("value", "card: a card uuid", "card")])
    try:
        rows = environment.store.feedback_for(card_uuid)
    except SQLAlchemyError:
        raise unavailable("the store did not answer; try again shortly") from None
    return json_response({"card": card_uuid, "feedback": [_shown(row) for row in rows]})


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}


def _own_url(url: str) -> bool:
    """Tokens are signed only for this service's own endpoints, as the browser reaches them."""
    parts, own = urlsplit(url), urlsplit(request.host_url)
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc) and parts.path.startswith("/cds-services/")


def order_vocabulary(kb: Knowledge) -> dict[str, Any]:
    """What the order form offers, from the knowledge base: codes with our own short names, nerves, sides,
    agents and guidance modalities."""
    procedures = [
        {
            "label": label,
            "codes": [
                {"code": code.code, "display": code.display}
                for code in sorted(kb.codes.values(), key=lambda c: c.code)
                if code.family == family
            ],
        }
        for family, label in _FAMILIES
    ]
    return {
        "ruleSetVersion": kb.version,
        "systems": {"cpt": kb.cpt_system, "snomed": kb.snomed_system, "rxnorm": kb.rxnorm_system},
        "procedures": [group for group in procedures if group["codes"]],
        "nerves": sorted(
            ({"id": n.id, "name": n.name, "sided": n.sided} for n in kb.nerves.values()), key=lambda n: n["name"]
        ),
        "sides": [{"side": s.side, "snomed": s.snomed} for s in kb.sides.values()],
        "agents": sorted(
            ({"id": a.id, "name": a.name, "class": a.klass, "rxnorm": list(a.rxnorm)} for a in kb.agents.values()),
            key=lambda a: (a["class"] != "neurolytic", a["name"]),
        ),
        "guidance": [
            {"id": g.id, "name": g.name, "codes": list(g.codes), "dicom": list(g.dicom)} for g in kb.guidance.values()
        ],
    }

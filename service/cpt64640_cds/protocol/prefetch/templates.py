"""Prefetch templates: the tokens CDS Hooks 2.0 allows, and filling them from the hook context."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# CDS Hooks 2.0 allows only root-level primitive context fields and the user tokens in templates.
ALLOWED_TOKEN = re.compile(
    r"^(context\.[A-Za-z]+|userPractitionerId|userPractitionerRoleId|userPatientId|userRelatedPersonId)$"
)
_TOKEN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def tokens(template: str) -> list[str]:
    return _TOKEN.findall(template)


def resolve_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill {{context.x}} tokens; None when a token has no primitive value (e.g. no encounterId)."""
    out = template
    for token in tokens(template):
        if not token.startswith("context."):
            return None  # user tokens are not used by our templates
        value = context.get(token.removeprefix("context."))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            return None
        out = out.replace("{{" + token + "}}", str(value)).replace("{{ " + token + " }}", str(value))
    return out

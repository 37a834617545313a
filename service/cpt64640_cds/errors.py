"""Errors as FHIR OperationOutcome bodies (a leaf module: every stage may raise them).

Every non-2xx answer carries an OperationOutcome (CDS Hooks 3.0 ballot makes this a SHOULD). Each issue
names the request field it is about in `expression`, so an integrator can fix the right thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    code: str  # FHIR issue-type: invalid, required, structure, not-found, timeout, exception, ...
    diagnostics: str
    expression: str | None = None
    severity: str = "error"

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


@dataclass
class ApiError(Exception):
    """Raised anywhere in the pipeline; the web layer turns it into `status` + OperationOutcome."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After on a 503

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def bad_request(diagnostics: str, expression: str | None = None, code: str = "invalid") -> ApiError:
    return ApiError(400, [Issue(code, diagnostics, expression)])


def unavailable(diagnostics: str, retry_after_seconds: int = 5) -> ApiError:
    """503 for a passing condition (busy, a store down): the client may retry after the given seconds."""
    return ApiError(503, [Issue("transient", diagnostics)], {"Retry-After": str(retry_after_seconds)})

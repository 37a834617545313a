"""indication-missing: no supporting diagnosis for a 64640 line (sources.md#clinical-indications).

Reasons on the order or procedure count first, then the patient's active conditions; a diagnosis supports
the line when it falls in one of the indication groups (knowledge/data/indications.json, ICD-10-CM codes
and their descendants, or the group's words in the diagnosis text).
"""

from __future__ import annotations

from ..facts.model import Facts
from .common import billed_as_64640, by_source, fit, merge_evidence, site
from .findings import Finding
from .inputs import RuleInputs

RULE_ID = "indication-missing"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    findings = []
    for source, episodes in by_source(billed_as_64640(inputs.coded, inputs.kb)).items():
        if any(e.indications for e in episodes):
            continue
        written = [r for e in episodes for r in e.reasons]
        active = [c for c in facts.conditions if c.active]
        looked = [
            f"{len(written)} reason(s) on `{source}`" if written else f"no reason on `{source}`",
            f"{len(active)} active condition(s)" if active else "no active condition",
        ]
        if "conditions" in facts.unavailable:
            looked.append("the problem list could not be read")
        groups = "\n".join(f"- {g.name}" for g in kb.indication_groups)
        findings.append(
            Finding(
                rule_id=RULE_ID,
                indicator="warning",
                summary=fit(f"No supporting diagnosis for 64640 ({', '.join(site(e) for e in episodes)})"),
                detail=(
                    "Missing: a supporting diagnosis. "
                    f"Looked at {', '.join(looked)}: none is an indication for neurolytic destruction of a "
                    f"peripheral nerve. Add the diagnosis to the order (reasonCode or reasonReference). "
                    f"The indications are:\n\n{groups}"
                ),
                evidence=merge_evidence(episodes),
                missing=("a supporting diagnosis",),
            )
        )
    return findings

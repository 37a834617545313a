"""indication-missing: no diagnosis supports a 64640 nerve and side (sources.md#clinical-indications).

The facts stage decides support per episode (facts/indications.py `supporting`): the order's or procedure's
own ICD-10-CM reasons that fit the nerve and side first, else the patient's active, confirmed conditions
that fit; a diagnosis of an indication group written only in words (or coded only in SNOMED CT) still shows
that an indication exists. A diagnosis of a group that names another nerve or side (occipital neuralgia on a
lateral femoral cutaneous line, a right-sided code on a left line) does not; the card names it.
"""

from __future__ import annotations

from ..facts.indications import diagnosis_code, fits
from ..facts.model import Facts, Indication, NerveEpisode
from ..knowledge.base import Knowledge
from .common import billed_as_64640, by_source, fit, merge_evidence, site
from .findings import Finding
from .inputs import RuleInputs

RULE_ID = "indication-missing"


def run(facts: Facts, inputs: RuleInputs) -> list[Finding]:
    kb = inputs.kb
    findings = []
    for source, episodes in by_source(billed_as_64640(inputs.coded, inputs.kb)).items():
        unsupported = [e for e in episodes if not e.indications]
        if not unsupported:
            continue
        written = list(dict.fromkeys(r for e in episodes for r in e.reasons))
        active = [c.indication for c in facts.conditions if c.active]
        looked = [
            f"{len(written)} reason(s) on `{source}`" if written else f"no reason on `{source}`",
            f"{len(active)} active, confirmed condition(s)" if active else "no active, confirmed condition",
        ]
        if "conditions" in facts.unavailable:
            looked.append("the problem list could not be read")
        elsewhere = _for_another_site(unsupported, [*written, *active], kb)
        groups = "\n".join(f"- {g.name}" for g in kb.indication_groups)
        findings.append(
            Finding(
                rule_id=RULE_ID,
                indicator="warning",
                summary=fit(f"No supporting diagnosis for 64640 ({', '.join(site(e) for e in unsupported)})"),
                detail=(
                    "Missing: a supporting diagnosis. "
                    f"Looked at {', '.join(looked)}: none is an indication for neurolytic destruction of "
                    f"{'these nerves' if len(unsupported) > 1 else 'this nerve'} on "
                    f"{'these sides' if len(unsupported) > 1 else 'this side'}.{elsewhere} Add the diagnosis "
                    "to the order (reasonCode or reasonReference). "
                    f"The indications are:\n\n{groups}"
                ),
                evidence=merge_evidence(episodes),
                missing=("a supporting diagnosis",),
            )
        )
    return findings


def _for_another_site(episodes: list[NerveEpisode], diagnoses: list[Indication], kb: Knowledge) -> str:
    """The coded indications on the record that name another nerve or side than these episodes'."""
    named = []
    for indication in dict.fromkeys(diagnoses):
        coding = diagnosis_code(indication, kb)
        if coding is not None and not any(fits(indication, e.nerve, e.side, kb) for e in episodes):
            title = coding.display or kb.diagnosis_title(coding.system, coding.code) or ""
            named.append(f"{coding.code} {title}".strip())
    if not named:
        return ""
    return f" For another nerve or side: {'; '.join(dict.fromkeys(named))}."

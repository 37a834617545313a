"""Rule scenarios end to end over HTTP: every folder in fhir-fixtures/scenarios is a full hook request with the
patient's record and its golden cards (topics, indicators, exact lines, suggested codes, missing elements).
The replayer (cpt64640_cds.tools.replay) drives the running service as an EHR would: discovery, then the hook."""

from __future__ import annotations

import pytest

from cpt64640_cds.tools.replay import OverHttp, discover, replay

from ..conftest import FIXTURES

SCENARIOS = discover([FIXTURES / "scenarios"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(service, scenario):
    result = replay([scenario], ["prefetch"], OverHttp(service.base_url))
    [run] = result.runs
    assert run.error is None, run.error
    assert run.summary == scenario.expected


def test_every_rule_has_a_firing_and_a_near_miss_scenario():
    fired = {card["topic"] for s in SCENARIOS for card in s.expected}
    assert fired == {
        "line-suggestion",
        "more-specific-code",
        "not-neurolytic",
        "imaging-bundled",
        "duplicate-nerve",
        "indication-missing",
        "documentation-incomplete",
        "image-guidance-missing",
        "global-period",
    }
    near = [s.name for s in SCENARIOS if s.name.startswith("near-")]
    assert len(near) >= 9
    assert len(SCENARIOS) >= 40

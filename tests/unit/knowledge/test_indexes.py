"""Knowledge's code indexes answer as walking the entries in data order did, for every code the base lists."""

from __future__ import annotations

import pytest

from cpt64640_cds.knowledge.loader import load

KB = load()
ABSENT = ["", "0", "XX", "not-a-code"]


def _walked(kind: str, code: str):
    return {
        "group": next((g for g in KB.indication_groups if code in g.snomed), None),
        "nerve": next((n for n in KB.nerves.values() if code in n.snomed), None),
        "side": next((s.side for s in KB.sides.values() if s.snomed == code), None),
        "rxnorm agent": next((a for a in KB.agents.values() if code in a.rxnorm), None),
        "snomed agent": next((a for a in KB.agents.values() if code in a.snomed), None),
        "guidance": next((g.id for g in KB.guidance.values() if code in g.codes), None),
        "dicom": next((g.id for g in KB.guidance.values() if code in g.dicom), None),
    }[kind]


def _indexed(kind: str, code: str):
    return {
        "group": lambda: KB.indication_group(KB.snomed_system, code),
        "nerve": lambda: KB.nerve_for_snomed(code),
        "side": lambda: KB.side_for_snomed(code),
        "rxnorm agent": lambda: KB.agent_by_code(KB.rxnorm_system, code),
        "snomed agent": lambda: KB.agent_by_code(KB.snomed_system, code),
        "guidance": lambda: KB.guidance_for_code(code),
        "dicom": lambda: KB.guidance_for_dicom(code),
    }[kind]()


CODES = sorted(
    {
        *(c for g in KB.indication_groups for c in g.snomed),
        *(c for n in KB.nerves.values() for c in n.snomed),
        *(s.snomed for s in KB.sides.values()),
        *(c for a in KB.agents.values() for c in (*a.rxnorm, *a.snomed)),
        *(c for g in KB.guidance.values() for c in (*g.codes, *g.dicom)),
        *ABSENT,
    }
)
KINDS = ["group", "nerve", "side", "rxnorm agent", "snomed agent", "guidance", "dicom"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_index_answers_as_the_walk(kind):
    found = [(code, _walked(kind, code)) for code in CODES]
    assert [(code, _indexed(kind, code)) for code in CODES] == found


def test_the_codes_reach_entries_of_most_kinds():
    assert sum(any(_walked(kind, code) is not None for code in CODES) for kind in KINDS) >= len(KINDS) - 1


def test_an_agent_is_found_by_its_own_system_only():
    agent = next(a for a in KB.agents.values() if a.rxnorm)
    assert KB.agent_by_code(KB.rxnorm_system, agent.rxnorm[0]) is agent
    assert KB.agent_by_code(KB.snomed_system, agent.rxnorm[0]) is None
    assert KB.agent_by_code(None, agent.rxnorm[0]) is None
    assert KB.agent_by_code(KB.rxnorm_system, None) is None

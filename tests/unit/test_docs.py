"""The documents cannot drift from the code: rule catalogue, card topics, configuration table."""

from __future__ import annotations

import re
from dataclasses import fields

from cpt64640_cds.config import _ENV_NAMES, Settings
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.protocol import contract
from cpt64640_cds.rules.catalogue import active_rules

from ..conftest import ROOT

KB = load()


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_rule_catalogue_matches_the_rule_set():
    text = (ROOT / "docs" / "rules.md").read_text()
    assert f"Rule set `{KB.version}`" in text
    sections = _sections(text)
    assert list(sections) == [*KB.rules, "Rule-set history"]
    assert f"| {KB.version} |" in sections["Rule-set history"]
    for rule in KB.rules.values():
        assert f"**Status:** {rule.status}" in sections[rule.id]
        if rule.status == "active":
            for part in ("**Fires when:**", "**Card:**", "**Does not fire:**"):
                assert part in sections[rule.id], (rule.id, part)
        for source in rule.source:
            assert source in sections[rule.id], (rule.id, source)


def test_active_rules_are_exactly_the_ones_that_run():
    assert set(active_rules(KB)) == {r.id for r in KB.rules.values() if r.status == "active"}


def test_the_card_contract_takes_any_rule_id_of_the_topic_system():
    """A new rule needs no contract change: the topic code is any rule id, the system is the rule set's."""
    schema = contract.hooks()._schemas["urn:cpt64640-cds:hooks:cpt64640-response"]
    topic = schema["properties"]["cards"]["items"]["properties"]["source"]["properties"]["topic"]
    assert topic["properties"]["system"]["const"] == KB.topic_system
    code = topic["properties"]["code"]
    assert "enum" not in code
    assert all(re.fullmatch(code["pattern"], rule_id) for rule_id in KB.rules)
    assert not re.fullmatch(code["pattern"], "Line Suggestion")


def test_readme_documents_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    defaults = Settings()
    for field in fields(Settings):
        name = _ENV_NAMES[field.name]
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row, name
        value = getattr(defaults, field.name)
        shown = ",".join(value) if isinstance(value, tuple) else str(value)
        assert f"`{shown}`" in row, (name, shown)

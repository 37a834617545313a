"""The project's own files cannot drift: the licence and its metadata, the NOTICE, the changelog's top release,
and the pre-commit hooks, which are `make test`'s checks."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import cpt64640_cds
from cpt64640_cds.knowledge.loader import load

from ..conftest import ROOT

KB = load()
RELEASE = re.compile(r"^## \[(\d+)\.(\d+)\.(\d+)\] - \d{4}-\d{2}-\d{2}$", re.M)
RULE_SET = re.compile(r"^Rule set \*\*(\d{4}\.\d+\.\d+)\*\*", re.M)


def _releases() -> list[tuple[tuple[int, ...], str]]:
    """Each release of CHANGELOG.md, newest first: its version and its text."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    found = list(RELEASE.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return [(tuple(int(part) for part in m.groups()), text[m.end() : end]) for m, end in zip(found, ends, strict=True)]


def test_the_licence_is_apache_2_0_and_the_metadata_says_so():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE", "NOTICE"]


def test_the_notice_says_what_the_documentation_says_of_cpt():
    notice = " ".join((ROOT / "NOTICE").read_text(encoding="utf-8").split())
    assert "CPT(R) is a registered trademark of the American Medical Association (AMA)." in notice
    assert "no CPT descriptors" in notice and "own licence from the AMA" in notice
    assert "ICD-10-CM" in notice and "public domain" in notice
    # The same words in the README and docs/sources.md.
    for name in ("README.md", "docs/sources.md"):
        text = " ".join((ROOT / name).read_text(encoding="utf-8").split())
        assert re.search(r"CPT(®)? is a registered trademark of the American Medical Association", text), name
        assert "paraphrases" in text and "not AMA text" in text, name


def test_the_changelog_tops_with_this_version_and_rule_set():
    releases = _releases()
    (version, text), *_ = releases
    assert ".".join(map(str, version)) == cpt64640_cds.__version__
    assert RULE_SET.findall(text) == [KB.version]
    # Newest first, each release naming a rule set of the history in docs/rules.md.
    assert [v for v, _ in releases] == sorted((v for v, _ in releases), reverse=True)
    history = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8").split("## Rule-set history")[1]
    for version, text in releases:
        [rule_set] = RULE_SET.findall(text)
        assert f"| {rule_set} |" in history, version


def _makefile_test_recipe() -> list[str]:
    """The commands of the Makefile's test target, $(BIN) written as the venv path."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ntest:", 1)[1].split("\n")[1:]
    recipe = [line.strip() for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("\t"))]]
    return [line.replace("$(BIN)/", ".venv/bin/") for line in recipe]


def test_the_pre_commit_configuration_is_valid():
    pre_commit = Path(sys.executable).parent / "pre-commit"
    result = subprocess.run(
        [str(pre_commit), "validate-config", ".pre-commit-config.yaml"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pre_commit_hooks_are_make_tests_checks():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    [repo] = config["repos"]
    assert repo["repo"] == "local"
    hooks = {hook["id"]: hook for hook in repo["hooks"]}
    recipe = _makefile_test_recipe()
    checks = [line for line in recipe if line != "scripts/system-deps" and "pytest" not in line]
    assert checks == [".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"]
    on_commit = [h["entry"] for h in hooks.values() if h.get("stages", config["default_stages"]) == ["pre-commit"]]
    assert on_commit == checks
    # The whole suite is too slow for a hook: before a push, its unit half runs with the recipe's command.
    [pytest] = [line for line in recipe if "pytest" in line]
    assert hooks["unit-tests"]["stages"] == ["pre-push"]
    assert shlex.split(hooks["unit-tests"]["entry"])[: len(shlex.split(pytest))] == shlex.split(pytest)
    assert "tests/unit" in shlex.split(hooks["unit-tests"]["entry"])
    assert all(h["language"] == "system" and h["pass_filenames"] is False for h in hooks.values())

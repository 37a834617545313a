"""The `cpt64640` command itself: its version, help on every option, offline commands that need no
client-authentication settings, and replay's progress (a bar on a terminal, a few lines in a log).
The `db` commands are in test_cli_db.py, replay's comparisons and reports in test_replay.py."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cpt64640_cds
from cpt64640_cds.cli import parser
from cpt64640_cds.knowledge.loader import load as load_knowledge

from ..conftest import FIXTURES
from .terminal import on_terminal

COMMAND = Path(sys.executable).parent / "cpt64640"  # the installed console script
# What only `serve` needs: who may call it. Offline commands must run without them.
CLIENT_AUTHENTICATION = ("CDS_AUTH", "CDS_TRUSTED_ISSUERS", "CDS_PUBLIC_BASE_URL", "CDS_SANDBOX_ISSUER")
TWO_SCENARIOS = [str(FIXTURES / "scenarios" / name) for name in ("line-lfcn-phenol-left", "specific-genicular")]


def offline_environment(data_dir: Path) -> dict[str, str]:
    """This environment without the client-authentication settings (tests/e2e sets CDS_AUTH=off), and a data
    directory of the test's own, so the default store is a fresh file there."""
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_AUTHENTICATION}
    return {**env, "CDS_DATA_DIR": str(data_dir)}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], capture_output=True, text=True, env=env, timeout=300)


def test_version_names_the_package_and_the_rule_set():
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cpt64640-cds {cpt64640_cds.__version__}, rule set {load_knowledge().version}\n"


def _parsers(top: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield top.prog, top
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_command_and_option_has_help():
    walked = dict(_parsers(parser()))
    assert {"cpt64640 db prune", "cpt64640 replay", "cpt64640 serve", "cpt64640 fhir-server"} <= set(walked)
    missing = []
    for prog, each in walked.items():
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{prog} {c.dest}" for c in action._choices_actions if not c.help]
            if not action.help:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_offline_commands_need_no_client_authentication_settings(tmp_path):
    env = offline_environment(tmp_path)
    report = run("feedback-report", env=env)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("rule ")
    replay = run("replay", "--quiet", *TWO_SCENARIOS, env=env)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "2 of 2 scenarios pass" in replay.stdout
    # ... whereas the service refuses to start without them, in one line.
    serve = run("serve", env=env)
    assert serve.returncode == 2 and "CDS_AUTH=required needs CDS_TRUSTED_ISSUERS" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_replay_progress_in_a_log_is_a_few_lines_without_carriage_returns(tmp_path):
    result = run("replay", str(FIXTURES), env=offline_environment(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    runs = int(result.stdout.splitlines()[-1].split()[2])  # "150 of 150 scenarios pass (prefetch)"
    assert "\r" not in result.stderr
    lines = result.stderr.splitlines()
    assert 2 <= len(lines) <= 6, lines
    assert lines[0] == f"replay: {runs} runs"
    assert lines[-1].startswith(f"replay: {runs} of {runs} runs done in ")


def test_replay_progress_on_a_terminal_is_a_bar(tmp_path):
    command = [str(COMMAND), "replay", *TWO_SCENARIOS, "--mode", "both"]
    returncode, stdout, screen = on_terminal(command, offline_environment(tmp_path))
    assert returncode == 0
    assert b"2 of 2 scenarios pass" in stdout
    assert "\r" in screen  # redrawn in place
    assert "100%|" in screen and "4/4" in screen and "█" in screen
    assert "replay:" not in screen  # not the log lines

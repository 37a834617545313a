"""`cpt64640 db upgrade | current | prune` on SQLite files, through the installed command: one human line each,
the default store and retention taken from the settings, no client-authentication settings needed, and a failure
is one line and exit 2 with no password in it."""

from __future__ import annotations

import re
from pathlib import Path

from cpt64640_cds.store import schema
from cpt64640_cds.tools.processes import free_port

from .test_cli import offline_environment, run


def test_upgrade_then_current_then_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    env = offline_environment(tmp_path)
    before = run("db", "current", "--database-url", url, env=env)
    assert before.returncode == 0, before.stderr
    needed = f"this release's revision is {schema.head()} (cpt64640 db upgrade)"
    assert before.stdout == f"{url} is at no revision; {needed}\n"
    upgraded = run("db", "upgrade", "--database-url", url, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == f"upgraded {url} from none to {schema.head()}\n"
    current = run("db", "current", "--database-url", url, env=env)
    assert current.stdout == f"{url} is at {schema.head()}, this release's revision\n"
    again = run("db", "upgrade", "--database-url", url, env=env)
    assert again.returncode == 0 and again.stdout == f"{url} is already at {schema.head()}\n"


def test_the_default_store_is_the_file_in_the_data_directory(tmp_path):
    env = offline_environment(tmp_path)  # no DATABASE_URL, no CDS_AUTH, CDS_TRUSTED_ISSUERS, CDS_PUBLIC_BASE_URL
    env.pop("DATABASE_URL", None)
    upgraded = run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == f"upgraded sqlite:///{tmp_path / 'cpt64640.sqlite3'} from none to {schema.head()}\n"
    assert (tmp_path / "cpt64640.sqlite3").is_file()
    assert run("db", "current", env=env).stdout.endswith(f"is at {schema.head()}, this release's revision\n")
    report = run("feedback-report", env=env)
    assert report.returncode == 0 and report.stdout.startswith("rule "), report.stderr


def _pruned(output: str) -> tuple[int, dict[str, int]]:
    """ "pruned URL of rows older than N days: 3 from issued_card, 0 from feedback" → (N, counts)."""
    found = re.fullmatch(r"pruned \S+ of rows older than (\d+) days: (.+)\n", output)
    assert found, output
    counts = dict((table, int(n)) for n, table in re.findall(r"(\d+) from (\w+)", found[2]))
    assert counts, output
    return int(found[1]), counts


def test_prune_keeps_the_retention_period_and_prints_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    env = {**offline_environment(tmp_path), "CDS_RETENTION_DAYS": "30"}
    assert run("db", "upgrade", "--database-url", url, env=env).returncode == 0
    by_default = run("db", "prune", "--database-url", url, env=env)
    assert by_default.returncode == 0, by_default.stderr
    days, counts = _pruned(by_default.stdout)
    assert days == 30 and set(counts.values()) == {0}  # a new store has nothing to prune
    chosen = run("db", "prune", "--days", "7", "--database-url", url, env=env)
    assert _pruned(chosen.stdout)[0] == 7
    refused = run("db", "prune", "--days", "0", "--database-url", url, env=env)
    assert refused.returncode == 2 and refused.stderr == "cpt64640: --days must be at least 1\n"


def _one_line_failure(result) -> str:
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_failures_are_one_line_without_the_password(tmp_path):
    env = offline_environment(tmp_path)
    refused = f"postgresql://cpt64640:s3cret-w0rd@127.0.0.1:{free_port()}/cpt64640"  # nothing listens there
    for action in ("upgrade", "current", "prune"):
        message = _one_line_failure(run("db", action, "--database-url", refused, env=env))
        assert message.startswith("cpt64640: cannot ") and "s3cret-w0rd" not in message
        assert "postgresql://cpt64640:***@127.0.0.1" in message
    unreadable = _one_line_failure(run("db", "upgrade", "--database-url", "not a url", env=env))
    assert unreadable.startswith("cpt64640: cannot upgrade the database URL: ")
    (tmp_path / "a-file").write_text("")
    no_folder = tmp_path / "a-file" / "store.sqlite3"  # its folder cannot be made
    message = _one_line_failure(run("db", "upgrade", "--database-url", f"sqlite:///{no_folder}", env=env))
    assert message.startswith(f"cpt64640: cannot upgrade sqlite:///{no_folder}: ")


def test_db_without_an_action_is_a_usage_error_naming_them(tmp_path: Path):
    usage = run("db", env=offline_environment(tmp_path))
    assert usage.returncode == 2 and "{upgrade,current,prune}" in usage.stderr

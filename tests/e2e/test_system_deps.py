"""scripts/system-deps, the first step of `make test`: it says what it will do to the machine before apt-get
runs, does nothing when opted out (CPT64640_SYSTEM_DEPS=0), and says in one line when all is in place.

apt-get is never run for real here: a recording stand-in takes its place on PATH."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT

SCRIPT = ROOT / "scripts" / "system-deps"
# What the script calls or looks for besides apt-get, from the machine (chromium is left out on purpose below).
TOOLS = ("bash", "id", "su", "grep", "head", "ls", "sort", "tail", "chmod", "rm", "chromedriver", "psql", "java")
TOOLS += ("createdb", "pg_lsclusters", "pg_ctlcluster", "pg_createcluster")
RECORDING_APT_GET = '#!/bin/sh\necho "apt-get $*" >&2\n'  # stderr: the script sends apt-get's stdout away


def _postgres_listens() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def _everything_in_place() -> bool:
    return (
        os.geteuid() == 0
        and all(shutil.which(tool) for tool in ("chromium", *TOOLS))
        and Path("/usr/sbin/nginx").exists()
        and _postgres_listens()
    )


needs_everything = pytest.mark.skipif(
    not _everything_in_place(),
    reason="needs root with Chromium, nginx, Java and the PostgreSQL test cluster already set up (make test as root)",
)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A PATH folder the postgres user can read too (the script runs psql as postgres; tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="system-deps-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def _bin(folder: Path, tools: tuple[str, ...]) -> Path:
    """`folder` with the given tools of the machine and the recording apt-get."""
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    (folder / "apt-get").write_text(RECORDING_APT_GET)
    (folder / "apt-get").chmod(0o755)
    return folder


def _run(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(shutil.which("bash")), str(SCRIPT)],
        env={"PATH": str(path), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, so the order of the notice and apt-get's call shows
        text=True,
        timeout=120,
    )


def test_opting_out_installs_and_starts_nothing(folder):
    # Nothing of Chromium, PostgreSQL, nginx or Java on PATH and `id` says root: only the opt-out stops the install.
    _bin(folder, ("grep", "head", "ls", "sort", "tail"))
    (folder / "id").write_text("#!/bin/sh\necho 0\n")
    (folder / "id").chmod(0o755)
    result = _run(folder, CPT64640_SYSTEM_DEPS="0")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "system-deps: skipped (CPT64640_SYSTEM_DEPS=0): nothing installed or started; "
        "tests that need Chromium, PostgreSQL, nginx or Java skip and say why"
    ]


@needs_everything
def test_it_says_what_it_will_do_before_apt_get_runs(folder):
    policy = Path("/usr/sbin/policy-rc.d")
    policy_before = policy.exists()
    result = _run(_bin(folder, TOOLS))  # chromium is missing from this PATH: the script would install it
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    install = lines.index("apt-get install -y -qq chromium")
    notice = "\n".join(lines[:install])
    assert "installs Debian packages with apt-get: chromium" in notice
    assert "PostgreSQL cluster on 127.0.0.1:5432" in notice
    assert "role cpt64640" in notice and "database cpt64640_test" in notice
    assert "To opt out: CPT64640_SYSTEM_DEPS=0 make test" in notice
    assert policy.exists() == policy_before  # the no-service-start policy is its own to remove


@needs_everything
def test_with_everything_in_place_it_says_so_in_one_line(folder):
    result = _run(_bin(folder, ("chromium", *TOOLS)))
    assert result.returncode == 0, result.stdout
    [line] = result.stdout.splitlines()
    assert "nothing to do" in line and "CPT64640_SYSTEM_DEPS=0" in line


@needs_everything
def test_without_java_it_installs_the_headless_runtime(folder):
    result = _run(_bin(folder, ("chromium", *(tool for tool in TOOLS if tool != "java"))))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    install = lines.index("apt-get install -y -qq default-jre-headless")
    assert "installs Debian packages with apt-get: default-jre-headless" in "\n".join(lines[:install])

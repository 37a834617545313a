"""`make run`'s launcher (`cpt64640 dev fhir-fixtures`) started as `make run` starts it, on free ports and a data
folder of the test's own: for test_make_run.py and the playground's browser tests."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cpt64640_cds.tools.processes import free_port

from ..conftest import FIXTURES

READY = re.compile(r"^ready: CDS Hooks discovery at (http://\S+/cds-services), fixture FHIR server at (http://\S+)$")


@contextmanager
def launch_dev(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The launcher and the stdout lines read so far; killed with its whole group at the end."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
        "CDS_AUTH": "off",  # what `make run` sets
        "PORT": str(free_port()),
        "WORKERS": "1",
        "CDS_DATA_DIR": str(data_dir),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cpt64640_cds", "dev", str(FIXTURES), "--fhir-port", "0"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        yield launcher, lines
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=10)


def until_ready(launcher: subprocess.Popen[str], lines: list[str]) -> re.Match[str]:
    """The ready line: (discovery URL, fixture FHIR server URL)."""
    assert launcher.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and launcher.poll() is None:
        if select.select([launcher.stdout], [], [], 1)[0]:
            lines.append(launcher.stdout.readline().rstrip("\n"))
            if ready := READY.match(lines[-1]):
                return ready
    raise AssertionError(f"no ready line: {lines}")

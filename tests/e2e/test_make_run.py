"""`make run`'s launcher, `cpt64640 dev fhir-fixtures`: both URLs printed, a fetch-mode hook call answered from
the fixture FHIR server it started, and SIGTERM to the launcher alone, or Ctrl-C's SIGINT to its whole group,
stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cpt64640_cds.tools.cards import proposed_lines
from cpt64640_cds.tools.hook_requests import fetching

from ..conftest import ROOT, SIGN, fixture_request
from .conftest import post_hook
from .launcher import launch_dev, until_ready

LFCN = ("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")
FHIR = re.compile(r"^fixture FHIR server at (http://127\.0\.0\.1:\d+): (\d+) patients, \d+ resources$")


def _descendants(root: int) -> set[int]:
    """Every live process below `root` (nginx leads a process group of its own, so groups are not enough)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if state != "Z":
            parents[int(stat.parent.name)] = int(parent)
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    with launch_dev(tmp_path) as started:
        yield started


def test_make_run_runs_the_launcher_on_the_fixtures():
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "cpt64640 dev fhir-fixtures --fhir-port $(FHIR_PORT)" in recipe


@pytest.mark.parametrize(
    ("stop", "signum"),
    [("launcher", signal.SIGTERM), ("group", signal.SIGINT)],  # `kill` or a service manager; Ctrl-C in a terminal
)
def test_launcher_serves_the_fixtures_to_the_service_and_stops_everything(launched, stop, signum):
    launcher, lines = launched
    ready = until_ready(launcher, lines)
    discovery, fhir_url = ready.groups()
    fhir_line = next(FHIR.match(line) for line in lines if FHIR.match(line))
    assert fhir_line.group(1) == fhir_url
    assert int(fhir_line.group(2)) >= 15  # fhir-fixtures/ehr alone holds 15 patients

    assert requests.get(discovery, timeout=10).status_code == 200
    assert requests.get(f"{fhir_url}/Patient/neuro-1", timeout=10).json()["id"] == "neuro-1"
    base = discovery.removesuffix("/cds-services")
    response = post_hook(base, SIGN, fetching(fixture_request("order-sign-lfcn-left"), fhir_url, "dev-token"))
    assert response.status_code == 200
    assert proposed_lines(response.json()["cards"]) == [LFCN]

    started = _descendants(launcher.pid)
    assert len(started) >= 2  # serve and its gunicorn worker (and nginx, when installed)
    if stop == "launcher":
        os.kill(launcher.pid, signum)
    else:
        os.killpg(launcher.pid, signum)  # the terminal's foreground group: the launcher, serve and its workers
    assert launcher.wait(timeout=60) == 0
    deadline = time.monotonic() + 10  # reparented grandchildren, if any, would outlive the wait above
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(started) == set()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fhir_url}/metadata", timeout=2)

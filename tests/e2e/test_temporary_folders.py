"""`serve` removes the temporary folders it created (the metrics folder, the front's run folder) when it stops:
on SIGTERM, on SIGINT, and when nginx cannot start. A metrics folder the operator named is theirs, and kept.
Each test runs serve with a private TMPDIR and looks at what is left there."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from cpt64640_cds.tools.processes import free_port, start_service

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
UNASSIGNED = "192.0.2.1"  # TEST-NET-1 (RFC 5737)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps installs it)")


def _tmpdir(tmp_path: Path) -> Path:
    private = tmp_path / "tmp"
    private.mkdir()
    return private


@pytest.mark.parametrize(
    ("front", "sig"),
    [
        pytest.param("nginx", signal.SIGTERM, marks=needs_nginx),
        pytest.param("nginx", signal.SIGINT, marks=needs_nginx),
        ("none", signal.SIGTERM),
    ],
)
def test_a_stopped_serve_leaves_nothing_in_its_temporary_folder(tmp_path, front, sig):
    private = _tmpdir(tmp_path)
    server = start_service(tmp_path, CDS_FRONT=front, TMPDIR=str(private))
    try:
        made = sorted(path.name.rsplit("-", 1)[0] for path in private.iterdir())
        assert made == (["cpt64640-metrics", "cpt64640-serve"] if front == "nginx" else ["cpt64640-metrics"])
        os.kill(server.process.pid, sig)  # serve alone, as a service manager or a terminal would
        assert server.process.wait(timeout=30) == 0
    finally:
        server.kill()
    assert list(private.iterdir()) == []


def test_a_metrics_folder_the_operator_named_is_kept(tmp_path):
    private = _tmpdir(tmp_path)
    named = tmp_path / "metrics"
    named.mkdir()
    server = start_service(tmp_path, CDS_FRONT="none", TMPDIR=str(private), PROMETHEUS_MULTIPROC_DIR=str(named))
    server.stop()
    assert named.is_dir() and any(named.iterdir())  # the workers' metric files: serve used it, and left it
    assert list(private.iterdir()) == []


@needs_nginx
def test_when_nginx_cannot_start_serve_says_so_in_json_and_cleans_up(tmp_path):
    private = _tmpdir(tmp_path)
    port = free_port()
    with pytest.raises(RuntimeError, match="service did not start"):  # an address of no interface here
        start_service(tmp_path, port, CDS_FRONT="nginx", TMPDIR=str(private), HOST=UNASSIGNED)
    assert list(private.iterdir()) == []
    lines = (tmp_path / f"service-{port}.log").read_text().splitlines()
    events = [json.loads(line) for line in lines if not line.startswith("cpt64640-cds rule set ")]
    assert any(e["event"] == "nginx" and e["message"].startswith(f"[emerg] bind() to {UNASSIGNED}:") for e in events)
    [failed] = [e for e in events if e["event"] == "front-failed"]
    assert failed["level"] == "error" and "before listening" in failed["message"]

"""The built wheel: one import package, `cpt64640_cds`, with its data, that serves from outside the repository;
no top-level `service` module, neither installed nor importable from the checkout. The wheel and the sdist both
carry LICENSE and NOTICE, named in their metadata (PEP 639)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import requests

import cpt64640_cds
from cpt64640_cds.tools.processes import free_port

from ..conftest import ROOT


def _checkout(target: Path) -> Path:
    """The repository's files as a clean clone has them (setuptools builds in the tree it is given, so a build
    folder left in the working copy must not leak into the wheel)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working copy
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)
    return target


LICENCE_FILES = ("LICENSE", "NOTICE")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return _checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, source) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("cpt64640_cds-*.whl")
    return built


@pytest.fixture(scope="module")
def sdist(tmp_path_factory, source) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    # The PEP 517 hook itself: the `build` front end is not a dependency, and the backend is installed (dev).
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("cpt64640_cds-*.tar.gz")
    return built


def _licence_metadata(metadata: str) -> tuple[list[str], list[str]]:
    lines = metadata.split("\n\n")[0].splitlines()  # the headers, not the README after them
    return (
        [line.partition(": ")[2] for line in lines if line.startswith("License-Expression: ")],
        [line.partition(": ")[2] for line in lines if line.startswith("License-File: ")],
    )


def test_the_wheel_holds_one_package_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"cpt64640_cds"}
    assert wheel.name.startswith(f"cpt64640_cds-{cpt64640_cds.__version__}-")
    # The contract (a symlink in the repository) and the knowledge base travel as files.
    assert "cpt64640_cds/protocol/schemas/cpt64640-response.schema.json" in names
    assert "cpt64640_cds/knowledge/data/nerves.json" in names
    assert "cpt64640_cds/knowledge/schemas/nerves.schema.json" in names
    # The worker warm-up's rehearsal requests (server/warmup.py).
    assert "cpt64640_cds/server/rehearsal/cpt64640-order-sign.json" in names
    assert "cpt64640_cds/server/rehearsal/cpt64640-encounter-discharge.json" in names
    assert "cpt64640_cds/audit/templates/summary.html.jinja" in names
    assert {"cpt64640_cds/web/templates/playground.html", "cpt64640_cds/web/static/playground.js"} <= set(names)


def test_the_installed_wheel_serves_from_outside_the_repository(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    # The installed copy comes first on the path, ahead of the editable install of the checkout.
    env.update(PYTHONPATH=str(site), CDS_AUTH="off", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    where = subprocess.run(
        [sys.executable, "-c", "import cpt64640_cds; print(cpt64640_cds.__file__)"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    port = free_port()
    env.update(PORT=str(port), WORKERS="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "cpt64640_cds", "serve"],
        cwd=outside,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "CDS Hooks discovery at" in server.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
                assert server.poll() is None, "the service exited"
                assert time.monotonic() < deadline, "the service did not answer"
                time.sleep(0.1)
        assert answer.status_code == 200
        served = {s["id"] for s in answer.json()["services"]}
        assert served == {"cpt64640-order-sign", "cpt64640-order-select", "cpt64640-encounter-discharge"}
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()["warm"] is True  # rehearsed
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)  # gunicorn's graceful stop; slow on a loaded machine
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_wheel_carries_the_licence_and_the_notice(wheel):
    archive = zipfile.ZipFile(wheel)
    info = f"cpt64640_cds-{cpt64640_cds.__version__}.dist-info"
    for name in LICENCE_FILES:
        assert archive.read(f"{info}/licenses/{name}") == (ROOT / name).read_bytes()
    assert _licence_metadata(archive.read(f"{info}/METADATA").decode()) == (["Apache-2.0"], list(LICENCE_FILES))


def test_the_sdist_carries_the_licence_and_the_notice(sdist):
    top = f"cpt64640_cds-{cpt64640_cds.__version__}"
    with tarfile.open(sdist) as archive:
        for name in LICENCE_FILES:
            member = archive.extractfile(f"{top}/{name}")
            assert member is not None and member.read() == (ROOT / name).read_bytes()
        info = archive.extractfile(f"{top}/PKG-INFO")
        assert info is not None
        assert _licence_metadata(info.read().decode()) == (["Apache-2.0"], list(LICENCE_FILES))


@pytest.mark.parametrize("where", [ROOT, Path("/")])
def test_there_is_no_service_module_to_import(where):
    result = subprocess.run([sys.executable, "-c", "import service"], cwd=where, capture_output=True, text=True)
    assert result.returncode != 0
    assert "cpt64640_cds" in result.stderr or "No module named 'service'" in result.stderr

"""A PostgreSQL cluster of the tests' own (initdb into a temporary folder, run as the postgres user on a free
port), for tests that freeze it, make roles and databases, or share it between service instances: doing that to
the shared test database would disturb every other test."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpt64640_cds.tools.processes import free_port


class PrivatePostgres:
    """A PostgreSQL cluster of our own, which the tests may freeze (SIGSTOP) and thaw (SIGCONT)."""

    def __init__(self, folder: Path, port: int):
        self.folder = folder
        self.port = port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def processes(self) -> list[int]:
        postmaster = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        return [postmaster, *map(int, children)]

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        stopped = self.processes()
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)


def as_postgres(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["su", "postgres", "-s", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not binaries:
        pytest.skip("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin; scripts/system-deps)")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user to run a private PostgreSQL as")
    bin_dir = Path(binaries[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="cpt64640-pg-"))
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = free_port()
    as_postgres(f"{bin_dir}/initdb -D {folder}/data -A trust -U postgres --no-sync -E UTF8 > /dev/null")
    server = f"-p {port} -k {folder} -h 127.0.0.1 -c fsync=off -c max_connections=60"
    as_postgres(f"{bin_dir}/pg_ctl -D {folder}/data -l {folder}/log -w -o '{server}' start > /dev/null")
    cluster = PrivatePostgres(folder, port)
    try:
        yield cluster
    finally:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            for pid in cluster.processes():
                os.kill(pid, signal.SIGCONT)
        as_postgres(f"{bin_dir}/pg_ctl -D {folder}/data -m immediate stop > /dev/null")
        shutil.rmtree(folder, ignore_errors=True)

"""A command run with its stderr on a pseudo-terminal (one that reports no size, as a bare pty does) and its
stdout on a pipe: how the progress bars of replay and audit are seen by a person at a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
from typing import NamedTuple


class OnTerminal(NamedTuple):
    returncode: int
    stdout: bytes
    screen: str  # everything drawn on the terminal


def on_terminal(command: list[str], env: dict[str, str], timeout: float = 300) -> OnTerminal:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the command has exited and closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    returncode = process.wait(timeout=timeout)
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.stdout.close()
    return OnTerminal(returncode, stdout, drawn.decode())

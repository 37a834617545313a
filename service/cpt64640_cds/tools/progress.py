"""Progress for the long commands (replay, audit): a tqdm bar when stderr is a terminal, a few plain lines
otherwise (a CI log never gets a carriage return). Each command supplies its own bar and lines classes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TextIO, TypeVar


class Closing(Protocol):
    def close(self) -> None: ...


Shown = TypeVar("Shown", bound=Closing)


@contextlib.contextmanager
def shown(
    bar: Callable[[TextIO, Any], Shown], lines: Callable[[TextIO], Shown], stream: TextIO | None = None
) -> Iterator[Shown]:
    """`bar(stream, tqdm)` on a terminal when tqdm (the tools extra) is installed, else `lines(stream)`; closed at
    the end. `stream`: stderr by default."""
    stream = stream or sys.stderr
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        display = lines(stream)
    else:
        display = bar(stream, tqdm) if stream.isatty() else lines(stream)
    try:
        yield display
    finally:
        display.close()


def new_bar(tqdm: Any, stream: TextIO, **options: Any) -> Any:
    """A tqdm bar sized to the terminal; one that reports no size (a bare pseudo-terminal) would get no bar at
    all: 80 x 24 then."""
    try:
        columns, rows = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        columns, rows = 0, 0
    return tqdm(file=stream, ncols=columns or 80, nrows=rows or 24, **options)

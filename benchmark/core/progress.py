"""Progress of a stage over its items (volumes, photographs): a bar on a terminal, plain lines otherwise.

On a terminal (stderr is a TTY) each stage gets a rich progress bar with the items done, the rate and
the time left, kept on screen when the stage ends. Elsewhere (a log file, a pipe, CI) the stage writes
plain lines to stderr, ``<stage>: <done>/<total> (<rate>/s, <time> left)``, at most one every
``PLAIN_EVERY_S`` seconds and one when it ends, so stdout keeps only the commands' results.
``show=False`` (``progress=false``) is silent.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Sized, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

T = TypeVar("T")
PLAIN_EVERY_S = 10.0


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f}/s" if task.speed else "-/s", style="progress.data.speed")


def progress(items: Iterable[T], description: str, show: bool = True, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, showing the stage ``description``'s progress (see the module's docstring)."""
    if total is None:
        total = len(items) if isinstance(items, Sized) else None
    if not show:
        yield from items
    elif sys.stderr.isatty():
        yield from _bar(items, description, total)
    else:
        yield from _plain(items, description, total)


def _bar(items: Iterable[T], description: str, total: int | None) -> Iterator[T]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=False) as bar:
        yield from bar.track(items, total=total, description=description)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def plain_line(description: str, done: int, total: int | None, elapsed: float) -> str:
    """``<stage>: <done>/<total> (<rate>/s, <time> left)``; when finished, the time it took."""
    rate = done / elapsed if elapsed > 0 else 0.0
    of = f"/{total}" if total is not None else ""
    if total is not None and done >= total:
        return f"{description}: {done}{of} done in {_clock(elapsed)} ({rate:.2f}/s)"
    left = f", {_clock((total - done) / rate)} left" if total is not None and rate > 0 else ""
    return f"{description}: {done}{of} ({rate:.2f}/s{left})"


def _plain(items: Iterable[T], description: str, total: int | None) -> Iterator[T]:
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= PLAIN_EVERY_S and (total is None or done < total):
            print(plain_line(description, done, total, now - start), file=sys.stderr, flush=True)
            last = now
    if total is None or done == total:
        print(plain_line(description, done, done if total is None else total, time.monotonic() - start),
              file=sys.stderr, flush=True)

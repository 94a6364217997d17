"""Progress bars (rich) that stay quiet when asked or when output is not a terminal."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, Sized, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, show: bool = True, total: int | None = None) -> Iterator[T]:
    if not show or not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import track

    if total is None:
        total = len(items) if isinstance(items, Sized) else None
    yield from track(items, description=description, total=total, console=None, transient=True)

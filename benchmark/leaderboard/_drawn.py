"""Figures drawn once per content: a figure's file name holds a digest of what it shows and of the code
that draws it, so a board rebuilt from the same runs finds the files it drew before instead of drawing
them again (matplotlib's text layout costs about half a second a figure)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from benchmark.core.files import config_hash, sha256_file

FORMATS = ("png", "svg")


def drawn_once(path: Path, data: Any, draw: Callable[[Path], list[Path]]) -> list[Path]:
    """``<path>-<digest>.png`` and ``.svg``: those files when both exist, else ``draw(stem)``'s. The digest
    covers ``data`` (JSON-able: everything the figure shows) and the source file of ``draw``."""
    code = sha256_file(inspect.getsourcefile(draw))
    stem = path.with_name(f"{path.name}-{config_hash({'code': code, 'data': data})[:12]}")
    drawn = [stem.with_name(f"{stem.name}.{ext}") for ext in FORMATS]
    if all(p.is_file() for p in drawn):
        return drawn
    return draw(stem)

"""On-disk cache of expensive products (brain masks, renders, embeddings).

A product is stored under ``<root>/<stage>/<input hash>-<config hash>.npz``: the input file's content
hash and the stage's config hash, so that changing either recomputes and nothing else does.
Writes are atomic, so a killed run never leaves a half-written entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from benchmark.core.files import atomic_path


class DiskCache:
    def __init__(self, root: str | os.PathLike, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}.npz"

    def get_or_compute(
        self, stage: str, key: str, compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Return the arrays stored for (stage, key), computing and storing them on a miss."""
        path = self.path(stage, key)
        if self.enabled and path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    out = {k: data[k] for k in data.files}
                self.hits += 1
                return out
            except (OSError, ValueError):  # unreadable entry: recompute
                pass
        self.misses += 1
        out = compute()
        if self.enabled:
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, **out)
        return out

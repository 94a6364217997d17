"""A per-process memo of the last results of a computation, by key (least recently used evicted first).

The stages keep what a volume's next caller would recompute (its voxels, its preparation for rendering, its
renders, its template fit, a pair's ICP score) in one of these; keys are digests of content, so an entry is
right whoever asks. ``functools.lru_cache`` does not serve: the arguments are arrays, keyed by their digest.
"""

from __future__ import annotations

import collections
from typing import Any, Hashable


class Recent(collections.OrderedDict):
    """An ordered dict that keeps the ``maxsize`` entries used last: :meth:`recall` and :meth:`keep` mark an
    entry as used; :meth:`keep` then drops the least recently used beyond ``maxsize``."""

    def __init__(self, maxsize: int):
        super().__init__()
        self.maxsize = int(maxsize)

    def recall(self, key: Hashable, default: Any = None) -> Any:
        """The entry of ``key`` (now the most recently used), else ``default``."""
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def keep(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` under ``key`` as the most recently used entry; return it."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)
        return value

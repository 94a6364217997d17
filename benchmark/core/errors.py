"""The one exception type for errors a user can cause (bad file, missing id, wrong shape, bad key)."""

from __future__ import annotations

from os import PathLike


class BenchmarkError(Exception):
    """A problem with the user's input, named with the file (when there is one) and the fix.

    The CLI prints ``str(error)`` on one line without a traceback and exits non-zero.
    """

    def __init__(self, message: str, path: str | PathLike | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)

"""Study 'angles' (issue 15)."""

from __future__ import annotations

from benchmark.core.errors import BenchmarkError
from benchmark.studies.context import Context


def run(ctx: Context) -> dict:
    raise BenchmarkError("study angles: not implemented yet")

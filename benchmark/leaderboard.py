"""``leaderboard``: not available yet."""

from __future__ import annotations

from omegaconf import DictConfig

from .errors import BenchmarkError


def run(cfg: DictConfig) -> int:
    raise BenchmarkError("this command is not available yet: the leaderboard (issue 7)")

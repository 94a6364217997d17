"""The ``leaderboard`` config node (the schema, :class:`LeaderboardConfig`, lives in :mod:`benchmark.core.config`)."""

from __future__ import annotations

from omegaconf import DictConfig

from benchmark.core.config import LeaderboardConfig, typed


def leaderboard_config(cfg: DictConfig | None) -> LeaderboardConfig:
    return typed(LeaderboardConfig, cfg.get("leaderboard") if cfg is not None else None, "leaderboard")

"""``run``: the whole benchmark in one command."""

from __future__ import annotations

from omegaconf import DictConfig

from .prepare import prepare, summary


def run(cfg: DictConfig) -> int:
    prepared = prepare(cfg)
    print(summary(prepared))
    return 0

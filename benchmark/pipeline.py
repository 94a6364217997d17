"""``run``: the whole benchmark in one command.

prepare (cached) -> anonymise the kit with every configured baseline (finished volumes kept) ->
validate, score and track each baseline and extra submission -> build the leaderboard -> print it.
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from omegaconf import DictConfig

from .anonymize import anonymize_kit
from .errors import BenchmarkError
from .prepare import prepare, summary


def run(cfg: DictConfig) -> int:
    from baselines import get_baseline

    from .leaderboard import build_leaderboard, leaderboard_config, terminal_table
    from .scoring import evaluate
    from .tracking import tracking_config

    start = time.perf_counter()
    prepared = prepare(cfg)
    print(summary(prepared))
    submissions: list[Path] = []
    for name in cfg.baselines:
        out = Path(cfg.paths.submissions_dir) / f"baseline-{name}"
        anonymize_kit(prepared, get_baseline(name), out, name, cfg.limits.max_voxels, cfg.progress, cfg.workers)
        submissions.append(out)
    submissions += [Path(s) for s in cfg.submissions]
    if not submissions:
        raise BenchmarkError("nothing to score: give baselines=[...] or submissions=[dir, ...]")
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for sub in submissions:
        out_dir = Path(cfg.output_dir or Path(cfg.paths.outputs_dir) / "run" / stamp) / sub.name
        path, results = evaluate(cfg, prepared, sub, out_dir, command="run")
        status = "scored" if results["validation"]["ok"] else f"INVALID: {results['validation']['reason']}"
        print(f"{sub}: {status} -> {path}")
    lb = leaderboard_config(cfg)
    board = build_leaderboard(tracking_config(cfg.tracking), cfg.paths.leaderboard_dir, lb.split, lb)
    print()
    print(terminal_table(board))
    print(f"\nleaderboard: {board / 'index.html'}  ({time.perf_counter() - start:.0f} s)")
    return 0

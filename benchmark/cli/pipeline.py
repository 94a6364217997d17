"""``run``: the whole benchmark in one command.

prepare (cached) -> anonymise the kit with every configured baseline (finished volumes kept) ->
validate, score and track each baseline and extra submission -> build the leaderboard -> print it.

The ``none`` baseline (the original volumes) is always scored, first, even when ``baselines`` leaves it
out: it is the reference row (VoicePrivacy's original-versus-original), whose figures every
submission's ``results.json`` carries as its ``reference`` block and the summary table prints beside
every row.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path

from omegaconf import DictConfig

from benchmark.cli.evaluate import evaluate, to_score
from benchmark.core import registry
from benchmark.core.errors import BenchmarkError
from benchmark.core.memory import freeze_heap
from benchmark.core.shards import sharding
from benchmark.data.prepare import prepare, summary
from benchmark.leaderboard import build_leaderboard, leaderboard_config, terminal_table
from benchmark.scoring.reference import REFERENCE_BASELINE
from benchmark.scoring.shards import fill_together
from benchmark.submission.anonymize import anonymize_kit, baseline_dir, baseline_name
from benchmark.submission.unpack import ARCHIVE_SUFFIXES, is_archive
from benchmark.tracking import tracking_config


def _folder_name(submission: Path) -> str:
    """The submission's name without an archive suffix: ``team.tar.gz`` -> ``team``."""
    name = submission.name
    return next((name[: -len(s)] for s in ARCHIVE_SUFFIXES if name.lower().endswith(s)), name)


def _output_names(submissions: list[Path]) -> list[str]:
    """One output folder name per submission: its folder name, ``-2``, ``-3``... after the first of a name
    (``a/team`` and ``b/team`` must not write one folder)."""
    names: list[str] = []
    for sub in submissions:
        name, n = _folder_name(sub), 1
        while (name if n == 1 else f"{name}-{n}") in names:
            n += 1
        names.append(name if n == 1 else f"{name}-{n}")
    return names


def _evaluate_one(cfg: DictConfig, prepared, submission: Path, out_dir: Path, threads: int = 0,
                  report=None) -> tuple[str, str]:
    """Validate (unless ``report`` is its validation report), score and track one submission (in a worker
    process when ``threads``); (status line, team/system)."""
    freeze_heap()  # a worker's collection after the task walks only what the task made (benchmark.core.memory)
    if threads:
        import torch

        torch.set_num_threads(threads)
    path, results = evaluate(cfg, prepared, submission, out_dir, command="run", report=report)
    status = (("reused (unchanged)" if results.reused else "scored") if results.validation.ok
              else f"INVALID: {results.validation.reason}")
    return f"{submission}: {status} -> {path}", results.submission.name


def run(cfg: DictConfig) -> int:
    """prepare -> anonymise with the baselines -> validate, score and track -> leaderboard; the time of each."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    prepared = prepare(cfg)
    print(summary(prepared))
    stages["prepare"] = time.perf_counter() - t0
    t = time.perf_counter()
    made, refused = _anonymise_baselines(cfg, prepared)
    submissions = made + [Path(s) for s in cfg.submissions]
    if not submissions:
        raise BenchmarkError("nothing to score: give baselines=[...] or submissions=[dir, ...]")
    stages["anonymise"] = time.perf_counter() - t
    t = time.perf_counter()
    _score_all(cfg, prepared, submissions)
    stages["validate and score"] = time.perf_counter() - t
    t = time.perf_counter()
    lb = leaderboard_config(cfg)
    board = build_leaderboard(tracking_config(cfg.tracking), cfg.paths.leaderboard_dir, lb.split, lb,
                              missing=refused)
    stages["leaderboard"] = time.perf_counter() - t
    print()
    print(terminal_table(board))
    print(f"\nleaderboard: {board / 'index.html'}  ({time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()) + ")")
    for name, reason in refused.items():
        print(f"error: baseline '{name}' not scored: {reason}", file=sys.stderr)
    return 2 if refused else 0


def _anonymise_baselines(cfg: DictConfig, prepared) -> tuple[list[Path], dict[str, str]]:
    """Each baseline's submission folder, written (or resumed), and the baselines that refused volumes
    (name -> reason: they are not scored, the others are; ``run`` then exits non-zero). The none baseline
    always, first: the reference, the attack's strength; nothing is scored without it."""
    baselines = [REFERENCE_BASELINE] + [b for b in cfg.baselines if b != REFERENCE_BASELINE]
    if REFERENCE_BASELINE not in cfg.baselines:
        print(f"scoring the '{REFERENCE_BASELINE}' baseline too, as the reference (the attack's strength)")
    chosen = baseline_name(cfg) if cfg.get("baseline") is not None else None
    folders, refused = [], {}
    for name in baselines:
        out = baseline_dir(cfg.paths.submissions_dir, name)
        # the chosen baseline (run baseline=X ...) carries the command line's overrides (baseline.seed=...)
        baseline = (registry.build("baseline", node=cfg.baseline) if name == chosen
                    else registry.build("baseline", name))
        try:
            anonymize_kit(prepared, baseline, out, name, cfg.limits.max_voxels, cfg.progress, cfg.workers,
                          sharding(cfg))
        except BenchmarkError as exc:  # volumes refused (listed by anonymize_kit): the other baselines go on
            if name == REFERENCE_BASELINE:
                raise
            refused[name] = str(exc)
            continue
        folders.append(out)
    return folders, refused


def _score_all(cfg: DictConfig, prepared, submissions: list[Path]) -> None:
    """Validate, score and track every submission, none first (the others read its figures as their
    reference). With ``workers`` > 1, the per-volume work of every submission still to score is computed
    first in one pool of processes (:func:`benchmark.scoring.shards.fill_together`: the cores stay busy
    whatever each submission costs), then the submissions are scored ``workers`` at a time, none among them
    (a submission that needs none's figures before they exist waits for them:
    :func:`benchmark.scoring.result_cache.scoring`); each is scored on its own, so the results equal a
    serial run's. Warns when two submissions declare one team/system."""
    out_root = Path(cfg.output_dir or Path(cfg.paths.outputs_dir) / "run" / _dt.datetime.now().strftime(
        "%Y-%m-%d_%H-%M-%S"))
    out_dirs = [out_root / name for name in _output_names(submissions)]
    names: dict[str, list[Path]] = {}

    def report(done: tuple[str, str], submission: Path) -> None:
        print(done[0], flush=True)
        names.setdefault(done[1], []).append(submission)

    reports, pending = zip(*(to_score(cfg, prepared, sub) for sub in submissions))
    todo = [root for root in pending if root is not None]
    if cfg.workers > 1 and todo and sharding(cfg).n <= 1:
        t = time.perf_counter()
        n = fill_together(cfg, prepared, todo, cfg.workers)
        print(f"per-volume work of {len(todo)} submission(s): {n} items in {cfg.workers} processes "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
    jobs = list(zip(submissions, out_dirs, reports))
    busy = [root is not None or is_archive(sub) for sub, root in zip(submissions, pending)]
    if cfg.workers > 1 and sum(busy) > 1:  # reused results need no worker process
        from joblib import Parallel, delayed

        n = min(cfg.workers, sum(busy))
        calls = (delayed(_evaluate_one)(cfg, prepared, sub, out, max(1, (os.cpu_count() or 1) // n), checked)
                 for sub, out, checked in jobs)
        for done, (sub, _, _) in zip(Parallel(n_jobs=n, return_as="generator")(calls), jobs):
            report(done, sub)
    else:
        for sub, out, checked in jobs:
            report(_evaluate_one(cfg, prepared, sub, out, report=checked), sub)
    for name, subs in names.items():
        if len(subs) > 1:  # the leaderboard has one row per team/system: the last run tracked
            print(f"warning: {len(subs)} submissions declare {name} ({', '.join(map(str, subs))}); the "
                  "leaderboard shows one row per team/system, the last one tracked; give each its own "
                  "system name in submission.yaml", flush=True)

"""The commands: each takes the composed, checked config and returns an exit status.

``COMMANDS`` maps a command's name to its one-line help and its function; :func:`dispatch` runs one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig

from benchmark.cli.evaluate import evaluate
from benchmark.cli.pipeline import run as run_pipeline
from benchmark.core import registry
from benchmark.core.errors import BenchmarkError
from benchmark.core.shards import sharding
from benchmark.data.prepare import prepare, prepared_root, summary
from benchmark.leaderboard import build_leaderboard, leaderboard_config, terminal_table
from benchmark.studies import STUDIES, study_context
from benchmark.studies.context import table
from benchmark.submission.anonymize import anonymize_kit, baseline_dir, baseline_name
from benchmark.submission.validate import report_path, validate_submission, validation_config, write_report
from benchmark.tracking import tracking_config


def prepare_command(cfg: DictConfig) -> int:
    print(summary(prepare(cfg)))
    return 0


def anonymize_command(cfg: DictConfig) -> int:
    if cfg.get("baseline") is None:
        raise BenchmarkError("choose a defacing baseline: baseline=<name> (see conf/baseline/)")
    prepared = prepare(cfg, write_kit=True)
    name = baseline_name(cfg)
    out = baseline_dir(cfg.paths.submissions_dir, name)
    anonymize_kit(prepared, registry.build("baseline", node=cfg.baseline), out, name, cfg.limits.max_voxels,
                  cfg.progress, cfg.workers, sharding(cfg))
    print(out)
    return 0


def validate_command(cfg: DictConfig) -> int:
    submission = cfg.get("submission")
    if not submission:
        raise BenchmarkError("say which submission to check: python -m benchmark validate submission=<dir|archive>")
    limits = validation_config(cfg)
    kit = cfg.get("kit_dir")
    if not kit:
        kit = prepared_root(cfg) / "kit"
        if not (kit / "ids.txt").is_file():
            kit = prepare(cfg).kit
    report = validate_submission(submission, kit, limits)
    for line in report.lines():
        print(line)
    out = write_report(report, report_path(submission, limits))
    print(f"report: {out}")
    if not report.ok:
        print(f"error: {submission}: not a valid submission ({report.n_errors} error(s), listed above)",
              file=sys.stderr)
        return 2
    return 0


def score_command(cfg: DictConfig) -> int:
    if not cfg.submission:
        raise BenchmarkError("give the submission to score: submission=<dir>")
    submission = Path(cfg.submission)
    prepared = prepare(cfg)
    path, results = evaluate(cfg, prepared, submission, Path(cfg.output_dir) if cfg.output_dir else None)
    if not results.validation.ok:
        print(f"error: {submission}: not a valid submission: {results.validation.reason} "
              f"(tracked unranked; details in {path.parent / 'validation.json'})", file=sys.stderr)
        print(path)
        return 2
    print(path)
    return 0


def leaderboard_command(cfg: DictConfig) -> int:
    lb = leaderboard_config(cfg)
    out = build_leaderboard(tracking_config(cfg.get("tracking")), cfg.paths.leaderboard_dir, lb.split, lb)
    print(terminal_table(out))
    print(f"leaderboard: {out / 'index.html'}")
    return 0


def study_command(cfg: DictConfig) -> int:
    if cfg.study not in STUDIES:
        names = ", ".join(STUDIES)
        raise BenchmarkError(f"name the study: python -m benchmark study <name> submission=<dir> (one of: {names})")
    ctx = study_context(cfg)
    payload = STUDIES[cfg.study][1](ctx)
    if payload.get("table"):
        print(table(payload["table"]["rows"], payload["table"]["header"]))
    print(ctx.out_dir / f"{cfg.study}.json")
    return 0


#: command -> (one-line help, function taking the composed config)
COMMANDS: dict[str, tuple[str, Callable[[DictConfig], int]]] = {
    "run": ("prepare, anonymise with the baselines, validate, score, track and build the leaderboard",
            run_pipeline),
    "prepare": ("build the dataset (synthetic or BIDS), the fixed splits, trial lists and participant kit",
                prepare_command),
    "anonymize": ("write a baseline's submission for the published lists (baseline=<name>)", anonymize_command),
    "validate": ("check a submission folder or archive against the published lists (submission=<dir>)",
                 validate_command),
    "score": ("attack a submission and write results.json, score files and plots (submission=<dir>)",
              score_command),
    "study": ("run one of the study's experiments: study <name> submission=<dir> ("
              + ", ".join(STUDIES) + ")", study_command),
    "leaderboard": ("build leaderboard/ (json, csv, md, html) from the tracked runs", leaderboard_command),
}


def dispatch(command: str, cfg: DictConfig) -> int:
    """Run ``command`` on its config."""
    os.environ["BENCHMARK_CACHE_DIR"] = str(cfg.paths.cache_dir)  # brain masks share the run's cache
    return int(COMMANDS[command][1](cfg) or 0)

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
from benchmark.data.devkit import load_dev_kit
from benchmark.data.prepare import prepare, prepared_root, summary
from benchmark.data.prepared import Prepared
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


def scoring_cohort(cfg: DictConfig) -> Prepared:
    """The organiser's prepared cohort, or with ``kit=`` a dev kit alone (:mod:`benchmark.data.devkit`):
    then only the kit's volumes of a submission are validated and read."""
    if not cfg.kit:
        return prepare(cfg)
    prepared = load_dev_kit(cfg.kit)
    missing = [s for s in cfg.scoring.splits if not prepared.splits.persons.get(s)]
    if missing:
        raise BenchmarkError(f"the dev kit holds no {missing[0]} split; score it with split=dev", cfg.kit)
    cfg.validation.ignore_extra = True
    return prepared


def score_command(cfg: DictConfig) -> int:
    if not cfg.submission:
        raise BenchmarkError("give the submission to score: submission=<dir>")
    submission = Path(cfg.submission)
    prepared = scoring_cohort(cfg)
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


#: command -> its main options (override, what it does), listed by ``python -m benchmark <command> --help``
OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "run": (("baselines=[none,quickshear]", "the defacing baselines to anonymise and score"),
            ("baseline=<name>", "one baseline with its overrides (baseline.seed=1); -m sweeps"),
            ("submissions=[dir,...]", "also validate and score these submission folders or archives"),
            ("split=dev", "score this split only (default scoring.splits=[test])"),
            ("dataset=bids dataset.root=PATH", "your own cohort (default: the synthetic one)"),
            ("dataset.n_persons=24", "size of the synthetic cohort"),
            ("dataset.base_heads=[head.nii.gz]", "grow the synthetic people from these heads, not the template"),
            ("scoring.attacks=[arcface,dlib,geo]", "the attacks; attack=<name> for one with its options"),
            ("scoring.knowledge=[ignorant,lazy_informed,semi_informed]", "the attackers' knowledge levels"),
            ("scoring.reuse=false", "score anew, not reusing an unchanged submission's results"),
            ("workers=2", "submissions anonymised and scored at a time"),
            ("tracking.uri=sqlite:///mlruns.db", "the MLflow store"),
            ("progress=false", "no progress bars or progress lines")),
    "prepare": (("dataset=bids dataset.root=PATH", "your own cohort (default: the synthetic one)"),
                ("dataset.n_persons=24", "size of the synthetic cohort"),
                ("dataset.base_heads=[head.nii.gz]", "grow the synthetic people from these heads, not the template"),
                ("splits.test=0.6 splits.dev=0.1 splits.train=0.3", "share of persons in each split"),
                ("paths.prepared_dir=prepared", "where the lists, keys, kit/ and kit-dev/ are written"),
                ("prepare.write_dev_kit=false", "no dev kit (the dev split with its keys, for participants)")),
    "anonymize": (("baseline=<name>", "the baseline (conf/baseline/), with its overrides (baseline.seed=1)"),
                  ("paths.submissions_dir=submissions", "written to <dir>/baseline-<name>/"),
                  ("workers=2", "volumes anonymised at a time")),
    "validate": (("submission=<dir|archive>", "the submission to check"),
                 ("kit_dir=<kit>", "the kit to check it against (default: the prepared one)"),
                 ("validation.max_file_mb=200", "largest volume file accepted"),
                 ("validation.report=<path>", "where validation.json goes"),
                 ("validation.workers=4", "volumes checked at a time")),
    "score": (("submission=<dir|archive>", "the submission to score"),
              ("output_dir=<dir>", "where results.json, scores/ and plots/ go (default outputs/score/...)"),
              ("split=dev", "score this split only (default scoring.splits=[test])"),
              ("kit=<kit-dev>", "score from a dev kit alone, without the organiser's files (split dev)"),
              ("attack=<name>", "one attack (conf/attack/), with its options; default scoring.attacks"),
              ("scoring.knowledge=[ignorant,lazy_informed,semi_informed]", "the attackers' knowledge levels"),
              ("scoring.bootstrap=1000", "person-level resamples for the intervals (0: none)"),
              ("scoring.permutations=1000", "person relabellings for the chance levels (0: none)"),
              ("scoring.reuse=false", "score anew, not reusing an unchanged submission's results"),
              ("tracking.uri=sqlite:///mlruns.db", "the MLflow store")),
    "study": (("study=<name>", "the experiment (also: study <name>): " + ", ".join(STUDIES)),
              ("submission=<dir|archive>", "the submission studied"),
              ("output_dir=<dir>", "where <name>.json goes"),
              ("attack=<name>", "one attack (conf/attack/), with its options")),
    "leaderboard": (("leaderboard.split=test", "the split that ranks"),
                    ("paths.leaderboard_dir=leaderboard", "where the page and tables are written"),
                    ("tracking.uri=sqlite:///mlruns.db", "the MLflow store the runs are read from")),
}


def command_help(command: str) -> str:
    """``python -m benchmark <command> --help``: what it does and its main options."""
    width = 34  # a longer option gets its text on the next line
    lines = [f"  {o:<{width}}  {text}" if len(o) <= width else f"  {o}\n  {'':<{width}}  {text}"
             for o, text in OPTIONS[command]]
    return "\n".join([f"usage: python -m benchmark {command} [-m] [key=value ...]", "", COMMANDS[command][0], "",
                      "main options:", *lines, "",
                      "Config groups: dataset, baseline, attack, tracking, hydra/launcher (see conf/).",
                      f"Every key and its value: python -m benchmark {command} --cfg",
                      "-m, --multirun: run a sweep (baseline=none,blur) as Hydra jobs with the chosen launcher."])


def dispatch(command: str, cfg: DictConfig) -> int:
    """Run ``command`` on its config."""
    os.environ["BENCHMARK_CACHE_DIR"] = str(cfg.paths.cache_dir)  # brain masks share the run's cache
    return int(COMMANDS[command][1](cfg) or 0)

"""``python -m benchmark <command> [-m] [key=value ...]``: the command line.

Each command takes Hydra overrides. The config is composed from ``conf/`` and checked against the
structured schemas before the command runs; a user's mistake (bad key, bad file) prints one line and
exits with status 2, without a traceback.

``-m`` (``--multirun``) hands the command to Hydra's own multirun: its sweeper expands the overrides
(``baseline=none,blur``, ``submission=a,b``) into jobs and the configured launcher runs them
(``hydra/launcher=joblib_local`` on one machine, ``hydra/launcher=slurm`` on a cluster, ``local``:
submitit's local executor). Every job's config is composed and checked here before any job starts, two
jobs that would write the same submission folder or output folder are refused, and each ``score``/``run``
job writes its results into its own Hydra job folder (``<hydra.sweep.dir>/<job number>``) unless
``output_dir`` says otherwise.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path
from typing import Callable, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.core.errors import BenchmarkError

#: command -> (one-line help, "module:function" taking the composed config)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("prepare, anonymise with the baselines, validate, score, track and build the leaderboard",
            "benchmark.cli.pipeline:run"),
    "prepare": ("build the dataset (synthetic or BIDS), the fixed splits, trial lists and participant kit",
                "benchmark.data.prepare:run"),
    "anonymize": ("write a baseline's submission for the published lists (baseline=<name>)",
                  "benchmark.submission.anonymize:run"),
    "validate": ("check a submission folder or archive against the published lists (submission=<dir>)",
                 "benchmark.submission.validate:run"),
    "score": ("attack a submission and write results.json, score files and plots (submission=<dir>)",
              "benchmark.scoring.score:run"),
    "leaderboard": ("build leaderboard/ (json, csv, md, html) from the tracked runs",
                    "benchmark.leaderboard:run"),
}

USAGE = "usage: python -m benchmark <command> [-m] [key=value ...]"
MULTIRUN_FLAGS = ("-m", "--multirun")


def _help() -> str:
    width = max(map(len, COMMANDS))
    lines = [USAGE, "", "A privacy benchmark for defaced head MRI.", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items()]
    lines += ["", "Overrides are Hydra's: dataset=bids dataset.root=PATH, baseline=quickshear, ...",
              "Show the composed config of a command: python -m benchmark <command> --cfg",
              "Sweep with Hydra's multirun: python -m benchmark anonymize -m baseline=none,blur "
              "[hydra/launcher=joblib_local|local|slurm]"]
    return "\n".join(lines)


def compose(overrides: Sequence[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with overrides, checked against the schemas; one-line errors."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from benchmark.core.config import CONF_DIR, config_error_line, register

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise BenchmarkError(config_error_line(exc)) from None
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)  # group choices (baseline=...) stay readable
    return checked(cfg)


def checked(cfg: DictConfig) -> DictConfig:
    """The config without its ``hydra`` node, each component group validated against its class's schema.

    ``run baseline=<name>`` (a group choice given on the command line, as a multirun sweep does) means
    ``baselines=[<name>]``.
    """
    from benchmark.core.config import validate_node

    OmegaConf.set_struct(cfg, False)
    if "hydra" in cfg:
        del cfg["hydra"]
    OmegaConf.set_struct(cfg, True)
    for group in ("dataset", "baseline", "tracking"):
        if cfg.get(group) is not None:
            OmegaConf.set_struct(cfg, False)
            cfg[group] = validate_node(cfg[group], group)
            OmegaConf.set_struct(cfg, True)
    return cfg


def _chosen(key: str) -> str | None:
    """The value of ``key=...`` (or ``+key=``/``++key=``) among the command line's overrides, if given."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    for o in HydraConfig.get().overrides.task:
        name, _, value = str(o).partition("=")
        if name.lstrip("+") == key:
            return value
    return None


def _apply_command(command: str, cfg: DictConfig) -> DictConfig:
    """What a command reads from the command line beyond the config: ``run baseline=X`` = ``baselines=[X]``."""
    if command == "run" and _chosen("baseline") is not None:
        if _chosen("baselines") is not None:
            raise BenchmarkError("give either baseline=<name> (one baseline, e.g. swept with -m) or "
                                 "baselines=[a,b], not both")
        from hydra.core.hydra_config import HydraConfig

        OmegaConf.set_struct(cfg, False)
        cfg.baselines = [HydraConfig.get().runtime.choices["baseline"]]
        OmegaConf.set_struct(cfg, True)
    return cfg


def _dispatch(command: str, cfg: DictConfig) -> int:
    os.environ["BENCHMARK_CACHE_DIR"] = str(cfg.paths.cache_dir)  # brain masks share the run's cache
    module, func = COMMANDS[command][1].split(":")
    fn: Callable[[DictConfig], int | None] = getattr(import_module(module), func)
    return int(fn(cfg) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_help())
        return 0
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{_help()}", file=sys.stderr)
        return 2
    if "-h" in overrides or "--help" in overrides:
        print(f"usage: python -m benchmark {command} [-m] [key=value ...]\n\n{COMMANDS[command][0]}\n\n"
              "Config groups: dataset, baseline, attack, attacker, tracking, hydra/launcher (see conf/).\n"
              "-m, --multirun: run a sweep (baseline=none,blur) as Hydra jobs with the chosen launcher.")
        return 0
    show_cfg = "--cfg" in overrides
    sweep = any(o in MULTIRUN_FLAGS for o in overrides)
    overrides = [o for o in overrides if o != "--cfg" and o not in MULTIRUN_FLAGS]
    try:
        if sweep:
            from benchmark.cli.multirun import multirun

            return multirun(command, overrides, show_cfg=show_cfg)
        cfg = _apply_command(command, compose(overrides))
        if show_cfg:
            print(OmegaConf.to_yaml(cfg))
            return 0
        return _dispatch(command, cfg)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

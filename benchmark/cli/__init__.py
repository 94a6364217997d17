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

import sys
from typing import Sequence

from omegaconf import OmegaConf

from benchmark.cli.commands import COMMANDS, command_help, dispatch
from benchmark.cli.compose import apply_command, checked, compose
from benchmark.cli.multirun import multirun
from benchmark.core.errors import BenchmarkError

__all__ = ["COMMANDS", "USAGE", "checked", "compose", "main"]

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
        print(command_help(command))
        return 0
    if command == "study" and overrides and "=" not in overrides[0] and not overrides[0].startswith("-"):
        overrides = [f"study={overrides[0]}", *overrides[1:]]  # study <name>: the study= override
    show_cfg = "--cfg" in overrides
    sweep = any(o in MULTIRUN_FLAGS for o in overrides)
    overrides = [o for o in overrides if o != "--cfg" and o not in MULTIRUN_FLAGS]
    try:
        if sweep:
            return multirun(command, overrides, show_cfg=show_cfg)
        cfg = apply_command(command, compose(overrides))
        if show_cfg:
            print(OmegaConf.to_yaml(cfg))
            return 0
        return dispatch(command, cfg)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

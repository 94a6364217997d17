#!/usr/bin/env python
"""How the benchmark's time grows with the cohort (issue 14, point 4): ``run`` at several cohort sizes.

Each size runs ``python -m benchmark run dataset.n_persons=N progress=false [overrides]`` cold, in its own
folder ``<root>/persons-N`` (its own cache, prepared lists, submissions, tracking store and leaderboard),
in a subprocess; the per-stage seconds ``run`` prints on its last line (``leaderboard: ... (T s: prepare
a s, anonymise b s, validate and score c s, leaderboard d s)``) are collected, printed as a table of
seconds per stage against persons with a least-squares line per stage (seconds = a + b * persons), and
plotted to ``<root>/growth.png`` (the figures also go to ``<root>/growth.json``).

The default sizes take hours on a 2-core machine; ``--dry-run`` prints the commands only. A check:

    .venv/bin/python scripts/growth.py --persons 4 6 --root /tmp/growth -- baselines=[none] \\
        scoring.attacks=[geo] scoring.knowledge=[ignorant]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPLIT = re.compile(r"^leaderboard: .*\((\d+) s: ([^)]*)\)\s*$", re.M)


def stage_seconds(text: str) -> dict[str, float]:
    """The per-stage seconds of a ``run`` output's closing line, in its order, and ``total``."""
    found = SPLIT.findall(text)
    if not found:
        raise ValueError("no per-stage split found ('leaderboard: ... (N s: stage N s, ...)' line)")
    total, parts = found[-1]
    out = {}
    for part in parts.split(", "):
        stage, seconds, _ = part.rsplit(" ", 2)
        out[stage] = float(seconds)
    out["total"] = float(total)
    return out


def command(persons: int, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "benchmark", "run", f"dataset.n_persons={persons}", "progress=false", *overrides]


def run_size(persons: int, folder: Path, overrides: list[str]) -> dict[str, float]:
    """One cold run in ``folder`` (created; must not hold an earlier run); its stage seconds and wall time."""
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"error: {folder} is not empty (a cold run needs a fresh folder; give another --root)")
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("BENCHMARK_CACHE_DIR", None)  # the run's own cache, in its folder
    start = time.perf_counter()
    proc = subprocess.run(command(persons, overrides), cwd=folder, env=env, capture_output=True, text=True)
    (folder / "run.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"error: the run with {persons} persons exited {proc.returncode}; see {folder / 'run.log'}")
    out = stage_seconds(proc.stdout)
    out["wall"] = time.perf_counter() - start
    return out


def fits(persons: list[int], rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Least-squares line per stage: stage -> (a, b) with seconds = a + b * persons (two sizes or more)."""
    if len(set(persons)) < 2:
        return {}
    return {s: tuple(np.polynomial.polynomial.polyfit(persons, [r.get(s, 0.0) for r in rows], 1))
            for s in rows[0]}


def table(persons: list[int], rows: list[dict[str, float]], lines: dict[str, tuple[float, float]]) -> str:
    stages = list(rows[0])
    out = ["| persons | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    out += [f"| {n} | " + " | ".join(f"{r.get(s, 0.0):.0f}" for s in stages) + " |" for n, r in zip(persons, rows)]
    if lines:
        out.append("| fit: a + b * persons | " + " | ".join(f"{lines[s][0]:.0f} {lines[s][1]:+.2f} n" for s in stages)
                   + " |")
    return "\n".join(out)


def plot(persons: list[int], rows: list[dict[str, float]], lines: dict[str, tuple[float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    grid = np.linspace(0, max(persons), 50)
    for stage in rows[0]:
        if stage == "wall":
            continue
        dots = ax.plot(persons, [r.get(stage, 0.0) for r in rows], "o", label=stage)[0]
        if stage in lines:
            a, b = lines[stage]
            ax.plot(grid, a + b * grid, "--", color=dots.get_color(), lw=1)
    ax.set_xlabel("persons in the cohort")
    ax.set_ylabel("seconds (cold run)")
    ax.set_title(f"python -m benchmark run: time per stage ({os.cpu_count()} cores)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Overrides after '--' go to every run (e.g. baselines=[none,blur]).")
    ap.add_argument("--persons", type=int, nargs="+", default=[24, 96, 192], help="cohort sizes (persons)")
    ap.add_argument("--root", type=Path, default=REPO / "outputs" / "growth", help="one folder per size inside")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = ap.parse_args(argv)
    persons = sorted(set(args.persons))
    if args.dry_run:
        for n in persons:
            print(f"cd {shlex.quote(str(args.root / f'persons-{n}'))} && "
                  f"PYTHONPATH={shlex.quote(str(REPO))} {shlex.join(command(n, args.overrides))}")
        return 0
    rows = []
    for n in persons:
        print(f"{n} persons ...", flush=True)
        rows.append(run_size(n, args.root / f"persons-{n}", args.overrides))
        print(f"  {json.dumps(rows[-1])}", flush=True)
    lines = fits(persons, rows)
    print(table(persons, rows, lines))
    plot(persons, rows, lines, args.root / "growth.png")
    (args.root / "growth.json").write_text(json.dumps(
        {"persons": persons, "seconds": rows, "fits": {s: {"a": a, "b": b} for s, (a, b) in lines.items()},
         "overrides": args.overrides, "cpus": os.cpu_count()}, indent=2), encoding="utf-8")
    print(f"plot: {args.root / 'growth.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

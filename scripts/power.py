#!/usr/bin/env python
"""Size study: how sure the default benchmark's figures are at several cohort sizes (issue 13).

    python scripts/power.py --sizes 16 24 40 --seeds 0 1 2 3 4 5 6 7 8 9
    python scripts/power.py --sizes 24 --seeds 0 --dry-run              # print the commands only
    python scripts/power.py --sizes 16 24 --seeds 0 1 -- workers=2     # extra overrides for every run

Each (size N, seed S) is one run of the CLI in a subprocess, as a user runs the benchmark, with the two
reference submissions: ``none`` (the original volumes: the attackers' strength) and ``erase`` (nothing of
the head outside the brain left: what a perfect defacer scores)::

    python -m benchmark run 'baselines=[none,erase]' dataset.n_persons=N dataset.seed=S \\
        output_dir=W/nN-sS paths.submissions_dir=W/nN-sS/submissions \\
        paths.leaderboard_dir=W/nN-sS/leaderboard tracking.uri=sqlite:///W/nN-sS/mlruns.db progress=false

Overrides that leave the ranking figures as they are make a study several times cheaper (the utility
measure, attribute inference, plots and the unranked ``anatomy`` context do not enter the worst case)::

    python scripts/power.py --sizes 24 --seeds 0 1 2 3 4 5 6 7 8 9 -- scoring.utility=false \
        scoring.attributes=false scoring.plots=false 'scoring.attacks=[arcface,dlib,geo,shape]'

Cohorts, brain masks and embeddings go to the shared ``paths.cache_dir`` (keyed by content); a run whose
two ``results.json`` exist is not run again. The table gives, per size and submission, over the seeds:
the worst-case semi-informed EER that ranks (mean, and the mean of its person-bootstrap interval), the
chance level of that worst case (the permutation null's median, ``privacy/worst_eer_chance``, where
results carry it), how often the submission is tier 1 and how often it is distinguishable from chance.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.leaderboard import attack_groups, ranking_eer, ranking_tier  # noqa: E402

SUBMISSIONS = ("none", "erase")
SPLIT = "test"


def command(work: Path, n: int, seed: int, extra: list[str], submissions=SUBMISSIONS) -> list[str]:
    out = work / f"n{n}-s{seed}"
    return [sys.executable, "-m", "benchmark", "run", f"baselines=[{','.join(submissions)}]",
            f"dataset.n_persons={n}", f"dataset.seed={seed}", f"output_dir={out}",
            f"paths.submissions_dir={out / 'submissions'}", f"paths.leaderboard_dir={out / 'leaderboard'}",
            f"tracking.uri=sqlite:///{out / 'mlruns.db'}", "progress=false", *extra]


def results_path(work: Path, n: int, seed: int, name: str) -> Path:
    return work / f"n{n}-s{seed}" / f"baseline-{name}" / "results.json"


def _find(flat: dict, suffix: str) -> float | None:
    """The value of the key ending in ``suffix`` (chance keys are named by the metrics), else None."""
    hits = [v for k, v in flat.items() if k.endswith(suffix)]
    return float(hits[0]) if hits else None


def figures(path: Path) -> dict[str, float | None]:
    """The ranking figure of one results.json: worst-case EER, its interval, tier, chance level, p-value."""
    results = json.loads(path.read_text())
    flat = results["splits"][SPLIT]
    groups = attack_groups(flat)
    unranked = results.get("privacy", {}).get(SPLIT, {}).get("unranked_attacks", "")
    eer, attacker, _ = ranking_eer(groups, frozenset(a for a in unranked.split(",") if a))
    lo, hi = groups[attacker]["eer"][1:3] if attacker else (None, None)
    distinguishable = _find(flat, "distinguishable_from_chance")
    tier = ranking_tier(eer, lo, None if distinguishable is None else distinguishable >= 0.5)
    return {"eer": eer, "lo": lo, "hi": hi, "tier1": None if tier is None else float(tier == 1),
            "chance": _find(flat, "worst_eer_chance"), "distinguishable": distinguishable,
            "linkability": _find(flat, "privacy/worst_linkability")}


def _mean(values: list[float | None]) -> str:
    kept = [v for v in values if v is not None]
    return f"{np.mean(kept):.3f}" if kept else "n/a"


def table(rows: dict[tuple[int, str], list[dict]], failed: dict[int, int]) -> str:
    head = f"{'persons':>7} {'submission':<10} {'runs':>4} {'worst EER':>9} {'interval':>15} {'seeds min-max':>13} " \
           f"{'chance':>7} {'tier 1':>6} {'distinguishable':>15} {'linkability':>11} {'failed':>6}"
    lines = [head, "-" * len(head)]
    for (n, name), figs in sorted(rows.items()):
        eers = [f["eer"] for f in figs if f["eer"] is not None]
        spread = f"{min(eers):.3f}-{max(eers):.3f}" if eers else "n/a"
        lines.append(f"{n:>7} {name:<10} {len(figs):>4} {_mean(eers):>9} "
                     f"{'[' + _mean([f['lo'] for f in figs]) + ', ' + _mean([f['hi'] for f in figs]) + ']':>15} "
                     f"{spread:>13} {_mean([f['chance'] for f in figs]):>7} {_mean([f['tier1'] for f in figs]):>6} "
                     f"{_mean([f['distinguishable'] for f in figs]):>15} "
                     f"{_mean([f['linkability'] for f in figs]):>11} {failed.get(n, 0):>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 40])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--work", type=Path, default=Path("outputs/power"))
    ap.add_argument("--json", type=Path, help="also write the per-run figures here")
    ap.add_argument("--submissions", nargs="+", default=list(SUBMISSIONS), choices=SUBMISSIONS,
                    help="read only these references' figures (a run still scores none, the reference)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run (after --)")
    args = ap.parse_args(argv)
    rows: dict[tuple[int, str], list[dict]] = {}
    per_run = []
    failed: dict[int, int] = {}  # runs that failed, per size: counted in the table, not dropped quietly
    for n in args.sizes:
        for seed in args.seeds:
            cmd = command(args.work.resolve(), n, seed, args.overrides, args.submissions)
            done = all(results_path(args.work, n, seed, s).is_file() for s in args.submissions)
            if args.dry_run or not done:
                print(("" if args.dry_run else "running: ") + shlex.join(cmd), flush=True)
            if args.dry_run:
                continue
            if not done and subprocess.run(cmd).returncode != 0:
                print(f"n={n} seed={seed}: the run failed (its output is above); counted as failed", flush=True)
                failed[n] = failed.get(n, 0) + 1
                continue
            for name in args.submissions:
                fig = figures(results_path(args.work, n, seed, name))
                rows.setdefault((n, name), []).append(fig)
                per_run.append({"persons": n, "seed": seed, "submission": name, **fig})
    if args.dry_run:
        return 0
    print(table(rows, failed))
    if args.json:
        args.json.write_text(json.dumps(per_run, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

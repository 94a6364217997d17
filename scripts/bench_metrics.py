"""Speed of benchmark.metrics (issue 4 targets): all metrics on 10^6 + 10^6 scores < 2 s together;
bootstrap_ci with 1000 resamples over 500 persons < 10 s; (issue 13) permutation nulls of 1,000
permutations over six attackers at 100 test persons < 10 s.

Prints wall-clock and CPU (process) seconds, best of ``--repeat`` runs; the CPU figure is the
fairer one on a shared machine. Usage: .venv/bin/python scripts/bench_metrics.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark import metrics as M  # noqa: E402
from benchmark.metrics.permutation import METRICS  # noqa: E402


def timed(fn, repeat: int):
    best_wall, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu, out


def cohort_trials(n_persons: int, trials_per_person: int | None, rng) -> M.Trials:
    """One enrollment and one trial sample per person, scored as a full matrix (trials_per_person None)
    or with every person's mated trial plus ``trials_per_person`` random non-mated trials."""
    ids = np.array([f"sub-{i:04d}" for i in range(n_persons)])
    if trials_per_person is None:
        e, t = np.meshgrid(np.arange(n_persons), np.arange(n_persons), indexing="ij")
        e, t = e.ravel(), t.ravel()
    else:
        e = np.repeat(np.arange(n_persons), trials_per_person + 1)
        off = rng.integers(1, n_persons, size=(n_persons, trials_per_person))
        t = np.concatenate([np.arange(n_persons)[:, None], (np.arange(n_persons)[:, None] + off) % n_persons], axis=1)
        t = t.ravel()
    mated = e == t
    scores = rng.normal(0, 1, e.size) + 2.0 * mated
    return M.Trials(scores, mated, ids[e], ids[t])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["permutation"], help="run one section only")
    args = ap.parse_args()
    if args.only == "permutation":
        permutation_section(args.repeat)
        return
    rng = np.random.default_rng(0)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  host={platform.node()}  cpus={os.cpu_count()}  "
          f"load={os.getloadavg()[0]:.2f}  numpy={np.__version__}")

    mated = rng.normal(2.0, 1.0, 10**6)
    nonmated = rng.normal(0.0, 1.0, 10**6)
    funcs = [M.eer, M.min_cllr, M.cllr, M.linkability, M.auc, M.zebra]
    M.eer(mated[:100], nonmated[:100])  # warm imports
    total_w = total_c = 0.0
    print("\n## metrics on 10^6 mated + 10^6 non-mated scores (target: < 2 s together)")
    for f in funcs:
        w, c, v = timed(lambda f=f: f(mated, nonmated), args.repeat)
        total_w, total_c = total_w + w, total_c + c
        if isinstance(v, dict):
            shown = {k: (round(x, 4) if isinstance(x, float) else x) for k, x in v.items()}
        else:
            shown = f"{v:.4f}"
        print(f"{f.__name__:12s} wall {w:6.3f} s  cpu {c:6.3f} s  value {shown}")
    print(f"{'TOTAL':12s} wall {total_w:6.3f} s  cpu {total_c:6.3f} s")
    w, c, v = timed(lambda: M.two_class_metrics(mated, nonmated), args.repeat)
    print(f"two_class_metrics (eer, min_cllr, linkability, auc sharing one sort) wall {w:6.3f} s  cpu {c:6.3f} s")

    n_enroll = 1000
    s = rng.normal(0, 1, (n_enroll, n_enroll)) + 3 * np.eye(n_enroll)
    ids = np.arange(n_enroll)
    w, c, v = timed(lambda: (M.rank_k(s, ids, ids, 1), M.rank_k(s, ids, ids, 5)), args.repeat)
    print(f"{'rank1+rank5':12s} wall {w:6.3f} s  cpu {c:6.3f} s  (1000 x 1000 matrix) value {v[0]:.4f} {v[1]:.4f}")

    print("\n## bootstrap_ci, 1000 resamples over 500 persons (target: < 10 s)")
    for label, tpp in (("full 500x500 matrix, 250000 trials", None), ("mated + 20 non-mated each, 10500 trials", 20)):
        trials = cohort_trials(500, tpp, rng)
        for metric in (M.eer, M.min_cllr, M.auc, M.linkability):
            w, c, ci = timed(lambda: M.bootstrap_ci(metric, trials, n=1000, seed=0), 1)
            print(f"{label:42s} {metric.__name__:12s} wall {w:6.3f} s  cpu {c:6.3f} s  ci ({ci[0]:.4f}, {ci[1]:.4f})")

    print("\n## plots (10^6 + 10^6 scores)")
    with tempfile.TemporaryDirectory() as tmp:
        w, c, _ = timed(lambda: M.det_plot(mated, nonmated, Path(tmp) / "det"), 1)
        print(f"{'det_plot':12s} wall {w:6.3f} s  cpu {c:6.3f} s")
        w, c, _ = timed(lambda: M.linkability_plot(mated, nonmated, Path(tmp) / "link"), 1)
        print(f"{'link_plot':12s} wall {w:6.3f} s  cpu {c:6.3f} s")

    permutation_section(args.repeat)


def permutation_section(repeat: int) -> None:
    """1,000 permutations, six attackers, 100 persons x 3 sessions: every enrollment (one per person)
    against every trial session, 100 x 300 = 30,000 trials (300 mated) per attacker."""
    rng = np.random.default_rng(1)
    ids = np.array([f"sub-{i:03d}" for i in range(100)])
    trial = np.repeat(ids, 3)
    mated = ids[:, None] == trial[None, :]
    mats = {f"attacker{a}": M.ScoreMatrix(rng.normal(0, 1, mated.shape) + 0.5 * a * mated, ids, trial)
            for a in range(6)}
    print("\n## permutation_null: 1000 permutations x 6 attackers, 100 persons x 3 sessions, 30000 trials each "
          "(target: < 10 s)")
    print(f"   metrics {', '.join(METRICS)}; load={os.getloadavg()[0]:.2f}")
    w, c, pn = timed(lambda: M.permutation_null(mats, n_perm=1000, seed=0), repeat)
    worst = pn.worst["eer"]
    print(f"{'permutation':12s} wall {w:6.3f} s  cpu {c:6.3f} s  worst EER {worst.observed:.4f} "
          f"(chance {worst.median:.4f}, p05 {worst.p05:.4f}, p {worst.p:.4f})")


if __name__ == "__main__":
    main()

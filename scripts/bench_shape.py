#!/usr/bin/env python
"""Cost and accuracy of the volume-only attacks (``shape``, ``anatomy``; issue 18).

``--time``: seconds per volume of ``shape``, ``anatomy`` and one ``arcface`` view on a 256^3 volume
(pydeface's template resampled, as ``scripts/bench_attack.py`` does), every cache off (the embedding
cache, the in-memory renders and template fits); models and reference heads stay loaded, as in a run.
Wall and CPU seconds (all threads of the process) are printed with the load average: on a shared
machine the wall time is pessimistic.
Targets: ``shape`` <= one arcface view; ``anatomy`` <= 2 s.

``--eer``: mri2mri EER on a synthetic cohort (``--persons``, 2 mm, two sessions): session 1 as enrolled
(original), session 2 as each baseline anonymised it, every enrollment against every trial; EER with
a person-level bootstrap interval and rank-1, per attack and baseline. Nothing is written outside
``.cache`` (the cohort, brain masks) and no image is saved.

    .venv/bin/python scripts/bench_shape.py --time
    .venv/bin/python scripts/bench_shape.py --eer --persons 16 --baselines none quickshear facemask \\
        --attacks shape anatomy arcface
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark.core.memory import tune_malloc  # noqa: E402

tune_malloc()  # as in every run's processes (python -m benchmark): large arrays reuse heap memory


def time_attacks(repeats: int) -> None:
    from bench_attack import make_256, template_path

    from benchmark.attacks import base, get_attack

    with tempfile.TemporaryDirectory() as tmp:
        path = make_256(template_path(), Path(tmp) / "vol256.nii.gz")
        for name in ("arcface", "shape", "anatomy"):
            attack = get_attack(name, use_cache=False).prepare()

            def whole():
                base.clear_process_memos()
                return attack.embed_volume_file(path)

            whole()  # warm-up: reference heads, template brain, lazy imports
            times, cpu = [], []
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                whole()
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            print(f"{name:8s} per 256^3 volume (load included, caches off): wall median {np.median(times):.2f} s "
                  f"(min {min(times):.2f}), cpu median {np.median(cpu):.2f} s, {repeats} runs, "
                  f"{len(attack.views)} view(s); load average {os.getloadavg()[0]:.1f}")


def eer_table(persons: int, baselines: list[str], attacks: list[str], boot: int) -> None:
    import benchmark.metrics as M
    from baselines import get_baseline
    from benchmark.attacks import get_attack
    from benchmark.data.synthetic import SyntheticCohort
    from benchmark.data.dataset import load_dataset
    from benchmark.data.volume import load_volume

    root = SyntheticCohort(n_persons=persons, sessions=2, photos=0, voxel_size=2.0,
                           cache_dir=".cache/datasets").materialise(progress=False)
    data = load_dataset(root)
    ids = sorted(data.participants)
    first = [load_volume(data.participant(p).session_list()[0].path) for p in ids]
    second = [load_volume(data.participant(p).session_list()[1].path) for p in ids]
    print(f"synthetic cohort: {persons} persons, 2 mm, {root}")
    for b in baselines:
        baseline = get_baseline(b)
        trials = [nib.as_closest_canonical(baseline.anonymize(img)) for img in second]
        for a in attacks:
            attack = get_attack(a, use_cache=False)
            enroll = [attack.embed_volume(img) for img in first]
            start = time.perf_counter()
            probe = [attack.embed_volume(img) for img in trials]
            seconds = (time.perf_counter() - start) / len(probe)
            attack.fit(enroll)
            mat = np.array([[attack.similarity(e, t) for t in probe] for e in enroll])
            n = len(ids)
            tr = M.Trials(scores=mat.ravel(), mated=np.eye(n, dtype=bool).ravel(),
                          enroll_subject=np.repeat(ids, n), trial_subject=np.tile(ids, n))
            eer = M.eer(mat[np.eye(n, dtype=bool)], mat[~np.eye(n, dtype=bool)])
            lo, hi = M.bootstrap_ci("eer", tr, n=boot, seed=0)
            rank1 = M.rank_k(mat, np.array(ids), np.array(ids), 1)
            print(f"{b:11s} {a:8s} EER {eer:.3f} [{lo:.3f}, {hi:.3f}]  rank-1 {rank1:.3f}  "
                  f"({n} mated, {n * n - n} non-mated trials; {seconds:.2f} s per trial volume)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--eer", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--persons", type=int, default=16)
    ap.add_argument("--baselines", nargs="+", default=["none", "quickshear", "facemask"])
    ap.add_argument("--attacks", nargs="+", default=["shape", "anatomy"])
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.time:
        time_attacks(args.repeats)
    if args.eer:
        eer_table(args.persons, args.baselines, args.attacks, args.bootstrap)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rank of every mated probe among the other persons' scans, on the real test scans, per baseline and attack.

    python scripts/realdata_linkage.py [--attacks shape anatomy] [--baselines none quickshear ...]

Reads ``$BENCHMARK_REAL_MRI`` (default ../shared/data/real-mri). For each baseline, every scan is
anonymised; a probe is an anonymised scan, the gallery every *original* scan but the probe's own
(other sessions of the person and all scans of the other persons); the probe's rank is 1 + the number
of other persons' scans scoring above the best of its own person's. Figures are printed, never logged.

Under each attack, ``first``: how many mated probes rank first, beside what an attacker who cannot tell
persons apart gets by chance: a probe with ``k`` own and ``m`` other gallery scans ranks first with
probability ``k / (k + m)`` when its scores are exchangeable (sub-A: 3 own of 7, 0.43), so the expected
count is the sum of these and ``p(>=)`` / ``p(<=)`` are the exact Poisson-binomial tails of the count
observed. A defacer that leaves no identity keeps the count near chance (``p(>=)`` not small); "no probe
ranks first" is stricter than chance on so small a gallery.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from baselines import get_baseline
from benchmark.attacks import get_attack
from benchmark.data.volume import load_volume


def scans(root: Path) -> list[tuple[str, str, Path]]:
    return [(p.parts[-4], p.parts[-3], p) for p in sorted(root.glob("sub-*/ses-*/anat/*_T1w.nii.gz"))]


def mated_ranks(attack, originals, probes, persons) -> list[int | None]:
    """Per probe: the mated rank (None when the person has no other session)."""
    attack.fit(originals)
    ranks = []
    for i, probe in enumerate(probes):
        scores = np.array([attack.similarity(originals[j], probe) if j != i else np.nan for j in range(len(probes))])
        own = [j for j in range(len(probes)) if j != i and persons[j] == persons[i]]
        if not own:
            ranks.append(None)
            continue
        best = max(scores[j] for j in own)
        ranks.append(1 + int(sum(scores[j] > best for j in range(len(probes)) if persons[j] != persons[i])))
    return ranks


def chance_first(persons: list[str]) -> list[float]:
    """Per probe with another session: the probability that it ranks first by chance, k / (k + m)."""
    out = []
    for i, person in enumerate(persons):
        own = sum(1 for j, q in enumerate(persons) if j != i and q == person)
        if own:
            out.append(own / (len(persons) - 1))
    return out


def count_tails(probabilities: list[float], observed: int) -> tuple[float, float]:
    """P(count >= observed) and P(count <= observed) for a sum of independent Bernoulli(p_i) (exact)."""
    dist = np.array([1.0])
    for p in probabilities:
        dist = np.convolve(dist, [1.0 - p, p])
    return float(dist[observed:].sum()), float(dist[:observed + 1].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attacks", nargs="+", default=["shape", "anatomy"])
    ap.add_argument("--baselines", nargs="+", default=["none", "quickshear", "facemask", "blur", "refacing"])
    args = ap.parse_args()
    root = Path(os.environ.get("BENCHMARK_REAL_MRI", "../shared/data/real-mri"))
    items = scans(root)
    if not items:
        raise SystemExit(f"no scans under {root}")
    persons = [p for p, _, _ in items]
    images = [load_volume(path) for _, _, path in items]
    attacks = {a: get_attack(a, use_cache=False) for a in args.attacks}
    originals = {a: [attack.embed_volume(img) for img in images] for a, attack in attacks.items()}
    print("probe".ljust(24) + "".join(f"{b[:10]:>11}" for b in args.baselines) + "   (mated rank; 1 = first)")
    table = {}
    for b in args.baselines:
        baseline = get_baseline(b)
        anonymised = [nib.as_closest_canonical(baseline.anonymize(img)) for img in images]
        for a, attack in attacks.items():
            start = time.perf_counter()
            probes = [attack.embed_volume(img) for img in anonymised]
            seconds = (time.perf_counter() - start) / len(probes)
            table[(a, b)] = (mated_ranks(attack, originals[a], probes, persons), seconds)
    for a in attacks:
        print(f"-- {a}")
        for i, (person, ses, _) in enumerate(items):
            if table[(a, args.baselines[0])][0][i] is None:
                continue
            print(f"{person}/{ses}".ljust(24) + "".join(f"{table[(a, b)][0][i]:>11}" for b in args.baselines))
        print("s/volume".ljust(24) + "".join(f"{table[(a, b)][1]:>11.2f}" for b in args.baselines))
        chance = chance_first(persons)
        firsts = {b: sum(1 for r in table[(a, b)][0] if r == 1) for b in args.baselines}
        tails = {b: count_tails(chance, firsts[b]) for b in args.baselines}
        print(f"first (chance {sum(chance):.1f} of {len(chance)})".ljust(24)
              + "".join(f"{firsts[b]:>11}" for b in args.baselines))
        print("p(>=) at chance".ljust(24) + "".join(f"{tails[b][0]:>11.3f}" for b in args.baselines))
        print("p(<=) at chance".ljust(24) + "".join(f"{tails[b][1]:>11.3f}" for b in args.baselines))


if __name__ == "__main__":
    main()

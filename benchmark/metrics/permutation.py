"""Chance levels by permuting person identities on the trial side, for every attacker at once.

Null hypothesis: the trial samples carry no information about who they are. Under it, the scores
do not change when the trial persons are renamed, so every renaming is as likely as the true one.
A renaming is a random permutation pi of the person ids (enrolled and trial persons together):
every trial sample of person q is relabelled pi(q), so a person's several trial samples move
together (they stay one person) and a pair (e, q) is mated when e == pi(q). Each permutation is
applied to every attacker's scores at once, so the worst case over attackers (the minimum EER, the
maximum linkability, ...) gets its null as a family: the attacker that looks strongest by luck is
accounted for. With n_perm permutations, the one-sided p-value of an observed value x is

    p = (1 + #{null values at least as identifying as x}) / (1 + n_perm)

(Phipson and Smyth 2010: never 0, exact-valid for a random sample of permutations). A permutation
that leaves an attacker with fewer mated trials than a metric needs (2 for the smoothed linkability,
one otherwise), no non-mated trial, or no enrolled trial person (rank-k), is redrawn: the null is
conditional on the metrics being defined. Identity permutations are not excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._permute import LOW_IS_IDENTIFYING, Prepared
from benchmark.metrics.score_matrix import ScoreMatrix

METRICS = tuple(LOW_IS_IDENTIFYING)
_MAX_ROUNDS = 100


@dataclass(frozen=True)
class Chance:
    """An observed value against its permutation null.

    ``median``: the chance level; ``p05``: the null's 5% quantile on the identifying side (the 5th
    percentile for eer and min_cllr, where low identifies, the 95th for auc, linkability and rank-k):
    a chance attacker does better than it 5% of the time; ``p``: the one-sided p-value.
    """

    observed: float
    median: float
    p05: float
    p: float


@dataclass(frozen=True)
class PermutationNull:
    """Per attacker and for the worst case over attackers: ``{metric: Chance}``; ``samples`` holds the
    null values (``samples[attacker or "worst"][metric]``, n_perm each)."""

    n_perm: int
    attackers: dict[str, dict[str, Chance]]
    worst: dict[str, Chance]
    samples: dict[str, dict[str, np.ndarray]]


def permutation_null(
    matrices: Mapping[str, ScoreMatrix],
    n_perm: int = 1000,
    seed: int = 0,
    metrics: tuple[str, ...] = METRICS,
    omega: float = 1.0,
    batch: int = 250,
) -> PermutationNull:
    """Permutation nulls of ``metrics`` (of ``eer``, ``min_cllr``, ``auc``, ``linkability`` (smoothed),
    ``rank1``, ``rank5``) for each attacker's score matrix and for the worst case over attackers."""
    _check(matrices, n_perm, metrics, omega)
    persons = sorted(set().union(*({*m.enroll_ids, *m.trial_ids} for m in matrices.values())))
    codes = {p: i for i, p in enumerate(persons)}
    prep = {name: Prepared.of(m, codes) for name, m in matrices.items()}
    t_min = 2 if "linkability" in metrics else 1
    identity = np.arange(len(persons))[None, :]
    for name, pr in prep.items():
        if not _valid(pr, identity, t_min)[0]:
            raise BenchmarkError(
                f"attacker {name!r}: the scored trials need at least {t_min} mated and one non-mated trial "
                "and one enrolled trial person for these metrics"
            )
    observed = {name: {k: float(v[0]) for k, v in pr.metrics(identity, metrics, omega).items()}
                for name, pr in prep.items()}
    perms = _draw(prep, len(persons), int(n_perm), t_min, np.random.default_rng(seed))
    samples = {name: {k: np.empty(int(n_perm)) for k in metrics} for name in prep}
    for start in range(0, int(n_perm), batch):
        chunk = perms[start:start + batch]
        for name, pr in prep.items():
            for k, v in pr.metrics(chunk, metrics, omega).items():
                samples[name][k][start:start + chunk.shape[0]] = v
    worst_fn = {k: (np.min if LOW_IS_IDENTIFYING[k] else np.max) for k in metrics}
    samples["worst"] = {k: worst_fn[k](np.stack([samples[a][k] for a in prep]), axis=0) for k in metrics}
    worst_obs = {k: float(worst_fn[k]([observed[a][k] for a in prep])) for k in metrics}
    return PermutationNull(
        int(n_perm),
        {a: {k: _chance(observed[a][k], samples[a][k], k) for k in metrics} for a in prep},
        {k: _chance(worst_obs[k], samples["worst"][k], k) for k in metrics},
        samples,
    )


def _chance(x: float, null: np.ndarray, metric: str) -> Chance:
    low = LOW_IS_IDENTIFYING[metric]
    extreme = np.count_nonzero(null <= x) if low else np.count_nonzero(null >= x)
    p05 = float(np.quantile(null, 0.05 if low else 0.95))
    return Chance(float(x), float(np.median(null)), p05, float((1.0 + extreme) / (1.0 + null.size)))


def _valid(pr: Prepared, perms: np.ndarray, t_min: int) -> np.ndarray:
    counts = pr.block_counts()
    t = counts[perms, np.arange(perms.shape[1])].sum(axis=1)
    closed = (pr.row_of_code[perms[:, pr.trial_code]] >= 0).any(axis=1)
    return (t >= t_min) & (pr.s.size - t >= 1) & closed


def _draw(prep: dict, p: int, n: int, t_min: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random permutations of ``p`` person codes, each valid for every attacker."""
    out = np.empty((0, p), np.int64)
    for _ in range(_MAX_ROUNDS):
        perms = rng.permuted(np.tile(np.arange(p), (n - out.shape[0], 1)), axis=1)
        ok = np.ones(perms.shape[0], bool)
        for pr in prep.values():
            ok &= _valid(pr, perms, t_min)
        out = np.concatenate([out, perms[ok]])
        if out.shape[0] == n:
            return out
    raise BenchmarkError(
        f"fewer than {n} of the permutations drawn in {_MAX_ROUNDS} rounds leave every attacker with mated and "
        "non-mated trials: the cohort is too small for a permutation null"
    )


def _check(matrices, n_perm, metrics, omega) -> None:
    if not isinstance(matrices, Mapping) or not matrices:
        raise BenchmarkError("matrices must be a non-empty mapping attacker -> ScoreMatrix")
    bad = [k for k, v in matrices.items() if not isinstance(v, ScoreMatrix)]
    if bad:
        raise BenchmarkError(f"matrices[{bad[0]!r}] must be a ScoreMatrix, got {type(matrices[bad[0]]).__name__}")
    if isinstance(n_perm, bool) or int(n_perm) != n_perm or n_perm < 1:
        raise BenchmarkError(f"n_perm must be a positive integer, got {n_perm!r}")
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise BenchmarkError(f"unknown metric(s) {unknown} (or none asked); choose from {list(METRICS)}")
    if not (np.isfinite(omega) and omega > 0):
        raise BenchmarkError(f"omega (the prior ratio P(mated)/P(non-mated)) must be a positive number, got {omega!r}")

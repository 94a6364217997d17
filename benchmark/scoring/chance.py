"""Chance levels of a split's privacy figures: permutation nulls over the split's persons.

One relabelling of the trial persons is applied to every (condition, attack, knowledge) attacker of
the split at once (:func:`benchmark.metrics.permutation_null`), so the worst case over attackers is
calibrated as a family. Keys, for each attacker's ``eer``, ``min_cllr``, ``auc``, ``linkability``,
``rank1``, ``rank5`` and for ``privacy/worst_eer`` and ``privacy/worst_linkability``:

- ``<key>_chance``: the null median (what an attacker gets from the scores when identity is noise);
- ``<key>_chance_p05``: the null's 5% quantile on the identifying side (5th percentile of an EER,
  95th of a linkability): a chance attacker does better 5% of the time;
- ``<key>_p``: the one-sided permutation p-value;

and ``privacy/distinguishable_from_chance``: 1.0 when the worst-case EER's p-value is below 0.05.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

import benchmark.metrics as M
from benchmark.core.errors import BenchmarkError
from benchmark.metrics.permutation import METRICS

ALPHA = 0.05
WORST = {"eer": "privacy/worst_eer", "linkability": "privacy/worst_linkability"}


def chance_metrics(matrices: Mapping[str, M.ScoreMatrix], n_perm: int, seed: int) -> tuple[dict[str, float], list[str]]:
    """(the chance keys of the attackers ``matrices`` (key ``<condition>/<attack>/<knowledge>``), messages)."""
    metrics = METRICS
    few = sorted(k for k, sm in matrices.items() if _n_mated(sm) < 2)
    messages = []
    if few:
        metrics = tuple(m for m in METRICS if m != "linkability")
        messages.append(f"linkability has no chance level: fewer than 2 mated trials for {', '.join(few)}")
    try:
        pn = M.permutation_null(matrices, n_perm=n_perm, seed=seed, metrics=metrics)
    except BenchmarkError as exc:  # a cohort too small for a permutation null
        return {}, messages + [f"no chance levels: {exc}"]
    out: dict[str, float] = {}
    for key, chances in pn.attackers.items():
        for metric, c in chances.items():
            out.update(_keys(f"{key}/{metric}", c))
    for metric, key in WORST.items():
        if metric in pn.worst:
            out.update(_keys(key, pn.worst[metric]))
    out["privacy/distinguishable_from_chance"] = float(pn.worst["eer"].p < ALPHA)
    return out, messages


def _keys(key: str, c: M.Chance) -> dict[str, float]:
    return {f"{key}_chance": c.median, f"{key}_chance_p05": c.p05, f"{key}_p": c.p}


def _n_mated(sm: M.ScoreMatrix) -> int:
    return int(np.count_nonzero(np.isfinite(sm.scores) & (sm.enroll_ids[:, None] == sm.trial_ids[None, :])))

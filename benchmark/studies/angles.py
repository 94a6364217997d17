"""Capture-angle study: how the trial render's azimuth and elevation change what an attacker links.

The study (Boutet et al.) found the similarity of a reconstruction to its person's photograph depends
on the angle it is rendered at, for some persons strongly. Here every trial volume of the split is
rendered once over the grid ``studies.angles`` (one :func:`benchmark.render.render_views` call, the head
pose estimated once) and each view is scored as the trial of its own list, against the ignorant
attacker's enrollment (original scans, photographs; the attack's configured views). The scores go
through :class:`benchmark.scoring.scorer.Scorer` and the metrics of
:func:`benchmark.scoring.score.trial_metrics` (EER with person-level bootstrap intervals).
"""

from __future__ import annotations

import os

import numpy as np

from benchmark.attacks import Attack, Embedding
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import IGNORANT
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.scoring.score import trial_metrics
from benchmark.scoring.scorer import TrialScores
from benchmark.studies.context import Context
from benchmark.studies.figures import heat_maps


def grid(bounds: list[float], step: float, what: str) -> list[float]:
    """``bounds[0], bounds[0] + step, ..., bounds[1]`` (inclusive)."""
    if len(bounds) != 2 or step <= 0 or bounds[1] < bounds[0]:
        raise BenchmarkError(f"config: 'studies.angles.{what}': give [low, high] with low <= high and a step > 0")
    n = int(np.floor((bounds[1] - bounds[0]) / step + 1e-9)) + 1
    return [float(bounds[0] + i * step) for i in range(n)]


class OneView:
    """The trial side of one grid angle: the grid attack's embedding of a volume, that view alone.

    Duck-types the one method :meth:`Scorer.submitted_volume` calls; the grid embedding is computed
    (and cached on disk) once per volume and shared by every angle.
    """

    def __init__(self, grid_attack: Attack, index: int, memo: dict[str, Embedding]):
        self.grid_attack, self.index, self.memo = grid_attack, index, memo

    def embed_volume_file(self, path: str | os.PathLike) -> Embedding:
        key = str(path)
        if key not in self.memo:
            self.memo[key] = self.grid_attack.embed_volume_file(path)
        e, i = self.memo[key], self.index
        return Embedding(vector=self.grid_attack.combine(e.views[i:i + 1]), detected=bool(e.view_detected[i]))


def angle_summary(ts: TrialScores, n_boot: int, level: float, seed: int) -> dict:
    """Mean mated and non-mated similarity, EER (interval), detection rate, and mated similarity per person."""
    tr = ts.arrays()
    metrics = {str(k).rsplit("/", 1)[-1]: v for k, v in trial_metrics(ts, n_boot, level, seed).items()}
    per_person = {p: float(tr.scores[tr.mated & (tr.trial_subject == p)].mean())
                  for p in sorted(set(tr.trial_subject[tr.mated]))}
    keep = ("eer", "eer_ci_low", "eer_ci_high", "auc", "detection_rate", "n_trials")
    return {"mated_mean": float(tr.scores[tr.mated].mean()), "nonmated_mean": float(tr.scores[~tr.mated].mean()),
            **{k: metrics[k] for k in keep if k in metrics}, "mated_per_person": per_person}


def run(ctx: Context) -> dict:
    o, cfg = ctx.options.angles, ctx.cfg
    azimuths, elevations = grid(list(o.azimuth), o.azimuth_step, "azimuth"), grid(list(o.elevation), o.elevation_step, "elevation")
    cells = [(az, el) for el in elevations for az in azimuths]
    views = [{"azimuth": az, "elevation": el} for az, el in cells]
    scorer = ctx.scorer()
    results: dict[str, dict] = {}
    rows = []
    for name, node in attack_nodes(cfg).items():
        enroll, grid_attack, memo = build_attack(cfg, name, node), build_attack(cfg, name, node, views=views), {}
        for tl in ctx.trial_lists():
            per_angle = []
            for i, (az, el) in enumerate(cells):
                ts = scorer.score(tl, enroll, name, IGNORANT, trial_attack=OneView(grid_attack, i, memo))
                if not ts.lines:
                    raise BenchmarkError(f"study angles: {tl.condition}/{name}: no trial scored at azimuth {az}, "
                                         f"elevation {el} (failures: {scorer.failure_list()})", ctx.submission)
                s = angle_summary(ts, ctx.options.bootstrap, cfg.scoring.ci_level, cfg.seed)
                per_angle.append({"azimuth": az, "elevation": el, **s})
                rows.append([tl.condition, name, az, el, s["mated_mean"], s["nonmated_mean"], s["eer"]])
            results.setdefault(name, {})[tl.condition] = per_angle
    pictures = [str(p) for p in heat_maps(results, azimuths, elevations, ctx.out_dir)]
    payload = {"study": "angles", "submission": str(ctx.submission), "split": ctx.options.split,
               "knowledge": IGNORANT, "azimuths": azimuths, "elevations": elevations, "results": results,
               "failures": scorer.failure_list(), "pictures": pictures,
               "table": {"header": ["condition", "attack", "azimuth", "elevation", "mated", "non-mated", "EER"],
                         "rows": rows}}
    ctx.write("angles", payload)
    return payload


__all__ = ["OneView", "angle_summary", "grid", "run"]

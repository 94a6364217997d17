"""Facial hair: photo2mri linkage with the photographs as taken and with their hair removed.

The study (Boutet et al.) removed beards, moustaches and hair from the photographs: the deep attack got
stronger (VGG-Face EER 0.41 -> 0.32) and the geometric one stayed (0.36 -> 0.38). Variants, each an
attack option of :class:`benchmark.attacks.base.Attack`: ``keep`` (the photographs as they are) and
``remove`` (``attack.photo_hair=remove``, :mod:`benchmark.attacks.hair`). Each is scored as the
ignorant attacker by :class:`benchmark.scoring.scorer.Scorer` with the metrics of
:func:`benchmark.scoring.score.trial_metrics` (person-level bootstrap intervals); chance is EER = AUC = 0.5.
Also reported: the paired EER difference (remove - keep) with a person-level bootstrap interval, whose
sign says whether removal helped the attacker.
"""

from __future__ import annotations

import numpy as np

import benchmark.metrics as M
from benchmark.core.keys import IGNORANT, PHOTO2MRI
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.studies.context import Context
from benchmark.studies.figures import bar_chart

CHANCE = 0.5
SHOWN = ("eer", "auc", "linkability")
VARIANTS = ("keep", "remove")


def eer_difference(scores: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], n_boot: int, level: float,
                   seed: int) -> dict[str, float]:
    """EER(remove) - EER(keep) on the same trials, with a percentile interval over persons resampled
    (the same resample for both variants). ``scores``: variant -> (scores, labels, trial person)."""
    s0, y, g = scores["keep"]
    s1 = scores["remove"][0]
    diff = M.eer(s1[y], s1[~y]) - M.eer(s0[y], s0[~y])
    out = {"eer_difference": float(diff)}
    persons = np.unique(g)
    rng = np.random.default_rng([seed, 15])
    vals = []
    for _ in range(n_boot):
        pick = rng.choice(persons, persons.size)
        idx = np.concatenate([np.flatnonzero(g == p) for p in pick])
        yy = y[idx]
        if yy.all() or not yy.any():
            continue
        vals.append(M.eer(s1[idx][yy], s1[idx][~yy]) - M.eer(s0[idx][yy], s0[idx][~yy]))
    if len(vals) >= max(1, n_boot // 2):
        a = (1 - level) / 2
        out["eer_difference_ci_low"], out["eer_difference_ci_high"] = map(float, np.quantile(vals, [a, 1 - a]))
    return out


def run(ctx: Context) -> dict:
    cfg = ctx.cfg
    (tl,) = ctx.trial_lists([PHOTO2MRI])
    scorer = ctx.scorer()
    results: dict[str, dict[str, dict]] = {}
    differences: dict[str, dict[str, float]] = {}
    rows = []
    for name, node in attack_nodes(cfg).items():
        raw = {}
        for variant in VARIANTS:
            attack = build_attack(cfg, name, node, photo_hair=variant)
            ts, results.setdefault(name, {})[variant], row = ctx.score_variant(scorer, tl, attack, name, variant, SHOWN)
            raw[variant] = _arrays(ts)
            rows.append(row)
        differences[name] = eer_difference(raw, ctx.options.bootstrap, cfg.scoring.ci_level, cfg.seed)
    picture = bar_chart(results, ("eer", "auc"), CHANCE, ctx.out_dir / "hair.png", "photo2mri, hair kept / removed")
    payload = {"study": "hair", "submission": str(ctx.submission), "split": ctx.options.split,
               "condition": PHOTO2MRI, "knowledge": IGNORANT, "chance": CHANCE, "results": results,
               "eer_difference": differences, "failures": scorer.failure_list(), "pictures": [str(picture)],
               "table": {"header": ["attack", "photo_hair", *SHOWN], "rows": rows}}
    ctx.write("hair", payload)
    return payload


def _arrays(ts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, mated, trial person) of a TrialScores' lines, in a fixed order (enroll, trial)."""
    lines = sorted(ts.lines, key=lambda t: (t[0], t[1]))
    return (np.array([t[3] for t in lines], float), np.array([bool(t[2]) for t in lines]),
            np.array([ts.trial_person[t[1]] for t in lines]))

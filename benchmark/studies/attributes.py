"""Attribute inference from photographs against attribute inference from MRI renders.

The study (Boutet et al.) read age, gender and ethnicity from ID photographs and from MRI
reconstructions (age R^2 0.4 vs 0.6, gender accuracy 1.0 vs 0.4, ethnicity accuracy 0.4 vs 0.8, chance
0.17). Here both go through :func:`benchmark.scoring.attributes.infer` (cross-fitted over persons, so
nobody is predicted by a model that saw them; chance levels and person-level intervals):

- ``photo``: the attacker's labelled photographs (the photo2mri enrollment templates of the study split)
  train the models that predict the other persons' photographs;
- ``mri``: the labelled original enrollment renders train the models that predict the submission's
  trial renders (:func:`benchmark.scoring.attributes.attribute_results`; on the ``none`` submission,
  original renders).

Keys per attack and source: ``age_r2``, ``age_mae``, ``sex_accuracy``, ``sex_balanced_accuracy``,
``ancestry_accuracy``, ``ancestry_balanced_accuracy`` with ``_chance`` and ``_ci_low``/``_ci_high``.
"""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import PHOTO2MRI
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.scoring.attributes import AttributeSet, attribute_results, infer
from benchmark.studies.context import Context
from benchmark.studies.figures import bar_chart

SHOWN = ("age_r2", "age_mae", "sex_accuracy", "ancestry_accuracy", "ancestry_balanced_accuracy")
PICTURED = ("age_r2", "sex_accuracy", "ancestry_accuracy")  # attributes.png: one panel each, chance per bar


def photo_attributes(ctx: Context, scorer, attack, n_boot: int, seed: int) -> tuple[dict[str, float], list[str]]:
    """:func:`infer` on the split's photo templates, photographs predicting photographs (cross-fitted)."""
    (tl,) = ctx.trial_lists([PHOTO2MRI])
    got = {e: scorer.photos(attack, e) for e in sorted(tl.enroll)}
    got = {e: v for e, v in got.items() if v is not None}
    if len(got) < 3:
        return {}, [f"photo: {len(got)} photo template(s), needs 3"]
    x = np.stack([v.vector for v in got.values()])
    persons = np.array([tl.enroll[e] for e in got])
    parts = ctx.prepared.dataset.participants
    data = AttributeSet(x, persons, x, persons.copy(), {p: parts[p].age for p in parts},
                        {p: parts[p].sex for p in parts}, {p: parts[p].ancestry for p in parts})
    return infer(data, n_boot, ctx.cfg.scoring.ci_level, seed)


def run(ctx: Context) -> dict:
    cfg = ctx.cfg
    scorer = ctx.scorer()
    n_boot, seed = ctx.options.bootstrap, cfg.seed
    results: dict[str, dict[str, dict]] = {}
    messages: list[str] = []
    rows = []
    for name, node in attack_nodes(cfg).items():
        attack = build_attack(cfg, name, node)
        photo, msgs = photo_attributes(ctx, scorer, attack, n_boot, seed)
        messages += [f"{name}/{m}" for m in msgs]
        mri_flat, msgs = attribute_results(scorer, ctx.options.split, {name: attack}, n_boot, cfg.scoring.ci_level,
                                           seed, show=cfg.progress)
        messages += msgs
        prefix = f"attributes/{name}/"
        mri = {k[len(prefix):]: v for k, v in mri_flat.items() if k.startswith(prefix)}
        results[name] = {"photo": photo, "mri": mri}
        for source, m in (("photo", photo), ("mri", mri)):
            rows.append([name, source] + [_cell(m, k) for k in SHOWN])
    if not any(v for r in results.values() for v in r.values()):
        raise BenchmarkError(f"study attributes: nothing could be inferred ({'; '.join(messages)})", ctx.submission)
    picture = bar_chart(results, PICTURED, None, ctx.out_dir / "attributes.png", "photo / MRI render")
    payload = {"study": "attributes", "submission": str(ctx.submission), "split": ctx.options.split,
               "results": results, "messages": messages, "failures": scorer.failure_list(),
               "table": {"header": ["attack", "source", *SHOWN], "rows": rows}, "pictures": [str(picture)]}
    ctx.write("attributes", payload)
    return payload


def _cell(m: dict, k: str) -> str:
    if k not in m:
        return "-"
    ci = f" [{m[k + '_ci_low']:.2f}, {m[k + '_ci_high']:.2f}]" if k + "_ci_low" in m else ""
    chance = f" (chance {m[k + '_chance']:.2f})" if k + "_chance" in m else ""
    return f"{m[k]:.3f}{ci}{chance}"

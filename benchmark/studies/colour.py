"""Colour versus greyscale: photo2mri linkage with grey renders, colour renders and grey photographs.

The study (Boutet et al.) matched colour photographs against black-and-white reconstructions and left
colour reconstructions as an open question. Variants (``studies.colour.variants``), each an attack
option of :class:`benchmark.attacks.base.Attack`:

- ``grey``: the attack as configured (grey renders, colour photographs);
- ``colour``: renders shaded with one skin albedo, ``studies.colour.skin_rgb`` (``attack.albedo``);
- ``grey_photo``: grey renders against desaturated photographs (``attack.photo_grey``).

Each is scored as the ignorant attacker by :class:`benchmark.scoring.scorer.Scorer`, with the metrics of
:func:`benchmark.scoring.score.trial_metrics` (person-level bootstrap intervals); chance is EER = AUC = 0.5.
"""

from __future__ import annotations

from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import IGNORANT, PHOTO2MRI
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.studies.context import Context
from benchmark.studies.figures import bar_chart

CHANCE = 0.5  # EER and AUC of scores that do not depend on identity
SHOWN = ("eer", "auc", "linkability")


def variant_options(variant: str, skin_rgb: list[float]) -> dict:
    """The attack options of a variant."""
    options = {"grey": {}, "colour": {"albedo": list(skin_rgb)}, "grey_photo": {"photo_grey": True}}
    if variant not in options:
        raise BenchmarkError(f"config: 'studies.colour.variants': unknown variant {variant!r}; choose from {list(options)}")
    return options[variant]


def run(ctx: Context) -> dict:
    o, cfg = ctx.options.colour, ctx.cfg
    (tl,) = ctx.trial_lists([PHOTO2MRI])
    scorer = ctx.scorer()
    results: dict[str, dict[str, dict]] = {}
    rows = []
    for name, node in attack_nodes(cfg).items():
        for variant in o.variants:
            attack = build_attack(cfg, name, node, **variant_options(variant, list(o.skin_rgb)))
            _, results.setdefault(name, {})[variant], row = ctx.score_variant(scorer, tl, attack, name, variant, SHOWN)
            rows.append(row)
    picture = bar_chart(results, ("eer", "auc"), CHANCE, ctx.out_dir / "colour.png", "photo2mri")
    payload = {"study": "colour", "submission": str(ctx.submission), "split": ctx.options.split,
               "condition": PHOTO2MRI, "knowledge": IGNORANT, "skin_rgb": list(o.skin_rgb), "chance": CHANCE,
               "results": results, "failures": scorer.failure_list(), "pictures": [str(picture)],
               "table": {"header": ["attack", "variant", *SHOWN], "rows": rows}}
    ctx.write("colour", payload)
    return payload

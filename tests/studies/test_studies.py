"""The study command (issue 15): ``study angles`` and ``study colour`` on a tiny synthetic cohort."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from benchmark.attacks import get_attack
from benchmark.attacks.base import desaturate
from benchmark.cli import compose, main
from benchmark.core.keys import IGNORANT, MRI2MRI
from benchmark.data.prepare import prepare
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.scoring.score import trial_metrics
from benchmark.scoring.scorer import Scorer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """(common overrides, the 'none' submission) of a 6-person synthetic cohort, 2 sessions, 2 photos."""
    root = tmp_path_factory.mktemp("study")
    common = ["dataset.n_persons=6", "dataset.sessions=2", "dataset.photos=2", "splits.test=0.7", "splits.dev=0.0",
              "splits.train=0.3", f"paths.prepared_dir={root / 'prepared'}", f"paths.cache_dir={root / 'cache'}",
              f"paths.submissions_dir={root / 'submissions'}", f"paths.outputs_dir={root / 'outputs'}",
              "progress=false", "workers=1", "attack=geo", "studies.bootstrap=20"]
    assert main(["anonymize", "baseline=none", *common]) == 0
    return common, root / "submissions" / "baseline-none"


@pytest.mark.slow
def test_study_angles_writes_json_heat_map_and_matches_the_frontal_score(cohort, tmp_path, capsys):
    common, submission = cohort
    grid = ["studies.angles.azimuth=[-30,30]", "studies.angles.azimuth_step=30", "studies.angles.elevation=[0,15]"]
    assert main(["study", "angles", f"submission={submission}", f"output_dir={tmp_path}", *grid, *common]) == 0
    assert "EER" in capsys.readouterr().out
    out = json.loads((tmp_path / "angles.json").read_text())
    assert out["azimuths"] == [-30.0, 0.0, 30.0] and out["elevations"] == [0.0, 15.0]
    assert (tmp_path / "angles_geo.png").read_bytes()[:8] == PNG
    cells = {(c["azimuth"], c["elevation"]): c for c in out["results"]["geo"][MRI2MRI]}
    assert len(cells) == 6 and set(out["results"]["geo"]) == {"mri2mri", "photo2mri"}
    # enrolled frontally, the frontal trial render is the one most like its person's enrollment
    assert max(cells, key=lambda k: cells[k]["mated_mean"]) == (0.0, 0.0)
    # and its figures are the ones the scoring code gives the attack's own frontal view
    cfg = compose(common)
    prepared = prepare(cfg)
    tl = prepared.trial_list("test", MRI2MRI)
    attack = get_attack("geo", cache_root=str(tmp_path / "emb"))
    ts = Scorer(prepared, submission, show=False).score(tl, attack, "geo", IGNORANT)
    eer = trial_metrics(ts, 0, 0.95)[f"{MRI2MRI}/geo/{IGNORANT}/eer"]
    assert cells[(0.0, 0.0)]["eer"] == pytest.approx(eer, abs=1e-12)


@pytest.mark.slow
def test_study_colour_writes_json_and_bar_chart_for_each_variant(cohort, tmp_path):
    common, submission = cohort
    assert main(["study", "colour", f"submission={submission}", f"output_dir={tmp_path}", *common]) == 0
    out = json.loads((tmp_path / "colour.json").read_text())
    variants = out["results"]["geo"]
    assert set(variants) == {"grey", "colour", "grey_photo"}
    for m in variants.values():
        # a percentile interval need not hold the point estimate (ROCCH EER on few trials), so only its order
        assert 0.0 <= m["eer_ci_low"] <= m["eer_ci_high"] <= 1.0 and 0.0 <= m["eer"] <= 1.0 and 0.0 <= m["auc"] <= 1.0
    assert (tmp_path / "colour.png").read_bytes()[:8] == PNG


def test_colour_renders_take_the_skin_albedo(template_img):
    """attack.albedo shades the head in that colour (red above blue for a skin tone); without it, grey."""
    img = nib.as_closest_canonical(template_img)
    skin = get_attack("geo", albedo=[0.8, 0.6, 0.5], use_cache=False)._render(img)[0].image.astype(float)
    grey = get_attack("geo", use_cache=False)._render(img)[0].image.astype(float)
    face = skin.sum(-1) > 30
    assert skin[face, 0].mean() > skin[face, 2].mean() + 20
    assert np.abs(grey[..., 0] - grey[..., 2]).max() == 0


def test_grey_photographs_are_desaturated():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [10, 20, 30]]], np.uint8)
    grey = desaturate(rgb)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert grey[0, :, 0].tolist() == [76, 150, 18]


@pytest.mark.parametrize("mistake, text", [(["study"], "name the study"), (["study", "nope"], "name the study"),
                                           (["study", "angles"], "give the submission"),
                                           (["study", "angles", "submission=/x", "studies.angles.azimuth_step=0"],
                                            "not a submission folder")])
def test_study_mistakes_are_one_line(mistake, text, capsys):
    assert main(mistake) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err


def test_study_options_are_attack_overrides():
    """attack.align, attack.albedo and attack.photo_grey are options of the composed attack group."""
    cfg = compose(["attack=arcface", "attack.align=three_point", "attack.albedo=[0.8,0.6,0.5]", "attack.photo_grey=true"])
    attack = build_attack(cfg, "arcface", attack_nodes(cfg)["arcface"])
    assert attack.align == "three_point" and attack.albedo == [0.8, 0.6, 0.5] and attack.photo_grey

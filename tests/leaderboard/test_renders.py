"""Renders on a submission's page: synthetic persons only, unless ``tracking.log_biometric_artifacts=true``;
a cohort that may hold real persons (any BIDS dataset) gets no render written, logged or published."""

from __future__ import annotations

import json

from PIL import Image

from benchmark.cli import checked, compose
from benchmark.data.prepare import prepare
from benchmark.data.prepared import SYNTHETIC_TARGET, Prepared
from benchmark.data.synthetic import SyntheticCohort
from benchmark.leaderboard import RENDERS, build_leaderboard, write_renders
from benchmark.leaderboard._renders import TILE
from benchmark.tracking import TrackingConfig, client, log_results, runs
from tests.helpers import results_for, sqlite_store, tiny_cohort

MAX_VOXELS = 1 << 28


def _bids(tmp_path) -> Prepared:
    root = tiny_cohort(tmp_path / "cohort", n_persons=4, sessions=2)
    cfg = checked(compose(["dataset=bids", f"dataset.root={root}", f"paths.prepared_dir={tmp_path / 'prep'}",
                           "progress=false"]))
    return prepare(cfg, write_kit=True)


def test_renders_only_for_the_synthetic_cohort(tmp_path):
    assert SYNTHETIC_TARGET == f"{SyntheticCohort.__module__}.{SyntheticCohort.__qualname__}"
    bids = _bids(tmp_path)
    assert not bids.synthetic
    out = tmp_path / "out"
    assert write_renders(bids, bids.kit, out, "test", 3, False, MAX_VOXELS) == [] and not out.exists()
    # the same folder said to hold the generated cohort (dataset.json names its class): rendered
    meta = json.loads((bids.root / "dataset.json").read_text())
    meta["dataset"]["_target_"] = SYNTHETIC_TARGET
    (bids.root / "dataset.json").write_text(json.dumps(meta))
    synthetic = Prepared(bids.root, bids.dataset, bids.splits)
    assert synthetic.synthetic
    (png,) = write_renders(synthetic, bids.kit, out, "test", 3, False, MAX_VOXELS)
    persons = len({v.participant_id for v in bids.splits.volumes if v.split == "test" and v.role == "trial"})
    with Image.open(png) as im:
        assert png.parent == out / RENDERS / "test" and im.size == (TILE * min(3, persons), 2 * TILE)
    # real persons are rendered only when asked
    assert write_renders(bids, bids.kit, tmp_path / "asked", "test", 1, True, MAX_VOXELS)


def test_synthetic_renders_kept_by_content_and_real_ones_never(tmp_path, monkeypatch):
    import benchmark.leaderboard._renders as R

    bids = _bids(tmp_path)
    drawn = []
    real = R._column
    monkeypatch.setattr(R, "_column", lambda *a: drawn.append(1) or real(*a))
    # real persons (asked for): drawn, never kept
    assert not bids.synthetic
    assert write_renders(bids, bids.kit, tmp_path / "c", "test", 1, True, MAX_VOXELS, tmp_path / "cache-real")
    assert drawn and not (tmp_path / "cache-real").exists()
    drawn.clear()
    meta = json.loads((bids.root / "dataset.json").read_text())
    meta["dataset"]["_target_"] = SYNTHETIC_TARGET
    (bids.root / "dataset.json").write_text(json.dumps(meta))
    synthetic = Prepared(bids.root, bids.dataset, bids.splits)
    cache = tmp_path / "cache"
    (first,) = write_renders(synthetic, bids.kit, tmp_path / "a", "test", 2, False, MAX_VOXELS, cache)
    n = len(drawn)
    (again,) = write_renders(synthetic, bids.kit, tmp_path / "b", "test", 2, False, MAX_VOXELS, cache)
    assert n >= 1 and len(drawn) == n and again.read_bytes() == first.read_bytes()  # copied, not drawn
    assert len(list((cache / RENDERS).glob("*.png"))) == 1


def _logged(tmp_path, name: str, synthetic: bool, folder) -> TrackingConfig:
    tcfg = TrackingConfig(uri=sqlite_store(tmp_path / name), experiment=name)
    results = {**results_for("acme", "x", splits=("test",)),
               "provenance": {"cohort": "c", "code": "h", "git": "g", "synthetic": synthetic}}
    log_results(results, {}, tcfg, {f"test/{RENDERS}": [folder]}, {"ok": True})
    return tcfg


def test_renders_are_logged_and_published_for_the_synthetic_cohort_only(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    Image.new("RGB", (8, 16), (200, 150, 120)).save(folder / "defaced_beside_original.png")
    for synthetic in (True, False):
        tcfg = _logged(tmp_path, f"synthetic-{synthetic}", synthetic, folder)
        (run,) = runs(tcfg)
        assert run.data.tags["cohort.synthetic"] == str(synthetic).lower()
        logged = [a.path for a in client(tcfg).list_artifacts(run.info.run_id, RENDERS)]
        assert logged == ([f"{RENDERS}/defaced_beside_original.png"] if synthetic else [])
        site = build_leaderboard(tcfg, tmp_path / f"site-{synthetic}", split="test")
        row = next(r for r in json.loads((site / "leaderboard.json").read_text())["rows"] if r["run_id"])
        page = (site / row["page"]).read_text()
        shown = list((site / "img").rglob("*defaced_beside_original*"))
        assert (len(shown) == 1 and 'class="render"' in page) if synthetic else \
            (not shown and "not shown: the cohort is not the synthetic one" in page)

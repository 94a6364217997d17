"""``scoring.shards=N``: a submission's per-volume work run as N submitit jobs (local executor) filling the
cache, then assembled: results.json equals the unsharded run's; ``anonymize`` sharded writes the same volumes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import pytest

from benchmark.cli import main
from benchmark.cli.compose import compose
from benchmark.data.prepare import prepare
from benchmark.scoring.shards import shard_items, work_items
from tests.helpers import sqlite_store, tiny_cohort

SCORE = ["attack=geo", "scoring.knowledge=[ignorant]", "scoring.bootstrap=20", "scoring.permutations=20",
         "scoring.plots=false", "scoring.attributes=false", "scoring.utility=false", "scoring.reference=false"]


def _common(root: Path, outputs: str = "outputs") -> list[str]:
    return ["dataset=bids", f"dataset.root={root / 'cohort'}", "splits.test=0.5", "splits.dev=0.0",
            "splits.train=0.5", f"paths.prepared_dir={root / 'prepared'}", f"paths.outputs_dir={root / outputs}",
            f"tracking.uri={sqlite_store(root / 'store')}", "progress=false", "workers=1"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    tiny_cohort(root / "cohort", n_persons=4, sessions=2, photos=2)
    return root


def _volumes(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asanyarray(nib.load(p).dataobj) for p in sorted((folder / "volumes").glob("*.nii.gz"))}


def test_sharded_anonymize_writes_the_unsharded_volumes(cohort):
    common = _common(cohort) + [f"paths.cache_dir={cohort / 'cache-a'}"]
    assert main(["anonymize", "baseline=none", *common, f"paths.submissions_dir={cohort / 'serial'}"]) == 0
    assert main(["anonymize", "baseline=none", *common, f"paths.submissions_dir={cohort / 'sharded'}",
                 "scoring.shards=3"]) == 0
    serial, sharded = _volumes(cohort / "serial" / "baseline-none"), _volumes(cohort / "sharded" / "baseline-none")
    assert serial and serial.keys() == sharded.keys()
    assert all(np.array_equal(serial[k], sharded[k]) for k in serial)
    assert (cohort / "sharded" / "baseline-none" / "submission.yaml").is_file()
    assert len(list((cohort / "outputs" / "submitit").glob("*/*_result.pkl"))) == 3  # ran by submitit


def test_shards_cover_every_item_once(cohort):
    cfg = compose(_common(cohort) + [f"paths.cache_dir={cohort / 'cache-a'}", "scoring.utility=true", "attack=geo", "splits.min_persons=2",
                                     "scoring.knowledge=[ignorant,lazy_informed,semi_informed]"])
    items = work_items(cfg, prepare(cfg))
    assert len(set(items)) == len(items)
    shards = [shard_items(items, i, 3) for i in range(3)]
    assert sorted(x for s in shards for x in s) == items
    # the attacks of one sample stay in one shard (they share its renders there), and so do its original and
    # its anonymised volume, the original first (the none baseline's volume finds its embeddings cached)
    home = {(x.sample_id, x.fill): i for i, s in enumerate(shards) for x in s}
    assert all(home[(x.sample_id, x.fill)] == i for i, s in enumerate(shards) for x in s)
    originals = {"submitted": "original", "pool_submitted": "pool_original"}
    for s in shards:
        first, last = {}, {}
        for k, x in enumerate(s):
            first.setdefault((x.kind, x.sample_id, x.fill), k)
            last[(x.kind, x.sample_id, x.fill)] = k
        assert all(last[(originals[kind], sid, fill)] < k for (kind, sid, fill), k in first.items()
                   if kind in originals and (originals[kind], sid, fill) in last)
    assert any(x.kind == "pool_original" and any(y.kind == "pool_submitted" and y.sample_id == x.sample_id
                                                 for y in items) for x in items)
    assert min(map(len, shards)) > 0
    assert {x.kind for x in items} == {"original", "submitted", "photos", "utility", "pool_original",
                                       "pool_submitted", "pool_photos"}
    assert any(x.fill for x in items) and not all(x.fill for x in items)


def test_sharded_score_equals_unsharded(cohort):
    common = _common(cohort) + [f"paths.submissions_dir={cohort / 'submissions'}"]
    assert main(["anonymize", "baseline=none", *common, f"paths.cache_dir={cohort / 'cache-a'}"]) == 0
    sub = cohort / "submissions" / "baseline-none"
    results = {}
    for name, extra in (("serial", []), ("sharded", ["scoring.shards=2"])):
        out = cohort / name
        assert main(["score", f"submission={sub}", f"output_dir={out}", f"paths.cache_dir={cohort / name}-cache",
                     *SCORE, *_common(cohort, f"{name}-outputs"), f"paths.submissions_dir={cohort / 'submissions'}",
                     *extra]) == 0
        results[name] = json.loads((out / "results.json").read_text())
    assert results["serial"]["splits"]["test"]  # something was scored
    assert results["sharded"] == results["serial"]
    # the shard jobs computed the embeddings; the assembling process only read them
    done = list((cohort / "sharded-outputs" / "submitit").glob("*/*_result.pkl"))
    embeddings = list((cohort / "sharded-cache" / "embeddings").rglob("*.npz"))
    assert len(done) == 2 and embeddings
    assert max(p.stat().st_mtime for p in embeddings) <= max(p.stat().st_mtime for p in done)


def test_run_with_workers_fills_every_submission_at_once_and_scores_the_same(cohort, capsys):
    """``run workers=2`` computes the per-volume work of all its submissions in one pool of processes
    (:func:`benchmark.scoring.shards.fill_together`) before scoring them; the results equal ``workers=1``."""
    common = _common(cohort) + [f"paths.submissions_dir={cohort / 'run-submissions'}"]
    assert main(["anonymize", "baseline=quickshear", *common, f"paths.cache_dir={cohort / 'cache-a'}"]) == 0
    results = {}
    for workers in (1, 2):
        out = cohort / f"run-{workers}"
        argv = ["run", "baselines=[quickshear]", f"output_dir={out}", f"paths.cache_dir={cohort / f'run-cache-{workers}'}",
                *SCORE, *common, f"paths.leaderboard_dir={cohort / f'board-{workers}'}",
                f"tracking.uri={sqlite_store(cohort / f'store-{workers}')}", f"workers={workers}"]
        capsys.readouterr()
        # the serial run on every core (make test sets one thread a worker), the pool's processes on one each
        before = torch.get_num_threads()
        torch.set_num_threads((os.cpu_count() or 1) if workers == 1 else before)
        try:
            assert main(argv) == 0
        finally:
            torch.set_num_threads(before)
        printed = capsys.readouterr().out
        assert ("per-volume work of 2 submission(s)" in printed) == (workers == 2), printed
        results[workers] = {sub.name: json.loads((sub / "results.json").read_text()) for sub in sorted(out.iterdir())}
    assert sorted(results[1]) == ["baseline-none", "baseline-quickshear"]
    for name, serial in results[1].items():
        assert serial["splits"]["test"]
        parallel = results[2][name]
        assert {k: parallel[k] for k in ("splits", "privacy", "failures")} == \
               {k: serial[k] for k in ("splits", "privacy", "failures")}, name

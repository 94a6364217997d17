"""A submission's per-volume scoring work, split into shards that fill the shared cache (``scoring.shards``).

:func:`work_items` lists what scoring embeds or measures per volume: for each trial list scored, attack
and knowledge level, the enrollment samples (original volumes, anonymised ones for lazy-informed mri2mri,
or photographs) and the anonymised trial volumes (with ``fill`` for lazy-informed photo2mri), and with
``scoring.utility`` the brain masks of each trial pair. :func:`fill_shard` computes the items ``i::n``
into the content-addressed cache under ``paths.cache_dir`` (embeddings, brain masks); :func:`fill_cache`
runs every shard as a submitit job (:func:`benchmark.core.shards.run_shards`) and waits. The normal
scoring that follows in the assembling process then reads the cache, and fits, adapts (semi-informed),
and computes the metrics itself, so its results equal an unsharded run's. A sample that fails in a shard
is not cached; the assembling process meets the same failure and records it in ``failures``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from benchmark.anatomy.preservation import brain_preservation
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import LAZY_INFORMED, MRI2MRI, PHOTO2MRI
from benchmark.core.shards import run_shards, shard_of, sharding
from benchmark.data.prepare import Prepared
from benchmark.data.volume import load_volume
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.scoring.scorer import Scorer
from benchmark.submission.format import volume_path

ORIGINAL, SUBMITTED, PHOTOS, UTILITY = "original", "submitted", "photos", "utility"


@dataclass(frozen=True, order=True)
class WorkItem:
    """One per-volume product: ``kind`` (original, submitted, photos, utility) of sample ``sample_id``,
    embedded by ``attack`` (with ``fill``: the removed face reconstructed); utility items have no attack."""

    kind: str
    sample_id: str
    attack: str = ""
    fill: bool = False


def work_items(cfg: DictConfig, prepared: Prepared) -> list[WorkItem]:
    """Every per-volume item scoring ``cfg`` computes for a submission, each once, in a fixed order."""
    sc = cfg.scoring
    items: set[WorkItem] = set()
    for tl in prepared.splits.trial_lists:
        if tl.split not in sc.splits or tl.condition not in sc.conditions:
            continue
        trial_ids = {t.trial_id for t in tl.trials}
        for name in attack_nodes(cfg):
            for level in sc.knowledge:
                lazy = level == LAZY_INFORMED
                kind = PHOTOS if tl.condition == PHOTO2MRI else (SUBMITTED if lazy else ORIGINAL)
                items |= {WorkItem(kind, e, name) for e in tl.enroll}
                fill = lazy and tl.condition != MRI2MRI
                items |= {WorkItem(SUBMITTED, t, name, fill) for t in trial_ids}
    if sc.utility:
        items |= {WorkItem(UTILITY, v.pseudonym) for v in prepared.splits.volumes
                  if v.split in sc.splits and v.role == "trial"}
    return sorted(items)


def fill_shard(cfg: DictConfig, prepared: Prepared, submission: Path, index: int, n: int) -> dict[str, int]:
    """Compute shard ``index`` of ``n`` of :func:`work_items` into the cache; counts of items done and failed."""
    os.environ["BENCHMARK_CACHE_DIR"] = str(cfg.paths.cache_dir)  # brain masks share the run's cache
    nodes = attack_nodes(cfg)
    attacks: dict = {}
    scorer = Scorer(prepared, submission, show=False)
    mine = shard_of(work_items(cfg, prepared), index, n)
    for item in mine:
        if item.kind == UTILITY:
            _utility(cfg, prepared, scorer, item.sample_id)
            continue
        key = (item.attack, item.fill)
        if key not in attacks:
            extra = {"fill": True} if item.fill else {}
            attacks[key] = build_attack(cfg, item.attack, nodes[item.attack], **extra)
        embed = {ORIGINAL: scorer.original_volume, SUBMITTED: scorer.submitted_volume, PHOTOS: scorer.photos}
        embed[item.kind](attacks[key], item.sample_id)
    return {"items": len(mine), "failed": len(scorer.failures)}


def _utility(cfg: DictConfig, prepared: Prepared, scorer: Scorer, vid: str) -> None:
    """The brain masks of one trial pair, as :func:`benchmark.scoring.score._utility` computes them (cached)."""
    v = scorer.key[vid]
    try:
        original = load_volume(prepared.dataset.session(v.participant_id, v.session_id).t1w,
                                cfg.limits.max_voxels, canonical=False)
        anonymised = load_volume(volume_path(scorer.submission, vid), cfg.limits.max_voxels, canonical=False)
        brain_preservation(original, anonymised)
    except BenchmarkError as exc:
        scorer.failures.setdefault(vid, str(exc))


def fill_cache(cfg: DictConfig, prepared: Prepared, submission: Path) -> None:
    """Run the ``scoring.shards`` shard jobs of ``submission`` (nothing when it is 1 or less)."""
    shards = sharding(cfg)
    if shards.n <= 1:
        return
    done = run_shards(shards, fill_shard, cfg, prepared, Path(submission).resolve())
    items, failed = sum(d["items"] for d in done), sum(d["failed"] for d in done)
    print(f"{submission}: {items} per-volume items in {shards.n} shards ({shards.executor.cluster})"
          + (f", {failed} failed (scored as failures)" if failed else ""), flush=True)

"""A submission's per-volume scoring work, split into shards that fill the shared cache (``scoring.shards``).

:func:`work_items` lists what scoring embeds or measures per volume: for each trial list scored, attack
and knowledge level, the enrollment samples (original volumes, anonymised ones for lazy-informed mri2mri,
or photographs) and the anonymised trial volumes (with ``fill`` for lazy-informed photo2mri); for the
semi-informed level the training pool in the adaptation's views (original and anonymised volumes,
photographs; not with ``scoring.adapt.finetune.network``, whose fine-tuned recogniser the assembling
process trains first); with ``scoring.utility`` the brain masks of each trial pair. :func:`fill_shard` computes the items ``i::n``
into the content-addressed cache under ``paths.cache_dir`` (embeddings, brain masks); :func:`fill_cache`
runs every shard as a submitit job (:func:`benchmark.core.shards.run_shards`) and waits. The normal
scoring that follows in the assembling process then reads the cache, and fits, adapts (semi-informed),
and computes the metrics itself, so its results equal an unsharded run's. A sample that fails in a shard
is not cached; the assembling process meets the same failure and records it in ``failures``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import get_class
from omegaconf import DictConfig

from benchmark.anatomy.preservation import brain_preservation
from benchmark.attacks import Attack
from benchmark.attacks.adapt import pool_variant, pool_views
from benchmark.core.errors import BenchmarkError
from benchmark.core.keys import CONDITIONS, LAZY_INFORMED, MRI2MRI, PHOTO2MRI, SEMI_INFORMED, TRAIN
from benchmark.core.memory import freeze_heap
from benchmark.core.progress import progress
from benchmark.core.shards import run_shards, shard_of, sharding
from benchmark.data.prepared import Prepared
from benchmark.data.volume import load_volume
from benchmark.scoring.attackers import attack_nodes, build_attack
from benchmark.scoring.scorer import Scorer
from benchmark.submission.format import volume_path

ORIGINAL, SUBMITTED, PHOTOS, UTILITY = "original", "submitted", "photos", "utility"
POOL_ORIGINAL, POOL_SUBMITTED, POOL_PHOTOS = "pool_original", "pool_submitted", "pool_photos"


@dataclass(frozen=True, order=True)
class WorkItem:
    """One per-volume product: ``kind`` of sample ``sample_id`` (a volume's pseudonym, an enrollment id, a
    pool person), embedded by ``attack`` (with ``fill``: the removed face reconstructed); utility items
    have no attack."""

    kind: str
    sample_id: str
    attack: str = ""
    fill: bool = False


def work_items(cfg: DictConfig, prepared: Prepared) -> list[WorkItem]:
    """Every per-volume item scoring ``cfg`` computes for a submission, each once, in a fixed order."""
    sc = cfg.scoring
    # the conditions each attack scores (volume-only attacks such as shape skip photo2mri)
    served = {name: getattr(get_class(node["_target_"]), "conditions", CONDITIONS)
              for name, node in attack_nodes(cfg).items()}
    items: set[WorkItem] = set()
    for tl in prepared.splits.trial_lists:
        if tl.split not in sc.splits or tl.condition not in sc.conditions:
            continue
        trial_ids = {t.trial_id for t in tl.trials}
        for name in attack_nodes(cfg):
            if tl.condition not in served[name]:
                continue
            for level in sc.knowledge:
                lazy = level == LAZY_INFORMED
                kind = PHOTOS if tl.condition == PHOTO2MRI else (SUBMITTED if lazy else ORIGINAL)
                items |= {WorkItem(kind, e, name) for e in tl.enroll}
                fill = lazy and tl.condition != MRI2MRI
                items |= {WorkItem(SUBMITTED, t, name, fill) for t in trial_ids}
    if SEMI_INFORMED in sc.knowledge and not sc.adapt.finetune.network:
        train = [v for v in prepared.splits.volumes if v.role == TRAIN]
        for name in attack_nodes(cfg):
            items |= {WorkItem(kind, v.pseudonym, name) for v in train for kind in (POOL_ORIGINAL, POOL_SUBMITTED)}
            if PHOTO2MRI in served[name]:
                items |= {WorkItem(POOL_PHOTOS, v.participant_id, name) for v in train}
    if sc.utility:
        items |= {WorkItem(UTILITY, v.pseudonym) for v in prepared.splits.volumes
                  if v.split in sc.splits and v.role == "trial"}
    return sorted(items)


def fill_shard(cfg: DictConfig, prepared: Prepared, submission: Path, index: int, n: int) -> dict[str, int]:
    """Compute shard ``index`` of ``n`` of :func:`work_items` into the cache; counts of items done and failed."""
    return fill_items(cfg, prepared, submission, shard_items(work_items(cfg, prepared), index, n))


def shard_items(items: list[WorkItem], index: int, n: int) -> list[WorkItem]:
    """Shard ``index`` of ``n`` of ``items``, every n-th *sample* from ``index``: the items of one sample
    (its attacks, one after another; its original before its anonymised volume) stay in one shard, where
    the attacks that see a volume the same way share its renders (:mod:`benchmark.attacks.base`) instead of
    each shard rendering it again, and an anonymised volume with its original's bytes (the ``none``
    baseline) finds the original's embeddings in the cache instead of another process computing them at
    the same time; so does an attack's ``fill`` item after its plain one, whose embedding it takes when the
    fill leaves the volume as it is (:meth:`benchmark.attacks.base.Attack.embed_volume_file`)."""
    groups: dict[str, list[WorkItem]] = {}
    for item in items:
        groups.setdefault(item.sample_id, []).append(item)
    return [item for group in shard_of(list(groups.values()), index, n) for item in group]


def fill_items(cfg: DictConfig, prepared: Prepared, submission: Path, mine: list[WorkItem],
               threads: int = 0) -> dict[str, int]:
    """Compute the work items ``mine`` of ``submission`` into the cache (torch on ``threads`` threads when
    given); counts of items done and failed."""
    freeze_heap()  # a worker's collection after the task walks only what the task made (benchmark.core.memory)
    if threads:
        import torch

        torch.set_num_threads(threads)
    os.environ["BENCHMARK_CACHE_DIR"] = str(cfg.paths.cache_dir)  # brain masks share the run's cache
    scorer = Scorer(prepared, submission, show=False)
    attack = functools.lru_cache(maxsize=None)(functools.partial(_attack, cfg))
    embed = {ORIGINAL: scorer.original_volume, SUBMITTED: scorer.submitted_volume, PHOTOS: scorer.photos}
    for item in mine:
        if item.kind == UTILITY:
            _utility(cfg, prepared, scorer, item.sample_id)
        elif item.kind in embed:
            embed[item.kind](attack(item.attack, item.fill, pool=False), item.sample_id)
        else:  # the pool's photographs are embedded in the attack's own views
            _pool(prepared, scorer, attack(item.attack, False, pool=item.kind != POOL_PHOTOS), item)
    return {"items": len(mine), "failed": len(scorer.failures)}


def _attack(cfg: DictConfig, name: str, fill: bool, pool: bool) -> Attack:
    """The attack ``name`` as scoring builds it: with ``fill``, or rendering the pool's views (``pool``)."""
    base = build_attack(cfg, name, attack_nodes(cfg)[name], **({"fill": True} if fill else {}))
    return pool_variant(base, pool_views(base, cfg.scoring.adapt.views)) if pool else base


def _pool(prepared: Prepared, scorer: Scorer, attack: Attack, item: WorkItem) -> None:
    """One pool sample as :func:`benchmark.attacks.adapt.embed_pool` embeds it (cached)."""
    if item.kind == POOL_PHOTOS:
        photos = prepared.dataset.participant(item.sample_id).photos
        if photos:
            scorer.safe(item.sample_id, "photos", attack, None, lambda: attack.embed_photo_files(photos))
        return
    v = scorer.key[item.sample_id]
    path = (prepared.dataset.session(v.participant_id, v.session_id).path if item.kind == POOL_ORIGINAL
            else volume_path(scorer.submission, item.sample_id))
    scorer.safe(item.sample_id, item.kind, attack, None, lambda: attack.embed_volume_file(path))


def _utility(cfg: DictConfig, prepared: Prepared, scorer: Scorer, vid: str) -> None:
    """The brain masks of one trial pair, as :func:`benchmark.scoring.score._utility` computes them (cached)."""
    v = scorer.key[vid]
    try:
        original = load_volume(prepared.dataset.session(v.participant_id, v.session_id).path,
                                cfg.limits.max_voxels, canonical=False)
        anonymised = load_volume(volume_path(scorer.submission, vid), cfg.limits.max_voxels, canonical=False)
        brain_preservation(original, anonymised)
    except BenchmarkError as exc:
        scorer.failures.setdefault((vid, "utility", "brain mask"), str(exc))


#: Items computed from the cohort alone (original volumes, photographs): the same for every submission.
SHARED_KINDS = frozenset({ORIGINAL, PHOTOS, POOL_ORIGINAL, POOL_PHOTOS})


def fill_together(cfg: DictConfig, prepared: Prepared, submissions: list[Path], workers: int,
                  chunks_per_worker: int = 4) -> int:
    """The per-volume items of several submissions computed into the cache by ``workers`` processes at once
    (joblib), so that the cores stay busy however the submissions differ in cost: each submission's items
    in ``workers * chunks_per_worker`` interleaved chunks (the last submission's in twice as many: the last
    chunk runs alone while the other workers have nothing left, ~25 s on the default run), the items that do
    not depend on the submission (:data:`SHARED_KINDS`) once, with the first. Scoring each submission
    afterwards finds them in the cache (its results equal a run without this step). Returns the number of
    items."""
    from joblib import Parallel, delayed

    items = work_items(cfg, prepared)
    n = max(1, workers * chunks_per_worker)
    tasks = []
    for i, sub in enumerate(submissions):
        mine = items if i == 0 else [it for it in items if it.kind not in SHARED_KINDS]
        k = n if i < len(submissions) - 1 else 2 * n  # the last in smaller chunks: the pool's tail halves
        tasks += [(Path(sub).resolve(), chunk) for j in range(k) if (chunk := shard_items(mine, j, k))]
    threads = max(1, (os.cpu_count() or 1) // workers)
    done = Parallel(n_jobs=workers, return_as="generator")(
        delayed(fill_items)(cfg, prepared, sub, chunk, threads) for sub, chunk in tasks)
    for _ in progress(done, "per-volume work (chunks)", cfg.progress, total=len(tasks)):
        pass
    return sum(len(chunk) for _, chunk in tasks)


def fill_cache(cfg: DictConfig, prepared: Prepared, submission: Path) -> None:
    """Run the ``scoring.shards`` shard jobs of ``submission`` (nothing when it is 1 or less)."""
    shards = sharding(cfg)
    if shards.n <= 1:
        return
    done = run_shards(shards, fill_shard, cfg, prepared, Path(submission).resolve())
    items, failed = sum(d["items"] for d in done), sum(d["failed"] for d in done)
    print(f"{submission}: {items} per-volume items in {shards.n} shards ({shards.executor.cluster})"
          + (f", {failed} failed (scored as failures)" if failed else ""), flush=True)

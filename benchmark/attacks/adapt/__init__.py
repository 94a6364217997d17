"""The semi-informed attacker: a recogniser adapted to a submission's anonymisation on its training pool.

``adapt_attack(base, pool, cfg, cache_root)`` embeds the training pool (the persons disjoint from dev and
test, their original sessions, the sessions as the submission anonymised them, their photographs) in the
attack's views plus augmentation views, chooses a back end by person-level cross-validation on the pool
(:mod:`.backend`: the pretrained recogniser, a domain mean shift, an embedding head trained with the
ArcFace loss, S-norm, and their combinations) and returns a :class:`SemiInformedAttack`. Any attack can be
adapted this way (ArcFace, dlib, geometry). For ArcFace-family attacks ``finetune.network=true`` first
fine-tunes the recogniser's output block (:mod:`.finetune`, cached under ``.cache/adapted``).

Pool embeddings go through each attack's embedding cache (content-keyed: the original sessions and
photographs are embedded once for every submission); the back end itself takes seconds and is refitted
on each run, deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

import benchmark.attacks.models as models
from benchmark.attacks.adapt.finetune import SplitRecognizer, finetune
from benchmark.attacks.align import box_from_landmarks5, centred_landmarks5
from benchmark.attacks.arcface import ArcFaceAttack
from benchmark.attacks.base import RUNTIME, Attack, Embedding, l2_normalise, usable_landmarks5
from benchmark.attacks.models import DetectedFace
from benchmark.core.cache import DiskCache
from benchmark.core.config import AdaptConfig
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_path, config_hash, sha256_file
from benchmark.core.progress import progress
from benchmark.data.volume import load_volume
from benchmark.render import View, render_views
from benchmark.attacks.adapt.backend import (
    ANONYMISED,
    ORIGINAL,
    PHOTO,
    Backend,
    BackendScorer,
    PoolItem,
    fit_selected,
    select,
)

__all__ = ["AdaptedArcFaceAttack", "AdaptConfig", "Pool", "SemiInformedAttack", "adapt_attack"]

#: Bumped when the network fine-tuning changes in a way that invalidates cached adapted weights.
ADAPT_VERSION = 2


@dataclass
class Pool:
    """The attacker's training pool: the same volumes anonymised and original, and the persons' photos."""

    anonymised: list[tuple[Path, str, str]]  # (path, person, session)
    original: list[tuple[Path, str, str]]  # (path, person, session)
    photos: dict[str, list[Path]] = field(default_factory=dict)  # person -> photographs

    @property
    def persons(self) -> list[str]:
        return sorted({p for _, p, _ in self.anonymised})


class SemiInformedAttack:
    """An attack with a back end adapted on the pool; embeddings come from the inner attack (and its cache).

    ``similarity(enrollment, trial)`` is asymmetric, as the scorer calls it: the first argument is the
    enrollment (an original volume, or photographs: tagged by :meth:`embed_photo_files`), the second an
    anonymised trial volume.
    """

    def __init__(self, inner: Attack, backend: Backend, log: Optional[dict] = None):
        self.inner = inner
        self.backend = backend
        self.training_log = log or {}
        self._scorer = BackendScorer(inner, backend)

    def __getattr__(self, name: str) -> Any:  # name, views, cache ... of the inner attack
        if name in ("inner", "backend", "_scorer"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def embed_photo_files(self, paths):
        e = self.inner.embed_photo_files(paths)
        e.info["domain"] = PHOTO
        return e

    def embed_photos(self, photos):
        e = self.inner.embed_photos(photos)
        e.info["domain"] = PHOTO
        return e

    def fit(self, embeddings: Sequence[Embedding]) -> "SemiInformedAttack":
        """The inner attack's own statistics (geo's z-scoring) on the mapped enrollment embeddings."""
        mapped = [self.backend.map(e, e.info.get("domain", ORIGINAL), e.info.get("domain", ORIGINAL))
                  for e in embeddings]
        self.inner.fit(mapped)
        self._scorer.reset()
        return self

    def similarity(self, enrollment: Embedding, trial: Embedding) -> float:
        return self._scorer.score(enrollment, trial, enrollment.info.get("domain", ORIGINAL))


@dataclass
class AdaptedArcFaceAttack(ArcFaceAttack):
    """ArcFace with its output block replaced by weights fine-tuned on an anonymised training pool."""

    name: str = "arcface_adapted"
    head_sha256: str = ""  # the fine-tuned weights' hash (part of the config hash: caches stay apart)
    head_weights: str = field(default="", metadata=RUNTIME)  # .npz of the fine-tuned output block

    def _split(self):
        if getattr(self, "_split_model", None) is None:
            if not self.head_weights or sha256_file(self.head_weights) != self.head_sha256:
                raise BenchmarkError("adapted weights missing or changed; rerun the adaptation", self.head_weights)
            model = SplitRecognizer(str(models.verify(self.model_files()["recognizer"])))
            with np.load(self.head_weights) as data:
                model.load_head_state({k: data[k] for k in data.files})
            self._split_model = model
        return self._split_model

    def embed_face(self, rgb, bgr, face):
        crop = self.aligned_crop(rgb, bgr, face)
        vector = self._split().embed(crop[None], flip=self.flip)[0]
        return l2_normalise(vector), face.kps, {}


def aligned_crops(attack: ArcFaceAttack, img, views: Sequence[dict]) -> list[np.ndarray]:
    """The 112x112 aligned face crops of a volume rendered in ``views``, aligned as the attack aligns
    (detector, then guided detection, then the render's geometry, then a centred crop)."""
    crops = []
    albedo = None if attack.albedo is None else np.asarray(attack.albedo)
    for r in render_views(attack.reconstruct(img), [View(**v) for v in views], albedo=albedo):
        rgb = r.to_uint8_rgb()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = attack.detect(rgb, bgr)
        if face is None and usable_landmarks5(r.landmarks5):
            kps = np.asarray(r.landmarks5, np.float64).reshape(5, 2)
            face = attack.guided_detect(rgb, bgr, box_from_landmarks5(kps))
        elif face is None:
            kps = centred_landmarks5(*rgb.shape[:2])
        if face is None:
            face = DetectedFace(bbox=box_from_landmarks5(kps), kps=kps, score=0.0)
        crops.append(attack.aligned_crop(rgb, bgr, face))
    return crops


def adapt_network(base: ArcFaceAttack, pool: Pool, cfg: AdaptConfig, cache_root: str | Path,
                  show: bool = True) -> AdaptedArcFaceAttack:
    """Fine-tune ``base``'s output block on the pool (anonymised and original sessions, one class per
    person: the invariance the attacker needs); cached by the pool's file hashes and the config."""
    volumes = sorted({(Path(p), str(person)) for p, person, _ in pool.anonymised + pool.original})
    key = config_hash({"version": ADAPT_VERSION, "base": base.config_hash(), "adapt": asdict(cfg),
                       "pool": [(sha256_file(p), label) for p, label in volumes]})
    cache = DiskCache(cache_root)
    if not cache.enabled:
        raise BenchmarkError("the semi-informed attacker needs the cache enabled to store its weights")
    log: dict = {}

    def train() -> dict[str, np.ndarray]:
        crops, labels = [], []
        for path, label in progress(volumes, "semi-informed: render training pool", show):
            for crop in aligned_crops(base, load_volume(path), cfg.views):
                crops.append(crop)
                labels.append(label)
        model = SplitRecognizer(str(base.model_files()["recognizer"].path))
        log.update(finetune(model, np.stack(crops), np.array(labels), cfg.finetune))
        return {**model.head_state(), "_log": np.array(json.dumps(log))}

    arrays = cache.get_or_compute("adapted", key, train)
    weights = cache.path("adapted", key)
    head = {k: v for k, v in arrays.items() if not k.startswith("_")}
    head_file = weights.with_name(weights.stem + "-head.npz")
    if not head_file.is_file():
        with atomic_path(head_file, suffix=".npz") as tmp:
            np.savez(tmp, **head)
    options = {f.name: getattr(base, f.name) for f in dataclasses.fields(ArcFaceAttack) if f.name != "name"}
    return AdaptedArcFaceAttack(**options, head_weights=str(head_file), head_sha256=sha256_file(head_file))


def pool_views(base: Attack, extra: Sequence[dict]) -> list[dict]:
    """The views the pool is embedded in: the attack's own views first, then the augmentation views it lacks."""
    views = [dict(v) for v in base.views]
    for v in extra:
        v = dict(v)
        if v not in views:
            views.append(v)
    return views


def pool_variant(attack: Attack, views: Sequence[dict]) -> Attack:
    """The attack rendering ``views`` (itself when they are its own): it embeds the pool volumes."""
    return dataclasses.replace(attack, views=list(views)) if list(views) != list(attack.views) else attack


def embed_pool(attack: Attack, pool: Pool, views: Sequence[dict], show: bool = True) -> list[PoolItem]:
    """Every pool sample embedded by ``attack`` in ``views`` (templates in the attack's own views)."""
    n_own = len(attack.views)
    variant = pool_variant(attack, views)
    items: list[PoolItem] = []
    # anonymised first: they are the submission's; originals and photos come from the cache after one run
    volumes = [(p, person, ses, ANONYMISED) for p, person, ses in pool.anonymised] + \
              [(p, person, ses, ORIGINAL) for p, person, ses in pool.original]
    for path, person, ses, domain in progress(volumes, f"semi-informed {attack.name}: embed training pool", show):
        e = variant.embed_volume_file(path)
        own = np.asarray(e.views[:n_own])
        template = Embedding(vector=attack.combine(own), detected=bool(np.any(e.view_detected[:n_own])), views=own,
                             view_detected=np.asarray(e.view_detected[:n_own]))
        items.append(PoolItem(person, ses, domain, template, np.asarray(e.views, np.float64)))
    serves_photos = "photo2mri" in getattr(attack, "conditions", ("photo2mri",))  # volume-only attacks: no
    for person in sorted(pool.photos):
        if pool.photos[person] and serves_photos:
            e = attack.embed_photo_files(pool.photos[person])
            items.append(PoolItem(person, "", PHOTO, e, np.asarray(e.views, np.float64)))
    return items


def adapt_attack(base: Attack, pool: Pool, cfg: AdaptConfig, cache_root: str | Path,
                 show: bool = True) -> SemiInformedAttack:
    """The semi-informed attacker: ``base`` (ArcFace optionally with a fine-tuned output block) with a
    back end chosen by cross-validation on the pool and refitted on all of it."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(AdaptConfig), cfg))  # a typed AdaptConfig
    if len(pool.persons) < 2:
        raise BenchmarkError("the attacker's training pool needs volumes of at least two persons "
                             "(splits.train > 0 and a cohort of at least splits.min_persons)")
    start = time.perf_counter()
    inner: Attack = base
    if cfg.finetune.network and isinstance(base, ArcFaceAttack):
        inner = adapt_network(base, pool, cfg, cache_root, show)
    items = embed_pool(inner, pool, pool_views(inner, cfg.views), show)
    embedded = time.perf_counter()
    normalise_raw = isinstance(inner, ArcFaceAttack)
    cand, log = select(inner, items, cfg, normalise_raw)
    backend, head_log = fit_selected(inner, items, cand, cfg, normalise_raw)
    log.update({"head": head_log, "seconds_embed": round(embedded - start, 3),
                "seconds_select": round(time.perf_counter() - embedded, 3), "network": inner is not base})
    if show:
        import sys

        print(f"semi-informed {base.name}: pool embedded in {log['seconds_embed']:.1f} s, back end "
              f"'{cand.name}' chosen and fitted in {log['seconds_select']:.1f} s", file=sys.stderr)
    return SemiInformedAttack(inner, backend, log)


def summary(attack: SemiInformedAttack) -> str:
    """One line for the results' messages: what was selected, and the pool cross-validation EERs."""
    log = attack.training_log
    table = log.get("cv_eer", {})
    pre, sel = table.get("pretrained", {}), table.get(log.get("selected", ""), {})
    return (f"adapted back end '{log.get('selected')}' chosen by {len(log.get('folds', []))}-fold person "
            f"cross-validation on the training pool (mean EER {sel.get('mean', float('nan')):.3f}; "
            f"pretrained {pre.get('mean', float('nan')):.3f})")

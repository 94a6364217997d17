"""The semi-informed attacker: ArcFace adapted to a submission's anonymisation on its training pool.

``adapt_attack(base, pool, ...)`` renders and aligns every anonymised training-pool volume in
several views, fine-tunes the recogniser's output block (:mod:`.finetune`), stores the weights in
the cache (keyed by the pool's file hashes and the config), and returns an
:class:`AdaptedArcFaceAttack` whose embeddings are cached under the adapted weights' hash.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..attacks.arcface import ArcFaceAttack
from ..attacks.base import RUNTIME, l2_normalise
from ..cache import DiskCache
from ..errors import BenchmarkError
from ..io import config_hash, sha256_file
from ..config import AdaptConfig
from .finetune import SplitRecognizer, finetune

__all__ = ["AdaptedArcFaceAttack", "AdaptConfig", "adapt_attack"]


@dataclass
class AdaptedArcFaceAttack(ArcFaceAttack):
    """ArcFace with its output block replaced by weights fine-tuned on an anonymised training pool."""

    name: str = "arcface_adapted"
    head_sha256: str = ""  # the fine-tuned weights' hash (part of the config hash: caches stay apart)
    head_weights: str = field(default="", metadata=RUNTIME)  # .npz of the fine-tuned output block

    def _split(self) -> SplitRecognizer:
        if getattr(self, "_split_model", None) is None:
            if not self.head_weights or sha256_file(self.head_weights) != self.head_sha256:
                raise BenchmarkError("adapted weights missing or changed; rerun the adaptation", self.head_weights)
            from ..attacks import models

            model = SplitRecognizer(str(models.verify(self.model_files()["recognizer"])))
            with np.load(self.head_weights) as data:
                model.load_head_state({k: data[k] for k in data.files})
            self._split_model = model
        return self._split_model

    def embed_face(self, rgb, bgr, face):
        crop = self._recognizer().align(bgr, face.kps)
        vector = self._split().embed(crop[None], flip=self.flip)[0]
        return l2_normalise(vector), face.kps, {}


def aligned_crops(attack: ArcFaceAttack, img, views: Sequence[dict]) -> list[np.ndarray]:
    """The 112x112 aligned face crops of a volume rendered in ``views`` (fallback alignment as the attack)."""
    from ..attacks.align import centred_landmarks5
    from ..render import View, render_views

    crops = []
    for r in render_views(attack.reconstruct(img), [View(**v) for v in views]):
        rgb = r.to_uint8_rgb()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = attack.detect(rgb, bgr)
        if face is not None:
            kps = face.kps
        elif r.landmarks5 is not None and np.all(np.isfinite(r.landmarks5)):
            kps = r.landmarks5
        else:
            kps = centred_landmarks5(*rgb.shape[:2])
        crops.append(attack._recognizer().align(bgr, kps))
    return crops


def adapt_attack(base: ArcFaceAttack, pool: Sequence[tuple[Path, str]], cfg: AdaptConfig,
                 cache_root: str | Path, show: bool = True) -> AdaptedArcFaceAttack:
    """Fine-tune ``base`` on the pool ``[(anonymised volume path, person label), ...]``; cached."""
    from ..data.volume import load_volume
    from ..progress import progress

    from omegaconf import OmegaConf

    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(AdaptConfig), cfg))  # a typed AdaptConfig
    if not isinstance(base, ArcFaceAttack):
        raise BenchmarkError(f"the semi-informed attacker adapts ArcFace recognisers; '{base.name}' is not one")
    if len({label for _, label in pool}) < 2:
        raise BenchmarkError("the attacker's training pool needs volumes of at least two persons "
                             "(splits.train > 0 and a cohort of at least splits.min_persons)")
    pool = sorted((Path(p), str(label)) for p, label in pool)
    key = config_hash({"base": base.config_hash(), "adapt": asdict(cfg),
                       "pool": [(sha256_file(p), label) for p, label in pool]})
    cache = DiskCache(cache_root)
    log: dict = {}

    def train() -> dict[str, np.ndarray]:
        crops, labels = [], []
        for path, label in progress(pool, "semi-informed: render training pool", show):
            for crop in aligned_crops(base, load_volume(path), cfg.views):
                crops.append(crop)
                labels.append(label)
        model = SplitRecognizer(str(base.model_files()["recognizer"].path))
        log.update(finetune(model, np.stack(crops), np.array(labels), cfg.finetune))
        return {**model.head_state(), "_log": np.array(json.dumps(log))}

    arrays = cache.get_or_compute("adapted", key, train)
    weights = cache.path("adapted", key)
    if not cache.enabled:  # still need a file for the attack to load
        raise BenchmarkError("the semi-informed attacker needs the cache enabled to store its weights")
    head = {k: v for k, v in arrays.items() if not k.startswith("_")}
    head_file = weights.with_name(weights.stem + "-head.npz")
    if not head_file.is_file():
        from ..io import atomic_path

        with atomic_path(head_file, suffix=".npz") as tmp:
            np.savez(tmp, **head)
    options = {f: getattr(base, f) for f in ("detector", "detector_sha256", "det_size", "det_thresh", "views",
                                             "aggregate", "recognizer", "recognizer_sha256", "flip", "cache_root",
                                             "use_cache")}
    attack = AdaptedArcFaceAttack(**options, head_weights=str(head_file), head_sha256=sha256_file(head_file))
    attack.training_log: Optional[dict] = json.loads(str(arrays["_log"])) if "_log" in arrays else log
    return attack

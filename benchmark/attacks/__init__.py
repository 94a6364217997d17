"""Face re-identification attacks on head MRI renders and photographs.

Public API (notebooks and scripts)::

    from benchmark.attacks import get_attack
    attack = get_attack("arcface")                      # or "dlib", "geo"; overrides as keywords
    enroll = attack.embed_photos(["a.jpg", "b.jpg"])    # or embed_photo(path_or_rgb_array)
    probe = attack.embed_volume(nibabel_image)          # Embedding: vector, detected, render
    score = attack.similarity(enroll, probe)            # higher: more likely the same person

``embed_volume_file`` / ``embed_photo_file`` cache vectors on disk by file content and config hash.
Attacks are dataclasses built by ``hydra.utils.instantiate`` from ``conf/attack/<name>.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from benchmark.core.errors import BenchmarkError
from benchmark.attacks.base import Attack, Embedding

CONF_ATTACK = Path(__file__).resolve().parents[2] / "conf" / "attack"

__all__ = ["Attack", "Embedding", "get_attack", "list_attacks", "CONF_ATTACK"]


def list_attacks() -> list[str]:
    """Names of the attacks configured in ``conf/attack``."""
    return sorted(p.stem for p in CONF_ATTACK.glob("*.yaml"))


def get_attack(name: str, **overrides: Any) -> Attack:
    """Build the attack ``conf/attack/<name>.yaml`` describes, with keyword overrides of its options.

    A wrong name, key or type raises :class:`~benchmark.core.errors.BenchmarkError` naming it.
    """
    from benchmark.core.config import build

    path = CONF_ATTACK / f"{name}.yaml"
    if not path.is_file():
        raise BenchmarkError(f"unknown attack '{name}'; available: {', '.join(list_attacks())}", path)
    node = OmegaConf.merge(OmegaConf.load(path), OmegaConf.create(overrides))
    try:
        return build(node, f"attack.{name}")
    except InstantiationException as exc:  # an option the class itself refused
        cause = exc.__cause__
        if isinstance(cause, BenchmarkError):
            raise cause from None
        raise BenchmarkError(f"attack '{name}': {cause or exc}", path) from None

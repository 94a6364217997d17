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

from typing import Any

from benchmark.attacks.base import Attack, Embedding
from benchmark.core import registry
from benchmark.core.config import CONF_DIR

CONF_ATTACK = CONF_DIR / "attack"

__all__ = ["Attack", "Embedding", "get_attack", "list_attacks", "CONF_ATTACK"]


def list_attacks() -> list[str]:
    """Names of the attacks configured in ``conf/attack``."""
    return registry.available("attack")


def get_attack(name: str, **overrides: Any) -> Attack:
    """Build the attack ``conf/attack/<name>.yaml`` describes, with keyword overrides of its options
    (the rules of :func:`benchmark.core.registry.build`).

    A wrong name, key or type raises :class:`~benchmark.core.errors.BenchmarkError` naming it.
    """
    return registry.build("attack", name, expected=Attack, **overrides)

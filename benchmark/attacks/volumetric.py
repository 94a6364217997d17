"""Attacks on the volume's 3-D content rather than a face image (head shape, brain anatomy): ``mri2mri`` only.

A :class:`VolumetricAttack` turns a head volume (RAS) into one descriptor vector per configured view and
compares two vectors by the cosine of their deviations from the enrollment mean (:meth:`fit`, scikit-learn
style; plain cosine until fitted). It uses no face detector and no model file. A view ``{azimuth,
elevation}`` (degrees) turns the volume's canonical frame before the descriptor is taken
(:func:`view_rotation`): ``[{}]`` is the descriptor itself, turned copies serve as augmentation for the
semi-informed attacker. Photographs carry no 3-D content: :attr:`conditions` holds ``mri2mri`` only and
the scorer skips ``photo2mri`` with :attr:`skip_reason`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional, Sequence

import numpy as np

from benchmark.attacks.base import Attack, Embedding, cosine
from benchmark.attacks.models import ModelFile
from benchmark.core.errors import BenchmarkError
from benchmark.data.volume import load_volume


def view_rotation(view: dict) -> np.ndarray:
    """Rotation of a (forward, left, up) frame for a view: ``azimuth`` about up, then ``elevation``
    about left (degrees; ``yaw`` and ``pitch`` are accepted as aliases)."""
    az = np.deg2rad(float(view.get("azimuth", view.get("yaw", 0.0))))
    el = np.deg2rad(float(view.get("elevation", view.get("pitch", 0.0))))
    rz = np.array([[np.cos(az), -np.sin(az), 0.0], [np.sin(az), np.cos(az), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[np.cos(el), 0.0, -np.sin(el)], [0.0, 1.0, 0.0], [np.sin(el), 0.0, np.cos(el)]])
    return ry @ rz


@dataclass
class VolumetricAttack(Attack):
    """Base of the volume-only attacks; subclasses implement :meth:`embed_volume`."""

    name: str = "volumetric"
    mean_: Optional[np.ndarray] = field(default=None, init=False, repr=False, metadata={"hash": False})

    conditions: ClassVar[tuple[str, ...]] = ("mri2mri",)
    skip_reason: ClassVar[str] = "a photograph carries no 3D content"

    def model_files(self) -> dict[str, ModelFile]:
        return {}

    def embed_volume_file(self, path: str | os.PathLike) -> Embedding:
        """:meth:`embed_volume` of a NIfTI file (RAS), cached on disk by file content and config hash."""
        path = Path(path)
        return self._cached(path, "volume", lambda: self.embed_volume(load_volume(path)))

    def embed_photo(self, photo) -> Embedding:
        raise BenchmarkError(f"attack '{self.name}': {self.skip_reason}; it scores mri2mri only")

    def fit(self, embeddings: Sequence[Embedding] | np.ndarray) -> "VolumetricAttack":
        """The enrollment mean that :meth:`compare` subtracts."""
        x = np.stack([e.vector for e in embeddings]) if not isinstance(embeddings, np.ndarray) else embeddings
        if len(x) < 2:
            raise BenchmarkError(f"attack '{self.name}': fit needs at least 2 embeddings, got {len(x)}")
        self.mean_ = np.asarray(x, np.float64).mean(0)
        return self

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        """cos(u - m, v - m), m the enrollment mean (0 until fitted)."""
        if self.mean_ is None:
            return cosine(u, v)
        return cosine(u - self.mean_, v - self.mean_)

"""Head-shape attack: the outer skin surface, aligned to a reference head, sampled at fixed anchor points.

Every face attack goes through a face image; a defacer that removes the face defeats them, but an
attacker holding another scan of the person (``mri2mri``) can compare the rest of the head in 3D: skull
breadth and length, forehead, ears, back of the head, and whatever the defacer left of the face.

1. Surface: the head/air boundary of the renderer's prepared volume (:func:`benchmark.render.prepare_volume`:
   ~2 mm working grid, automatic threshold), largest connected component with holes filled; its
   boundary voxels moved onto the iso-surface (:func:`subvoxel`), in RAS mm.
2. Canonical frame: the head pose (:func:`benchmark.render.estimate_pose_prepared`) gives a first frame
   (forward, left, up about the head centre); rigid ICP (Besl & McKay, PAMI 1992) with trimmed matches
   (Chetverikov et al., ICPR 2002: the worst ``1 - keep`` of the pairs are ignored each iteration, so a
   cut face, a field-of-view cut or the neck do not pull the fit), coarse to fine, then aligns the
   surface to the reference head's (pydeface's template, :func:`benchmark.anatomy.template.template_image`)
   in the template's own pose frame. The pose only starts the fit; the frame comes from the whole
   surface. The fit is rigid: head size is part of identity.
3. Descriptor: at fixed anchors (the reference surface thinned to one point per ``anchor_mm`` cell), the
   signed distance to the nearest point of the aligned surface (positive outside the reference, along
   the anchor's direction from the head centre); an anchor with no surface within ``reach_mm`` (a region
   the field of view or a defacer cut away) holds 0, no evidence.
4. Comparison: cosine of the vectors centred on the enrollment mean
   (:class:`~benchmark.attacks.volumetric.VolumetricAttack`), over the anchors where both hold evidence
   (:meth:`ShapeAttack.compare`): the attack uses what the submission left, and a removed face does not
   count as a difference. (A back end that moves the vectors, such as the semi-informed mean shift,
   leaves no exact zeros: every anchor counts then.)

A view (``{azimuth, elevation}``) turns the aligned surface about the head centre before sampling
(augmentation for the semi-informed attacker). A photograph carries no 3D shape: ``mri2mri`` only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from benchmark.anatomy.template import template_image
from benchmark.attacks.base import Embedding, cosine
from benchmark.attacks.volumetric import VolumetricAttack, view_rotation
from benchmark.core.errors import BenchmarkError
from benchmark.render import HeadPose, estimate_pose_prepared, prepare_volume
from benchmark.render.morphology import fill_holes


@dataclass(frozen=True)
class Surface:
    """Head surface points (N, 3) in RAS mm and the head pose that frames them."""

    points: np.ndarray
    pose: HeadPose


def head_surface(img) -> Surface:
    """Boundary voxels of the head (largest component above the automatic threshold, holes filled)."""
    prep = prepare_volume(img)
    mask = prep.data.numpy() >= prep.threshold
    labels, n = ndimage.label(mask)
    if n == 0:
        raise BenchmarkError("shape: no head above the automatic threshold",
                             getattr(img, "get_filename", lambda: None)())
    mask = fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    edge = mask & ~ndimage.binary_erosion(mask)
    idx = np.argwhere(edge)
    points = subvoxel(prep, idx) @ prep.affine[:3, :3].T + prep.affine[:3, 3]
    return Surface(points=points, pose=estimate_pose_prepared(prep))


def subvoxel(prep, idx: np.ndarray) -> np.ndarray:
    """Voxel positions ``idx`` (N, 3) moved onto the iso-surface by one Newton step along the smoothed
    volume's gradient, ``x + (t - v) g / |g|^2`` (at most one voxel): the surface between voxel centres."""
    i, j, k = idx.T
    v = prep.data.numpy()[i, j, k].astype(np.float64)
    grad = prep.gradient()[0].numpy()  # channels: central differences along k, j, i (twice the derivative)
    g = np.stack([grad[2][i, j, k], grad[1][i, j, k], grad[0][i, j, k]], axis=1).astype(np.float64) / 2.0
    step = (prep.threshold - v)[:, None] * g / np.maximum((g * g).sum(1, keepdims=True), 1e-12)
    norm = np.linalg.norm(step, axis=1, keepdims=True)
    return idx + step * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-12))


def frame_of(pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
    """(B, c): canonical coordinates of a world point x are ``(x - c) @ B`` (columns forward, left, up)."""
    forward = pose.forward / np.linalg.norm(pose.forward)
    up = pose.up - (pose.up @ forward) * forward
    up /= np.linalg.norm(up)
    return np.stack([forward, np.cross(up, forward), up], axis=1), np.asarray(pose.center, np.float64)


@functools.lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, cKDTree]:
    """The template head's surface in its own canonical frame and its k-d tree."""
    surface = head_surface(template_image())
    basis, centre = frame_of(surface.pose)
    points = (surface.points - centre) @ basis
    return points, cKDTree(points)


@functools.lru_cache(maxsize=4)
def anchors(cell_mm: float) -> np.ndarray:
    """The reference surface thinned to its first point in each ``cell_mm`` cube (fixed order)."""
    points, _ = reference()
    _, first = np.unique(np.floor(points / cell_mm).astype(np.int64), axis=0, return_index=True)
    return points[np.sort(first)]


def signed_distances(anchor: np.ndarray, points: np.ndarray, reach_mm: float) -> np.ndarray:
    """Distance from each anchor to the nearest of ``points``, signed + where that point lies farther
    from the origin (the head centre) along the anchor's direction; 0 (no evidence) beyond ``reach_mm``."""
    dist, nearest = cKDTree(points).query(anchor)
    outward = anchor / np.maximum(np.linalg.norm(anchor, axis=1, keepdims=True), 1e-9)
    sign = np.where(np.einsum("ij,ij->i", points[nearest] - anchor, outward) >= 0, 1.0, -1.0)
    return np.where(dist <= reach_mm, sign * dist, 0.0)


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid (R, t) minimising sum |R src + t - dst|^2 (Kabsch 1976; no reflection)."""
    ms, md = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - ms).T @ (dst - md))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, md - r @ ms


def trimmed_icp(points: np.ndarray, tree: cKDTree, keep: float, iterations: int,
                tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray, float]:
    """Rigid (R, t) aligning ``points`` to the tree's points by trimmed ICP; returns (R, t, RMS of kept pairs)."""
    r, t = np.eye(3), np.zeros(3)
    target = tree.data
    rms = np.inf
    for _ in range(iterations):
        moved = points @ r.T + t
        dist, nearest = tree.query(moved)
        kept = dist <= np.quantile(dist, keep)
        dr, dt = kabsch(moved[kept], target[nearest[kept]])
        r, t = dr @ r, dr @ t + dt
        new = float(np.sqrt(np.mean(dist[kept] ** 2)))
        if rms - new < tol:
            rms = new
            break
        rms = new
    return r, t, rms


@dataclass
class ShapeAttack(VolumetricAttack):
    """Options: anchor_mm (anchor spacing), reach_mm (farthest surface an anchor looks for), keep (fraction of ICP
    pairs kept), iterations (ICP, per stage), max_points (surface points of the ICP's fine stage, evenly
    subsampled; the coarse stage uses a tenth), views (turns of the aligned head, see the module)."""

    name: str = "shape"
    anchor_mm: float = 7.0
    reach_mm: float = 10.0
    keep: float = 0.8
    iterations: int = 40
    max_points: int = 8000

    skip_reason: ClassVar[str] = "a photograph carries no 3D shape"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.anchor_mm < 2 or self.reach_mm <= 0 or not 0.3 <= self.keep <= 1.0 or self.iterations < 1:
            raise BenchmarkError(f"attack '{self.name}': need anchor_mm >= 2, reach_mm > 0, 0.3 <= keep <= 1, "
                                 f"iterations >= 1; got anchor_mm={self.anchor_mm}, reach_mm={self.reach_mm}, "
                                 f"keep={self.keep}, iterations={self.iterations}")

    def prepare(self) -> "ShapeAttack":
        reference()
        return self

    def canonical_points(self, img) -> tuple[np.ndarray, float]:
        """The head surface of ``img`` in the reference head's canonical frame, and the ICP residual (mm)."""
        surface = head_surface(self.reconstruct(img))
        basis, centre = frame_of(surface.pose)
        points = (surface.points - centre) @ basis
        _, tree = reference()
        coarse = points[:: max(1, len(points) // (self.max_points // 10))]
        r, t, _ = trimmed_icp(coarse, tree, self.keep, self.iterations)
        fine = points[:: max(1, len(points) // self.max_points)] @ r.T + t
        dr, dt, rms = trimmed_icp(fine, tree, self.keep, self.iterations)
        r, t = dr @ r, dr @ t + dt
        return points @ r.T + t, rms

    def embed_volume(self, img) -> Embedding:
        points, rms = self.canonical_points(img)
        anchor = anchors(self.anchor_mm)
        views = np.stack([signed_distances(anchor, points @ view_rotation(v).T, self.reach_mm) for v in self.views])
        return Embedding(vector=views[0], detected=True, views=views, info={"icp_rms_mm": rms})

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        """cos(u - m, v - m) over the anchors where both vectors hold evidence (non-zero), m the
        enrollment mean (0 until fitted); 0 when fewer than 3 anchors are shared."""
        both = (u != 0) & (v != 0)
        if both.sum() < 3:
            return 0.0
        m = self.mean_[both] if self.mean_ is not None else 0.0
        return cosine(u[both] - m, v[both] - m)

"""Head-shape attack: the outer skin surface, aligned to a reference head, as depth maps from five sides.

Every face attack goes through a face image; a defacer that removes the face defeats them, but an
attacker holding another scan of the person (``mri2mri``) can compare the rest of the head in 3D: skull
breadth and length, forehead, ears, back of the head, and whatever the defacer left of the face.

1. Surface: the head/air boundary of the renderer's prepared volume (:func:`benchmark.render.prepare_volume`:
   ~2 mm working grid, automatic threshold), largest connected component with holes filled; the
   boundary voxels' centres in RAS mm.
2. Canonical frame: the head pose (:func:`benchmark.render.estimate_pose_prepared`) gives a first frame
   (forward, left, up about the head centre); rigid ICP (Besl & McKay, PAMI 1992) with trimmed matches
   (Chetverikov et al., ICPR 2002: the worst ``1 - keep`` of the pairs are ignored each iteration, so a
   cut face, a field-of-view cut or the neck do not pull the fit) then aligns the surface to the
   reference head's (pydeface's template, :func:`benchmark.anatomy.template.template_image`) in the
   template's own pose frame. The pose only starts the fit; the frame comes from the whole surface.
   The fit is rigid: head size is part of identity.
3. Descriptor: orthographic depth maps of the aligned surface seen from the front, back, left, right
   and top (a z-buffer over ``pixels`` x ``pixels`` cells spanning the reference head: the outermost
   surface point per cell), minus the reference head's maps; cells empty in either are 0.
4. Comparison: cosine of the vectors centred on the enrollment mean (:class:`~benchmark.attacks.volumetric.VolumetricAttack`).

A view (``{azimuth, elevation}``) turns the aligned surface about the head centre before the depth maps
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
from benchmark.attacks.base import Embedding
from benchmark.attacks.volumetric import VolumetricAttack, view_rotation
from benchmark.core.errors import BenchmarkError
from benchmark.render import HeadPose, estimate_pose_prepared, prepare_volume
from benchmark.render.morphology import fill_holes

#: Depth-map directions in the canonical (forward, left, up) frame: (depth axis, sign, the two grid axes).
SIDES = {"front": (0, 1.0, (1, 2)), "back": (0, -1.0, (1, 2)), "left": (1, 1.0, (0, 2)),
         "right": (1, -1.0, (0, 2)), "top": (2, 1.0, (0, 1))}


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
        raise BenchmarkError("shape: no head above the automatic threshold", getattr(img, "get_filename", lambda: None)())
    mask = fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    edge = mask & ~ndimage.binary_erosion(mask)
    idx = np.argwhere(edge).astype(np.float64)
    points = idx @ prep.affine[:3, :3].T + prep.affine[:3, 3]
    return Surface(points=points, pose=estimate_pose_prepared(prep))


def frame_of(pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
    """(B, c): canonical coordinates of a world point x are ``(x - c) @ B`` (columns forward, left, up)."""
    forward = pose.forward / np.linalg.norm(pose.forward)
    up = pose.up - (pose.up @ forward) * forward
    up /= np.linalg.norm(up)
    return np.stack([forward, np.cross(up, forward), up], axis=1), np.asarray(pose.center, np.float64)


@functools.lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, cKDTree, float]:
    """The template head's surface in its own canonical frame, its k-d tree and its radius (mm)."""
    surface = head_surface(template_image())
    basis, centre = frame_of(surface.pose)
    points = (surface.points - centre) @ basis
    return points, cKDTree(points), float(surface.pose.radius)


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


def depth_maps(points: np.ndarray, pixels: int, half_extent: float) -> np.ndarray:
    """(5, pixels, pixels) z-buffers of canonical points (outermost depth per cell; NaN where empty)."""
    out = np.full((len(SIDES), pixels * pixels), -np.inf)
    scale = pixels / (2.0 * half_extent)
    for k, (axis, sign, (a, b)) in enumerate(SIDES.values()):
        i = np.floor((points[:, a] + half_extent) * scale).astype(np.int64)
        j = np.floor((points[:, b] + half_extent) * scale).astype(np.int64)
        ok = (i >= 0) & (i < pixels) & (j >= 0) & (j < pixels)
        np.maximum.at(out[k], i[ok] * pixels + j[ok], sign * points[ok, axis])
    out[~np.isfinite(out)] = np.nan
    return out.reshape(len(SIDES), pixels, pixels)


@dataclass
class ShapeAttack(VolumetricAttack):
    """Options: pixels (depth-map cells per side), extent (half-width of the maps as a fraction of the
    reference head's radius), keep (fraction of ICP pairs kept), iterations (ICP), max_points (surface
    points used by the ICP, evenly subsampled), views (turns of the aligned head, see the module)."""

    name: str = "shape"
    pixels: int = 28
    extent: float = 1.05
    keep: float = 0.8
    iterations: int = 40
    max_points: int = 8000

    skip_reason: ClassVar[str] = "a photograph carries no 3D shape"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pixels < 4 or not 0.3 <= self.keep <= 1.0 or self.extent <= 0 or self.iterations < 1:
            raise BenchmarkError(f"attack '{self.name}': need pixels >= 4, 0.3 <= keep <= 1, extent > 0, "
                                 f"iterations >= 1; got pixels={self.pixels}, keep={self.keep}, "
                                 f"extent={self.extent}, iterations={self.iterations}")

    def prepare(self) -> "ShapeAttack":
        reference()
        return self

    def canonical_points(self, img) -> tuple[np.ndarray, float]:
        """The head surface of ``img`` in the reference head's canonical frame, and the ICP residual (mm)."""
        surface = head_surface(self.reconstruct(img))
        basis, centre = frame_of(surface.pose)
        points = (surface.points - centre) @ basis
        _, tree, _ = reference()
        step = max(1, len(points) // self.max_points)
        r, t, rms = trimmed_icp(points[::step], tree, self.keep, self.iterations)
        return points @ r.T + t, rms

    def embed_volume(self, img) -> Embedding:
        points, rms = self.canonical_points(img)
        ref_points, _, radius = reference()
        half = self.extent * radius
        ref = depth_maps(ref_points, self.pixels, half)
        vectors = []
        for view in self.views:
            maps = depth_maps(points @ view_rotation(view).T, self.pixels, half)
            vectors.append(np.nan_to_num(maps - ref, nan=0.0).ravel())
        views = np.stack(vectors)
        return Embedding(vector=views[0], detected=True, views=views, info={"icp_rms_mm": rms})

"""Head-shape attack: the outer skin surface, aligned to the enrollment's surface by trimmed rigid ICP.

Every face attack goes through a face image; a defacer that removes the face defeats them, but an
attacker holding another scan of the person (``mri2mri``) can compare the rest of the head in 3D: skull
breadth and length, forehead, ears, back of the head, and whatever the defacer left of the face.

1. Surface: the head/air boundary of the renderer's prepared volume (:func:`benchmark.render.prepare_volume`:
   ~2 mm working grid, automatic threshold), largest connected component with holes filled; its
   boundary voxels moved onto the iso-surface (:func:`subvoxel`), in RAS mm.
2. Common frame: rigid ICP (Besl & McKay, PAMI 1992) with trimmed matches (Chetverikov et al., ICPR 2002:
   the worst ``1 - keep`` of the pairs are ignored each iteration, so a cut face, a field-of-view cut or
   the neck do not pull the fit), coarse to fine, aligns the surface to the reference head's (pydeface's
   template, :func:`benchmark.anatomy.template.template_image`) in the template's own pose frame; nearest
   reference points come from a precomputed grid (:class:`benchmark.attacks._icp.NearestGrid`), then, for a
   last polish on fewer points, from a k-d tree (exact; :class:`benchmark.attacks._icp.TrackedNearest` asks it
   only for the points whose nearest may have changed, as in the comparison). It
   starts from the estimated head pose (:func:`benchmark.render.estimate_pose_prepared`) and from the
   scanner's RAS axes about the same centre, and keeps the start with the lower residual (a pose
   estimate fooled by a cut face does not decide the frame). The fit is rigid: head size is identity.
3. Descriptor: ``points`` surface points drawn uniformly (seeded) from the aligned surface, flattened:
   one vector per volume.
4. Comparison (:meth:`ShapeAttack.compare`): the trial's points are aligned to the enrollment's by
   trimmed rigid ICP (``match_keep`` of the pairs kept) and the score is minus the RMS distance (mm) of
   the kept pairs. A frame to the template moves with what a defacer or the field of view left (the
   template is not the person), a pairwise fit does not: two scans of one head match where both have
   surface, and whatever one of them lacks (a removed face, a cut plane, the neck) falls among the
   trimmed pairs. The trial holds fewer surface points than the enrollment after defacing, so the
   direction trial -> enrollment is the one that finds every kept point a partner.

A view (``{azimuth, elevation}``) turns the aligned surface about the head centre before sampling
(augmentation for the semi-informed attacker). A photograph carries no 3D shape: ``mri2mri`` only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from benchmark.anatomy.template import template_image
from benchmark.attacks._icp import NearestGrid, TrackedNearest, trimmed_icp
from benchmark.attacks.base import Embedding
from benchmark.attacks.volumetric import VolumetricAttack, view_rotation
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import sha256_array
from benchmark.core.masks import fill_holes, largest_component
from benchmark.core.memo import Recent
from benchmark.render import HeadPose, estimate_pose_prepared, prepare_volume


@dataclass(frozen=True)
class Surface:
    """Head surface points (N, 3) in RAS mm and the head pose that frames them."""

    points: np.ndarray
    pose: HeadPose


def head_surface(img) -> Surface:
    """Boundary voxels of the head (largest component above the automatic threshold, holes filled)."""
    prep = prepare_volume(img)
    mask = prep.data.numpy() >= prep.level  # data and level are above the input's floor
    if not mask.any():
        raise BenchmarkError("shape: no head above the automatic threshold",
                             getattr(img, "get_filename", lambda: None)())
    mask = fill_holes(largest_component(mask))
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
    step = (prep.level - v)[:, None] * g / np.maximum((g * g).sum(1, keepdims=True), 1e-12)
    norm = np.linalg.norm(step, axis=1, keepdims=True)
    return idx + step * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-12))


def frame_of(pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
    """(B, c): canonical coordinates of a world point x are ``(x - c) @ B`` (columns forward, left, up)."""
    forward = pose.forward / np.linalg.norm(pose.forward)
    up = pose.up - (pose.up @ forward) * forward
    up /= np.linalg.norm(up)
    return np.stack([forward, np.cross(up, forward), up], axis=1), np.asarray(pose.center, np.float64)


@functools.lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, NearestGrid, cKDTree]:
    """The template head's surface in its own canonical frame, its nearest-point grid (built once per
    process, ~0.3 s: an ICP iteration then costs a millisecond however far the moving points start, but
    stalls within a cell of the optimum) and its k-d tree (exact, for the last iterations)."""
    surface = head_surface(template_image())
    basis, centre = frame_of(surface.pose)
    points = (surface.points - centre) @ basis
    return points, NearestGrid(points), cKDTree(points)


#: The scanner's RAS axes as a (forward, left, up) frame: the second start of the fit to the reference.
RAS_FRAME = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class ShapeAttack(VolumetricAttack):
    """Options: points (surface points per volume), keep (fraction of ICP pairs kept in the fit to the
    reference), match_keep (the same in the pairwise fit of a trial), match_points (the trial's points
    used in the pairwise fit, evenly strided), match_iterations (its ICP iterations), iterations (ICP,
    per stage of the fit to the reference), max_points (surface points of the reference fit's fine
    stage, evenly subsampled; the coarse stage uses a tenth), polish_points (the same for its last stage,
    on exact nearest points), views (turns of the aligned head, see the module)."""

    name: str = "shape"
    points: int = 3000
    keep: float = 0.8
    match_keep: float = 0.7
    match_points: int = 1000
    match_iterations: int = 20
    iterations: int = 40
    max_points: int = 8000
    polish_points: int = 2000
    _trees: dict = field(default_factory=dict, init=False, repr=False, metadata={"hash": False})

    skip_reason: ClassVar[str] = "a photograph carries no 3D shape"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.points < 100 or not 0.3 <= min(self.keep, self.match_keep) <= max(self.keep, self.match_keep) <= 1.0 \
                or min(self.iterations, self.match_iterations, self.match_points, self.max_points,
                       self.polish_points) < 1:
            raise BenchmarkError(f"attack '{self.name}': need points >= 100, 0.3 <= keep, match_keep <= 1, "
                                 f"iterations, match_iterations, match_points, max_points, polish_points >= 1; "
                                 f"got points={self.points}, keep={self.keep}, match_keep={self.match_keep}, "
                                 f"iterations={self.iterations}, match_iterations={self.match_iterations}, "
                                 f"match_points={self.match_points}, max_points={self.max_points}, "
                                 f"polish_points={self.polish_points}")

    def prepare(self) -> "ShapeAttack":
        reference()
        return self

    def canonical_points(self, img) -> tuple[np.ndarray, float]:
        """The head surface of ``img`` in the reference head's canonical frame, and the ICP residual (mm)."""
        surface = head_surface(self.reconstruct(img))
        _, grid, tree = reference()
        centre = np.asarray(surface.pose.center, np.float64)
        best = None
        for basis in (frame_of(surface.pose)[0], RAS_FRAME):
            points = (surface.points - centre) @ basis
            coarse = points[:: max(1, len(points) // max(1, self.max_points // 10))]
            r, t, rms = trimmed_icp(coarse, grid, self.keep, self.iterations)
            if best is None or rms < best[0]:
                best = (rms, points, r, t)
        _, points, r, t = best
        fine = points[:: max(1, len(points) // self.max_points)] @ r.T + t
        dr, dt, _ = trimmed_icp(fine, grid, self.keep, self.iterations)
        r, t = dr @ r, dr @ t + dt
        polish = points[:: max(1, len(points) // self.polish_points)] @ r.T + t
        dr, dt, rms = trimmed_icp(polish, TrackedNearest(tree), self.keep, self.iterations, tol=0.01)  # as in compare
        r, t = dr @ r, dr @ t + dt
        return points @ r.T + t, rms

    def embed_volume(self, img) -> Embedding:
        points, rms = self.canonical_points(img)
        if len(points) < self.points:
            raise BenchmarkError(f"shape: {len(points)} surface points, fewer than points={self.points}",
                                 getattr(img, "get_filename", lambda: None)())
        pick = np.sort(np.random.default_rng(0).choice(len(points), size=self.points, replace=False))
        views = np.stack([(points[pick] @ view_rotation(v).T).ravel() for v in self.views])
        return Embedding(vector=views[0], detected=True, views=views, info={"icp_rms_mm": rms})

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        """Minus the RMS distance (mm) of the pairs kept when the trial's points ``v`` are aligned to the
        enrollment's ``u`` by trimmed rigid ICP (higher: more likely the same head). The enrollment mean
        of :meth:`fit` is not used: the score is a distance between two surfaces."""
        key = sha256_array(u)
        pair = (key, sha256_array(v), self.match_keep, self.match_points, self.match_iterations)
        score = _SCORES.recall(pair)
        if score is not None:  # a pair the knowledge levels (or S-norm's cohort) compared already: the same ICP
            return score
        tree = self._trees.get(key)
        if tree is None:
            if len(self._trees) >= 256:
                self._trees.clear()
            tree = self._trees[key] = cKDTree(np.asarray(u, np.float64).reshape(-1, 3))
        trial = np.asarray(v, np.float64).reshape(-1, 3)
        trial = trial[:: max(1, len(trial) // self.match_points)]
        _, _, rms = trimmed_icp(trial, TrackedNearest(tree), self.match_keep, self.match_iterations, tol=0.01)
        return _SCORES.keep(pair, -rms)


#: :meth:`ShapeAttack.compare`'s scores by (enrollment digest, trial digest, match options), in this process:
#: a run compares many pairs more than once (the same original and anonymised volumes under several knowledge
#: levels, S-norm's cohort for every trial), each an ICP of ~10 ms; the score is a pure function of the pair.
_SCORES: Recent = Recent(500_000)

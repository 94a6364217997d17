"""Head pose from the volume itself (not the scanner axes).

1. Left-right: the normal of the head's plane of mirror symmetry (:mod:`.symmetry`).
2. Forward and up, in that plane: the mid-sagittal image is matched to a reference head's (pydeface's
   template, :mod:`.atlas`) over rotation, mirror and scale; the face profile (nose direction,
   cranial vault, facial line; :mod:`.face`) gives the prior and the fallback when no reference is
   installed or the match is poor.
3. The nose tip: the midline tissue protruding farthest beyond the cheeks, where the reference head
   puts a nose; when the face is missing (defaced), the place of the template's nose in the skull's
   frame (:data:`VAULT_NOSE`). Not the reference's nose mapped by the match: the match's scale and
   offset follow the brain, and a faceless head's face crop would then carry the brain into the
   face attacks (measured on ``erase``: lazy-informed ``geo`` linked erased scans at EER 0.36, p 0.01;
   with the skull's frame 0.45, p 0.38). The brain is the ``anatomy`` attack's, reported apart.
4. Centre and radius from the cranial vault (crown, skull breadth and depth), not the face or neck.
With no usable evidence at all the RAS anterior and superior axes are used (``confidence`` 0).
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from benchmark.render.atlas import reference, register
from benchmark.render.face import find_nose, midline, profile_frame
from benchmark.render.midplane import PlaneGrid
from benchmark.render.symmetry import coarse_head, perpendiculars, symmetric_half_width, symmetry_plane
from benchmark.render.datatypes import HeadPose
from benchmark.render.volume import PreparedVolume

log = logging.getLogger(__name__)

PLANE_MM = 1.5  # pixel of the mid-sagittal face analysis
MIN_NOSE_FRACTION = 0.1  # a nose protrudes at least this fraction of the head's half-breadth
MIN_MATCH = 0.3  # reference match (normalised cross-correlation) trusted over the face profile
NOSE_AGREE = 0.6  # protruding nose accepted within this fraction of the half-breadth of the reference's
# The frame in units of the head's size, from the skull only (see _framed): measured once on pydeface's
# mean template (an average adult head) so that its frame spans crown to below the chin and back of the
# head to the nose tip, as the views were designed for.
VAULT_BAND = (0.3, 0.8)  # skull band (below the crown, in half-breadths) whose front-to-back middle places the centre
VAULT_DEPTH = 2.40  # the band's front-to-back depth over the half-breadth
VAULT_FORWARD = 0.14
VAULT_DOWN = 1.58
VAULT_RADIUS = 1.58
VAULT_NOSE = (1.507, -0.532)  # the template's nose tip from the centre, forward and up, in units of u


def estimate_pose_prepared(prep: PreparedVolume, threshold: float | None = None) -> HeadPose:
    """Head pose of a prepared volume (see the module docstring); computed once per volume and threshold
    (kept on ``prep``), a copy returned."""
    thr = prep.level if threshold is None else float(threshold) - prep.floor
    if thr not in prep._poses:
        prep._poses[thr] = _estimate_pose(prep, thr)
    return copy.deepcopy(prep._poses[thr])


def _estimate_pose(prep: PreparedVolume, thr: float) -> HeadPose:
    head = coarse_head(prep, thr)
    pts = head.points
    if len(pts) < 50:
        log.warning("head pose: almost no head voxels above threshold %.4g; using RAS axes", thr)
        return _fallback(pts)
    normal, offset, _ = symmetry_plane(head)
    centroid = pts.mean(0)
    centre = centroid - (normal @ centroid - offset) * normal
    a, b = perpendiculars(normal)
    half_width = symmetric_half_width(pts @ normal, offset, 5.0)
    extent = float(np.abs((pts - centre) @ np.stack([a, b]).T).max()) + 10.0
    grid = PlaneGrid.centred(centre, a, b, PLANE_MM, int(np.ceil(2 * extent / PLANE_MM)) + 1)
    mid = midline(prep, thr, grid)
    nose = find_nose(prep, thr, mid, half_width) if mid is not None else None
    if nose is not None and nose.depth < MIN_NOSE_FRACTION * half_width:
        nose = None
    prior = profile_frame(mid, nose.xy) if nose is not None else None
    ref = reference()
    reg = register(prep, thr, centre, a, b, ref, prior)
    if reg is not None and reg.score >= MIN_MATCH:
        forward, up, confidence = reg.forward, reg.up, reg.score
    elif prior is not None:
        forward, up = grid.direction(prior[0]), grid.direction(prior[1])
        confidence = 0.5 * min(1.0, nose.depth / half_width)
    else:
        log.warning("head pose: no reference match and no nose; using RAS axes")
        return _fallback(pts)
    up = up - (up @ forward) * forward
    up /= np.linalg.norm(up)
    own = _own_nose(nose.tip(grid, forward) if nose is not None else None, reg, centre, forward, half_width)
    pose = _framed(pts, forward, up, own, float(confidence), centre)
    if pose.nose is None:
        pose.nose = pose.center + pose.radius / VAULT_RADIUS * (VAULT_NOSE[0] * forward + VAULT_NOSE[1] * up)
    pose.midplane = np.append(normal, offset)
    return pose


def _own_nose(own, reg, centre, forward, half_width) -> np.ndarray | None:
    """The protruding nose when it lies in front and where the reference head puts one, else None (a
    defaced head's leftover protrusion is no nose)."""
    if own is None or (own - centre) @ forward <= 0:
        return None
    mapped = reg.nose if reg is not None else None
    return own if mapped is None or np.linalg.norm(own - mapped) <= NOSE_AGREE * half_width else None


def _framed(
    pts: np.ndarray,
    forward: np.ndarray,
    up: np.ndarray,
    nose: np.ndarray | None,
    confidence: float,
    plane_point: np.ndarray | None = None,
) -> HeadPose:
    """Pose whose centre and radius are set by the cranial vault in units of the head's size ``u``:
    the mean of its half-breadth ``w`` (ear to ear; the wider of the two sides about the mid-sagittal
    plane through ``plane_point``, so a head cut on one side by the field of view keeps it) and of the
    skull's front-to-back depth ``d`` in a band :data:`VAULT_BAND` ``* w`` below the crown, over
    :data:`VAULT_DEPTH` (two measures along two axes: thick slices along either move ``u`` half as
    much). The centre lies on the mid-sagittal plane, :data:`VAULT_DOWN` ``* u`` below the crown and
    :data:`VAULT_FORWARD` ``* u`` in front of the band's front-to-back middle; the radius is
    :data:`VAULT_RADIUS` ``* u``. The face, jaw and neck, which the field of view may cut and a defacer
    removes, play no part, so two scans of one head get one frame."""
    left = np.cross(up, forward)
    side = pts @ left
    mid_l = float(plane_point @ left) if plane_point is not None else float(np.median(side))
    w = symmetric_half_width(side, mid_l, 1.0)
    height = pts @ up
    crown = float(height.max())
    band = (height <= crown - VAULT_BAND[0] * w) & (height >= crown - VAULT_BAND[1] * w)
    depth = pts[band] @ forward if band.sum() >= 10 else pts @ forward
    back, front = np.percentile(depth, [0.5, 99.5])
    u = 0.5 * (w + float(front - back) / VAULT_DEPTH)
    mid_f = 0.5 * float(back + front) + VAULT_FORWARD * u
    return HeadPose(
        center=mid_f * forward + mid_l * left + (crown - VAULT_DOWN * u) * up,
        forward=forward,
        up=up,
        radius=VAULT_RADIUS * u,
        nose=nose,
        half_width=w,
        confidence=confidence,
    )


def _fallback(pts: np.ndarray) -> HeadPose:
    forward = np.array([0.0, 1.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])
    if len(pts) == 0:
        return HeadPose(center=np.zeros(3), forward=forward, up=up, radius=100.0, half_width=75.0, confidence=0.0)
    pose = _framed(pts, forward, up, None, 0.0)
    return pose

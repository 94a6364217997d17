"""Render views of a head volume: camera placement, ray casting, shading, landmarks."""

from __future__ import annotations

from typing import Sequence

import nibabel as nib
import numpy as np
import torch

from benchmark.core.errors import BenchmarkError

from benchmark.render.camera import light_direction, make_camera
from benchmark.render.datatypes import HeadPose, Render, View
from benchmark.render.landmarks import landmarks5
from benchmark.render.pose import estimate_pose_prepared
from benchmark.render.pyramid import cast_depth
from benchmark.render.raycast import Caster
from benchmark.render.shading import Albedo, phong
from benchmark.render.volume import PreparedVolume, prepare_volume

Volume = nib.spatialimages.SpatialImage | PreparedVolume


def estimate_pose(img: Volume, *, threshold: float | None = None) -> HeadPose:
    """Head centre, face direction and up vector estimated from the volume itself (RAS mm)."""
    return estimate_pose_prepared(_prepared(img), threshold)


def render_volume(
    img: Volume,
    view: View = View(),
    *,
    threshold: float | None = None,
    pose: HeadPose | None = None,
    albedo: np.ndarray | None = None,
) -> Render:
    """Render one view of the head's skin surface (see :func:`render_views`)."""
    return render_views(img, [view], threshold=threshold, pose=pose, albedo=albedo)[0]


def render_views(
    img: Volume,
    views: Sequence[View],
    *,
    threshold: float | None = None,
    pose: HeadPose | None = None,
    albedo: np.ndarray | None = None,
) -> list[Render]:
    """Render several views sharing one preparation (canonical grid, smoothing, pose, occupancy).

    ``img`` is any 3-D NIfTI (any orientation) or a :class:`PreparedVolume` (to share the
    preparation across calls). ``threshold`` (the input's intensity units) overrides the automatic
    head/air threshold; ``pose`` overrides the estimated head pose. ``albedo`` is an (X, Y, Z, 3)
    float array in [0, 1] on the input image's own voxel grid (``img.shape[:3]`` and ``img.affine``,
    in the input's voxel order, not the canonical one); it is sampled at each hit and multiplied by
    the shading, giving (H, W, 3) images; an RGB triple (3,) colours the whole surface alike.
    """
    prep = _prepared(img)
    thr = prep.level if threshold is None else float(threshold) - prep.floor  # in prep.data's units
    if pose is None:
        pose = estimate_pose_prepared(prep, threshold)  # the same level as ``thr``, and shape's pose when None
    colour = None if albedo is None else Albedo(albedo, prep.source_affine, prep.source_shape)
    caster = Caster(prep, thr)
    with torch.no_grad():
        return [_render_one(caster, pose, v, colour) for v in views]


def _prepared(img) -> PreparedVolume:
    if isinstance(img, PreparedVolume):
        return img
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise BenchmarkError(f"expected a nibabel image, got {type(img).__name__}; load the scan with nibabel.load")
    return prepare_volume(img)


def _render_one(caster: Caster, pose: HeadPose, view: View, albedo: Albedo | None) -> Render:
    camera = make_camera(pose, view)
    size = view.size
    depth = cast_depth(caster, camera, size)
    hit = torch.isfinite(depth)
    idx = torch.nonzero(hit.reshape(-1)).squeeze(1)
    ys, xs = np.divmod(idx.numpy(), size)
    dirs, origin = camera.rays(xs.astype(np.float64), ys.astype(np.float64))
    rays = caster.make_rays(origin, dirs)
    t = depth.reshape(-1)[idx]
    normals = caster.normals(rays.points_g(torch.arange(len(idx)), t))
    light = torch.from_numpy(light_direction(camera, view).astype(np.float32))
    to_eye = -torch.from_numpy(dirs.astype(np.float32))
    diffuse, spec = phong(normals, to_eye, light, view.ambient, view.specular)
    if albedo is None:
        image = torch.zeros(size * size)
        image[idx] = (diffuse + spec).clamp(0.0, 1.0)
        image = image.reshape(size, size)
    else:
        world = origin[None] + t.numpy()[:, None].astype(np.float64) * dirs
        image = torch.zeros(size * size, 3)
        image[idx] = (albedo.at(world) * diffuse[:, None] + spec[:, None]).clamp(0.0, 1.0)
        image = image.reshape(size, size, 3)
    return Render(
        image=image.numpy().astype(np.float32),
        depth=depth.numpy().astype(np.float32),
        hit=hit.numpy(),
        camera=camera,
        pose=pose,
        view=view,
        threshold=caster.threshold + caster.prep.floor,
        landmarks5=landmarks5(camera, pose),
    )

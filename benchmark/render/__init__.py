"""Render a head volume's skin surface as a face image (iso-surface ray casting in torch).

``render_volume(nib.load(path))`` gives a frontal greyscale face of any NIfTI head scan:

1. :func:`prepare_volume` picks the head/air threshold (:func:`surface_threshold`), smooths and
   decimates voxels finer than the recogniser can use to a ~2 mm working grid in one pass (in the
   array's memory order, then RAS voxel order as ``nibabel.as_closest_canonical``'s), crops to the
   head, resamples thick slices by cubic B-splines and smooths lightly (the affine travels with
   the array);
2. :func:`estimate_pose` finds the head's frame from the anatomy, not the scanner axes
   (symmetry plane, reference-head match, nose), so ``View()`` is frontal;
3. rays are cast coarse to fine with empty-space skipping, the surface is refined to sub-voxel
   depth, shaded from the smoothed volume's gradient (a central-difference volume computed once
   per preparation; Lambert or Phong), optionally coloured by
   an albedo volume, and five face landmarks are projected from the head's geometry; the depth buffer
   maps image points back to the surface (:func:`surface_points`).

``render_views`` shares steps 1-2 across views; pass a :class:`PreparedVolume` to share them
across calls. Runs on the CPU; ``torch.set_num_threads`` is left to the caller.
"""


from benchmark.render.datatypes import Camera, HeadPose, Render, View
from benchmark.render.pose import estimate_pose_prepared
from benchmark.render.renderer import estimate_pose, render_views, render_volume
from benchmark.render.surface import surface_points
from benchmark.render.threshold import surface_threshold
from benchmark.render.volume import PreparedVolume, prepare_volume

__all__ = [
    "Camera",
    "HeadPose",
    "PreparedVolume",
    "Render",
    "View",
    "estimate_pose",
    "estimate_pose_prepared",
    "prepare_volume",
    "render_views",
    "render_volume",
    "surface_points",
    "surface_threshold",
]


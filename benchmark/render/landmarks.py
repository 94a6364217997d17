"""Five face landmarks from the head's geometry, for aligning a face the detector missed."""

from __future__ import annotations

import numpy as np

from benchmark.render.datatypes import Camera, HeadPose

# Landmarks relative to the nose tip in the head frame (left, up, forward), in units of half the
# head's breadth: right eye, left eye, nose tip, right and left mouth corner. Measured once as the
# SCRFD keypoints of frontal renders of pydeface's mean template (an average head), back-projected
# onto its surface, and made left-right symmetric.
OFFSETS = np.array(
    [
        [-0.425, 0.47, -0.38],
        [0.425, 0.47, -0.38],
        [0.0, 0.0, 0.0],
        [-0.30, -0.385, -0.32],
        [0.30, -0.385, -0.32],
    ]
)


def landmarks_3d(pose: HeadPose) -> np.ndarray | None:
    """(5, 3) world points: right eye, left eye, nose tip, right and left mouth corner (None without a nose)."""
    if pose.nose is None:
        return None
    half_width = pose.half_width if pose.half_width else 0.7 * pose.radius
    frame = np.stack([pose.left, pose.up, pose.forward])  # rows: world directions
    return pose.nose + half_width * OFFSETS @ frame


def landmarks5(camera: Camera, pose: HeadPose) -> np.ndarray | None:
    """The 3-D landmarks projected to pixels (insightface order: image-left eye first in a frontal view)."""
    pts = landmarks_3d(pose)
    return None if pts is None else camera.project(pts).astype(np.float32)

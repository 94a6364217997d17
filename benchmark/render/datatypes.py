"""Plain data of the renderer: view settings, head pose, pinhole camera, render result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class View:
    """Camera and light relative to the head's own frame (see :class:`HeadPose`).

    Angles in degrees. ``azimuth`` turns the camera about the head's up axis, 0 = frontal,
    positive towards the subject's left (showing the left cheek); ``elevation`` raises it (positive
    = from above). The light is set relative to the camera: ``light_azimuth`` positive = light from
    the image's right, ``light_elevation`` positive = from above. The camera distance is chosen so
    that the head (crown to chin, back of the head to the nose) fills the square image of ``size``
    pixels; in a 256-pixel frontal view the face spans about 100 pixels, which SCRFD-500m detects
    best at ``input_size=(320, 320)`` (or after padding the image to 512 for a 640 input).
    """

    azimuth: float = 0.0
    elevation: float = 0.0
    fov_deg: float = 20.0
    size: int = 256
    light_azimuth: float = 0.0
    light_elevation: float = 20.0
    ambient: float = 0.25
    specular: float = 0.2  # Phong; 0 = Lambert


@dataclass
class HeadPose:
    """Head frame estimated from the volume, in RAS mm (world) coordinates.

    ``center`` and ``radius`` frame the head from the crown to below the chin, back of the head to
    the nose tip, ear to ear; both are placed from the cranial vault alone (crown, skull depth and
    breadth), so the face, jaw and neck, cut or removed, do not move them. ``nose`` is the
    tip seen from the front (for a defaced head, where the reference head puts it; None when
    unknown). ``midplane`` is the head's plane of mirror symmetry when it was estimated from the
    volume (n, d with n . x = d in RAS mm; None when not estimated). ``confidence`` is the
    reference-head match score (about 0.7 to 1 for heads), half the nose's relative protrusion when only the face profile was usable, and 0 for the RAS fallback.
    """

    center: np.ndarray  # (3,) head centre
    forward: np.ndarray  # (3,) unit, out of the face
    up: np.ndarray  # (3,) unit, towards the crown
    radius: float  # head size, mm
    nose: np.ndarray | None = None  # (3,) nose tip
    half_width: float | None = None  # half the head's breadth (left-right), mm
    confidence: float = 1.0
    midplane: np.ndarray | None = None  # (4,) unit normal and offset (n . x = offset) of the symmetry plane

    @property
    def left(self) -> np.ndarray:
        """Unit vector towards the subject's left (right-handed frame: left = up x forward)."""
        return np.cross(self.up, self.forward)


@dataclass
class Camera:
    """Pinhole camera in world (RAS mm) coordinates; pixel centres at integer x, y (OpenCV)."""

    position: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3) rows: image right, image down, viewing direction (world)
    focal: float  # pixels
    width: int
    height: int

    @property
    def principal(self) -> tuple[float, float]:
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(N, 3) world -> (N, 3) camera coordinates (x right, y down, z along the view)."""
        return (np.asarray(points_world, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """(N, 3) RAS mm -> (N, 2) pixel x, y."""
        pc = self.to_camera(np.atleast_2d(points_world))
        cx, cy = self.principal
        z = np.where(np.abs(pc[:, 2]) < 1e-9, 1e-9, pc[:, 2])
        return np.stack([self.focal * pc[:, 0] / z + cx, self.focal * pc[:, 1] / z + cy], axis=1)

    def rays(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit world directions (N, 3) through pixel positions ``xs``, ``ys`` and the shared origin (3,)."""
        cx, cy = self.principal
        d = np.stack([(xs - cx) / self.focal, (ys - cy) / self.focal, np.ones_like(xs, dtype=np.float64)], -1)
        d = d @ self.rotation  # camera -> world (rotation is orthonormal)
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return d, self.position


@dataclass
class Render:
    """One rendered view with everything needed to map pixels back to the head."""

    image: np.ndarray  # (H, W) float32 in [0, 1], or (H, W, 3) with an albedo
    depth: np.ndarray  # (H, W) float32 distance along the ray, mm; inf where the ray missed
    hit: np.ndarray  # (H, W) bool
    camera: Camera
    pose: HeadPose
    view: View
    threshold: float
    landmarks5: np.ndarray | None  # (5, 2) right eye, left eye, nose, right and left mouth corner (pixels)

    def to_uint8_rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB image for face detectors (greyscale replicated to three channels)."""
        img = np.clip(self.image, 0.0, 1.0)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        return np.ascontiguousarray((img * 255.0 + 0.5).astype(np.uint8))

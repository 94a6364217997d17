"""Place a pinhole camera in the head's frame for a :class:`View`."""

from __future__ import annotations

import numpy as np

from benchmark.render.datatypes import Camera, HeadPose, View


def view_direction(pose: HeadPose, azimuth: float, elevation: float) -> np.ndarray:
    """Unit world vector from the head centre towards the camera."""
    az, el = np.deg2rad(azimuth), np.deg2rad(elevation)
    horizontal = np.cos(az) * pose.forward + np.sin(az) * pose.left
    return np.cos(el) * horizontal + np.sin(el) * pose.up


def make_camera(pose: HeadPose, view: View, *, margin: float = 1.05) -> Camera:
    """Camera looking at ``pose.center`` from the view's direction, far enough that a sphere of
    ``margin * pose.radius`` just fits the square image; image up follows the head's up axis."""
    half = np.deg2rad(view.fov_deg) / 2.0
    outward = view_direction(pose, view.azimuth, view.elevation)
    distance = margin * pose.radius / np.sin(half)
    position = np.asarray(pose.center, dtype=np.float64) + distance * outward
    z = -outward
    y = -(pose.up - np.dot(pose.up, z) * z)
    if np.linalg.norm(y) < 1e-6:  # looking straight down the up axis: use forward as image up
        y = -(pose.forward - np.dot(pose.forward, z) * z)
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    focal = (view.size / 2.0) / np.tan(half)
    return Camera(position=position, rotation=np.stack([x, y, z]), focal=float(focal), width=view.size, height=view.size)


def light_direction(camera: Camera, view: View) -> np.ndarray:
    """Unit world vector from the surface towards the light (set relative to the camera)."""
    az, el = np.deg2rad(view.light_azimuth), np.deg2rad(view.light_elevation)
    l_cam = np.array([np.cos(el) * np.sin(az), -np.sin(el), -np.cos(el) * np.cos(az)])
    return l_cam @ camera.rotation

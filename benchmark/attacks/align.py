"""Face geometry shared by the attacks: boxes from 5 keypoints, the centred-crop fallback, dlib rectangles,
and the alignments of a face crop (5 keypoints, or the study's three points: outer eye corners and chin).

Keypoints follow insightface's order: the two eyes (image left, image right), the nose tip, the two
mouth corners (image left, image right). The constants below are the mean relations between SCRFD's box,
its keypoints and dlib's HOG box on ordinary photographs (insightface's ``t1.jpg``); they only place a
loose box around a face whose keypoints are known, which the landmark models then refine.
"""

from __future__ import annotations

import numpy as np

#: The 112x112 ArcFace template (insightface ``face_align.arcface_dst``), in pixels.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)

#: The study's three alignment points in the same 112x112 frame: the outer eye corners (image left, image
#: right) and the chin. Measured: dlib's 68 landmarks 36, 45 and 8 of the 7 faces in insightface's sample
#: photographs (``t1.jpg``, ``Tom_Hanks_54745.png``) mapped by their 5-point alignment, averaged
#: (corners +-3.4 px, chin +-3.2 px) and made mirror-symmetric about the template's midline. The chin
#: falls below the crop, as ArcFace crops frame the face from the brows to the lower lip.
THREE_POINT_TEMPLATE = np.array([[33.2, 54.4], [78.8, 54.4], [56.0, 119.2]], dtype=np.float64)
THREE_POINT_INDICES68 = (36, 45, 8)  # dlib/iBUG 68-point indices of those points
ALIGNMENTS = ("five_point", "three_point")

# SCRFD box in units of the eye-to-mouth distance s: width, height, and the centre's shift up the face.
_BOX_W, _BOX_H, _BOX_UP = 2.2, 2.9, 0.2


def face_centre_and_scale(kps: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(centre between eyes and mouth, eye-to-mouth distance s, unit vector pointing up the face)."""
    kps = np.asarray(kps, np.float64)
    eyes, mouth = kps[:2].mean(0), kps[3:5].mean(0)
    up = eyes - mouth
    s = float(np.linalg.norm(up))
    if s < 1e-6:  # degenerate keypoints: fall back to the eye distance and image up
        s = max(float(np.linalg.norm(kps[1] - kps[0])), 1.0)
        up = np.array([0.0, -s])
    return (eyes + mouth) / 2, s, up / np.linalg.norm(up)


def box_from_landmarks5(kps: np.ndarray) -> np.ndarray:
    """An SCRFD-like box (x0, y0, x1, y1) around a face given its 5 keypoints."""
    centre, s, up = face_centre_and_scale(kps)
    c = centre + _BOX_UP * s * up
    half = np.array([_BOX_W, _BOX_H]) * s / 2
    return np.concatenate([c - half, c + half])


def centred_landmarks5(height: int, width: int) -> np.ndarray:
    """Keypoints of a face that fills the image's largest centred square, as in an aligned crop."""
    side = float(min(height, width))
    offset = np.array([(width - side) / 2, (height - side) / 2])
    return ARCFACE_TEMPLATE * (side / 112.0) + offset


def dlib_square(bbox: np.ndarray, kps: np.ndarray | None) -> tuple[int, int, int, int]:
    """A dlib-HOG-like square (left, top, right, bottom) for a face with SCRFD box and keypoints.

    dlib's predictors were trained on HOG detector boxes: squares centred between eyes and mouth whose
    side is close to the SCRFD box width (ratio 1.04 +- 0.12 measured on photographs). Without
    keypoints (a HOG box already) the square is centred on the box.
    """
    bbox = np.asarray(bbox, np.float64)
    centre = (bbox[:2] + bbox[2:4]) / 2 if kps is None else face_centre_and_scale(kps)[0]
    half = max(float(bbox[2] - bbox[0]), 4.0) / 2
    left, top = centre - half
    right, bottom = centre + half
    return int(round(left)), int(round(top)), int(round(right)), int(round(bottom))


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) that maps ``src`` points onto ``dst`` in
    least squares. Umeyama, "Least-squares estimation of transformation parameters between two point
    patterns", IEEE TPAMI 1991: with centred points, cov = D^T S / n = U S V^T, R = U diag(1, d) V^T
    (d = sign det(U V^T)), scale = tr(S diag(1, d)) / var(src), t = mean(dst) - scale R mean(src)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    u, sv, vt = np.linalg.svd(d0.T @ s0 / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / max((s0 ** 2).sum() / len(src), 1e-12))
    return np.hstack([scale * rot, (md - scale * rot @ ms)[:, None]])


def three_point_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    """The outer eye corners and the chin of 68 dlib/iBUG landmarks, in :data:`THREE_POINT_TEMPLATE` order."""
    return np.asarray(landmarks68, np.float64)[list(THREE_POINT_INDICES68)]


def warp_to_template(bgr: np.ndarray, points: np.ndarray, template: np.ndarray, size: int = 112) -> np.ndarray:
    """The ``size`` x ``size`` crop in which ``points`` land (least squares) on ``template`` (given for 112)."""
    import cv2

    matrix = similarity_matrix(points, np.asarray(template, np.float64) * (size / 112.0))
    return cv2.warpAffine(bgr, matrix, (size, size), borderValue=0.0)

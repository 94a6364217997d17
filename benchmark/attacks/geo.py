"""Landmark-geometry attack: scale-free distances, angles and ratios between facial landmarks.

The seed study's geometric attacker, a classical anthropometric baseline that needs no face texture:
landmarks from dlib's 68-point predictor (Kazemi & Sullivan, CVPR 2014) or insightface's 2d-106 model,
reduced to 22 named points common to both markups, then turned into features that do not depend on
image scale, position or roll (Farkas, "Anthropometry of the Head and Face", 1994):

- all pairwise distances between the named points, divided by the inter-ocular distance (eye centres);
- the interior angles of a fixed set of triangles (eyes, nose, mouth, jaw, chin);
- log ratios of classical facial proportions (face width/height, mouth/nose width, ...).

Features are standardised (z-scored) with statistics fitted on enrollment data by :meth:`GeoAttack.fit`
(scikit-learn style; identity scaling until fitted) and compared by cosine similarity. Cached vectors
hold the raw features, so refitting never invalidates the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from benchmark.core.errors import BenchmarkError
import benchmark.attacks.models as models
from benchmark.attacks.base import Attack, Embedding, cosine
from benchmark.attacks.dlib_resnet import DlibPredictorMixin, landmarks_of
from benchmark.attacks.models import DetectedFace, Landmarker106, ModelFile

#: Named points: index in dlib's 68-point markup, index in insightface's 2d-106 markup.
#: "l" and "r" are image left and right. The 2d-106 indices follow insightface's markup
#: (alignment/coordinate_reg, "2d106markup.jpg"), checked against the model's median output on
#: insightface's sample faces expressed in the eye frame.
NAMED_POINTS: dict[str, tuple[int, int]] = {
    "eye_l_out": (36, 35), "eye_l_in": (39, 39), "eye_r_in": (42, 89), "eye_r_out": (45, 93),
    "brow_l_out": (17, 43), "brow_l_in": (21, 46), "brow_r_in": (22, 97), "brow_r_out": (26, 101),
    "nose_top": (27, 72), "nose_tip": (30, 86), "alar_l": (31, 77), "alar_r": (35, 83), "subnasale": (33, 80),
    "mouth_l": (48, 52), "mouth_r": (54, 61), "lip_top": (51, 71), "lip_bottom": (57, 53),
    "chin": (8, 0), "jaw_l": (4, 16), "jaw_r": (12, 32), "cheek_l": (1, 10), "cheek_r": (15, 26),
}
#: Points averaged into each eye centre, per markup.
EYES: dict[str, tuple[Sequence[int], Sequence[int]]] = {
    "dlib68": (range(36, 42), range(42, 48)),
    "insightface106": (range(33, 43), range(87, 97)),
}
_COLUMN = {"dlib68": 0, "insightface106": 1}
#: Each named point's mirror image (the "l" and "r" tokens of its name swapped).
MIRROR = {n: "_".join({"l": "r", "r": "l"}.get(t, t) for t in n.split("_")) for n in NAMED_POINTS}

TRIANGLES = [
    ("eye_l_out", "eye_r_out", "chin"), ("eye_l_out", "eye_r_out", "nose_tip"),
    ("eye_l_in", "eye_r_in", "nose_tip"), ("eye_l_in", "eye_r_in", "subnasale"),
    ("mouth_l", "mouth_r", "nose_tip"), ("mouth_l", "mouth_r", "chin"), ("alar_l", "alar_r", "nose_top"),
    ("jaw_l", "jaw_r", "chin"), ("cheek_l", "cheek_r", "chin"), ("brow_l_out", "brow_r_out", "nose_tip"),
    ("eye_l_out", "mouth_l", "chin"), ("eye_r_out", "mouth_r", "chin"), ("cheek_l", "jaw_l", "mouth_l"),
    ("cheek_r", "jaw_r", "mouth_r"),
]
#: (numerator segment, denominator segment), each a pair of named points.
RATIOS = [
    (("cheek_l", "cheek_r"), ("nose_top", "chin")),  # facial index
    (("jaw_l", "jaw_r"), ("cheek_l", "cheek_r")),  # jaw to face width
    (("mouth_l", "mouth_r"), ("alar_l", "alar_r")),  # mouth to nose width
    (("nose_top", "subnasale"), ("subnasale", "chin")),  # nose to lower face height
    (("lip_top", "lip_bottom"), ("mouth_l", "mouth_r")),  # lip height to mouth width
    (("eye_l_in", "eye_r_in"), ("eye_l_out", "eye_r_out")),  # inner to outer canthal width
    (("brow_l_out", "brow_r_out"), ("cheek_l", "cheek_r")),  # brow span to face width
    (("subnasale", "lip_top"), ("lip_bottom", "chin")),  # upper lip to chin height
]


def _features(p: dict[str, np.ndarray]) -> np.ndarray:
    names = list(NAMED_POINTS)
    q = np.stack([p[n] for n in names])
    i, j = np.triu_indices(len(names), 1)
    distances = np.linalg.norm(q[i] - q[j], axis=1)
    angles = []
    for x, y, z in TRIANGLES:
        for a, b, c in ((x, y, z), (y, z, x), (z, x, y)):  # the angle at each vertex
            u, v = p[b] - p[a], p[c] - p[a]
            angles.append(np.arctan2(abs(u[0] * v[1] - u[1] * v[0]), float(u @ v)))
    seg = lambda s: max(float(np.linalg.norm(p[s[0]] - p[s[1]])), 1e-6)  # noqa: E731
    ratios = [np.log(seg(num) / seg(den)) for num, den in RATIOS]
    return np.concatenate([distances, np.array(angles), np.array(ratios)])


def geometric_features(points: np.ndarray, markup: str, symmetric: bool = True) -> np.ndarray:
    """Scale-, translation- and roll-free features of one face's landmarks ((N, 2) pixels).

    ``symmetric`` averages the features with those of the mirrored labelling (left and right points
    swapped), so that a mirrored photograph (a selfie) gives the same features.
    """
    if markup not in _COLUMN:
        raise BenchmarkError(f"geo: landmarks must be one of {sorted(_COLUMN)}, got {markup!r}")
    points = np.asarray(points, np.float64)
    col = _COLUMN[markup]
    left, right = (points[list(idx)].mean(0) for idx in EYES[markup])
    iod = max(float(np.linalg.norm(right - left)), 1e-6)
    p = {n: points[idx[col]] / iod for n, idx in NAMED_POINTS.items()}
    f = _features(p)
    if symmetric:
        f = (f + _features({n: p[MIRROR[n]] for n in p})) / 2
    return f


@dataclass
class GeoAttack(Attack, DlibPredictorMixin):
    """Options: landmarks ('insightface106' | 'dlib68'), landmarker (+ sha256, the 2d-106 model),
    shape_predictor (+ sha256, dlib's 68-point model), symmetric (mirror-invariant features). The SCRFD detection (or fallback) gives the box.

    ``insightface106`` is the default: it was trained on SCRFD-style loose boxes, which is what every
    attack here detects, while dlib's predictor expects HOG boxes (converted, see ``align.dlib_square``).
    """

    name: str = "geo"
    landmarks: str = "insightface106"
    landmarker: str = "2d106det.onnx"
    landmarker_sha256: Optional[str] = None
    symmetric: bool = True
    mean_: Optional[np.ndarray] = field(default=None, init=False, repr=False, metadata={"hash": False})
    scale_: Optional[np.ndarray] = field(default=None, init=False, repr=False, metadata={"hash": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.landmarks not in _COLUMN:
            raise BenchmarkError(f"attack '{self.name}': landmarks must be one of {sorted(_COLUMN)}, "
                                 f"got {self.landmarks!r}")

    def model_files(self) -> dict[str, ModelFile]:
        files = super().model_files()
        if self.landmarks == "dlib68":
            files["shape_predictor"] = models.resolve_model(self.shape_predictor, self.shape_predictor_sha256)
        else:
            files["landmarker"] = models.resolve_model(self.landmarker, self.landmarker_sha256)
        return files

    def prepare(self) -> "GeoAttack":
        super().prepare()
        self._predictor() if self.landmarks == "dlib68" else self._landmarker()
        return self

    def _landmarker(self) -> Landmarker106:
        return models.get_model(Landmarker106, self.model_files()["landmarker"])

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace):
        if self.landmarks == "dlib68":
            points = landmarks_of(self.dlib_shape(rgb, face))
        else:
            points = self._landmarker().get(bgr, face.bbox)
        return geometric_features(points, self.landmarks, self.symmetric), points, {}

    # --- standardisation (scikit-learn style) --------------------------------------------------

    def fit(self, embeddings: Sequence[Embedding] | np.ndarray) -> "GeoAttack":
        """Fit the z-scoring on enrollment embeddings (their templates, or rows of an array)."""
        x = np.stack([e.vector for e in embeddings]) if not isinstance(embeddings, np.ndarray) else embeddings
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise BenchmarkError(f"attack '{self.name}': fit needs at least 2 embeddings, got {len(x)}")
        self.mean_ = x.mean(0)
        std = x.std(0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardised features (identity until :meth:`fit`)."""
        x = np.asarray(x, np.float64)
        if self.mean_ is None:
            return x
        return (x - self.mean_) / self.scale_

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        return cosine(self.transform(u), self.transform(v))

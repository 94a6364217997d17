"""Landmark-geometry attack: scale-free distances, angles and ratios between facial landmarks.

The seed study's geometric attacker, a classical anthropometric baseline that needs no face texture:
landmarks from dlib's 68-point predictor (Kazemi & Sullivan, CVPR 2014) or insightface's 2d-106 model,
reduced to 22 named points common to both markups, then turned into features that do not depend on
image scale, position or roll (Farkas, "Anthropometry of the Head and Face", 1994):

- all pairwise distances between the named points, divided by the inter-ocular distance (eye centres);
- the interior angles of a fixed set of triangles (eyes, nose, mouth, jaw, chin);
- log ratios of classical facial proportions (face width/height, mouth/nose width, ...).

With ``space='3d'`` the same features are measured on the head itself, so they no longer depend on
the pose either (the angles are then those of triangles in space): on a rendered view, each 2-D
landmark is taken back along its pixel's ray to the skin surface through the renderer's depth buffer
(:func:`benchmark.render.surface_points`, RAS mm); on a photograph, MediaPipe's 3-D face mesh
(FaceLandmarker, 478 points; Kartynnik et al., 2019) gives the named points (:data:`MESH_POINTS`).

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
import benchmark.render as render
from benchmark.attacks.base import Attack, Embedding, Frame, cosine
from benchmark.attacks.dlib_resnet import DlibPredictorMixin, landmarks_of
from benchmark.attacks.models import DetectedFace, FaceMesh478, Landmarker106, ModelFile

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
#: Index of each named point in MediaPipe's 478-point mesh: the mesh vertex nearest the 2d-106 point in
#: frontal synthetic photographs (the most frequent over a cohort), so that a photograph's mesh and a
#: render's 2d-106 points name the same places; mostly the mesh's own canonical points (eye corners 33,
#: 133, 362, 263; nasion 168; mouth corners 61, 291; menton 152; face sides 234, 454).
MESH_POINTS: dict[str, int] = {
    "eye_l_out": 33, "eye_l_in": 133, "eye_r_in": 362, "eye_r_out": 263,
    "brow_l_out": 46, "brow_l_in": 55, "brow_r_in": 285, "brow_r_out": 276,
    "nose_top": 168, "nose_tip": 4, "alar_l": 64, "alar_r": 294, "subnasale": 2,
    "mouth_l": 61, "mouth_r": 291, "lip_top": 11, "lip_bottom": 17,
    "chin": 152, "jaw_l": 138, "jaw_r": 367, "cheek_l": 234, "cheek_r": 454,
}
#: Points averaged into each eye centre, per markup (image-left eye first).
EYES: dict[str, tuple[Sequence[int], Sequence[int]]] = {
    "dlib68": (range(36, 42), range(42, 48)),
    "insightface106": (range(33, 43), range(87, 97)),
    "mediapipe478": ((33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
                     (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)),
}
#: The 2-D markups a render or photograph is landmarked in (``GeoAttack.landmarks``).
MARKUPS = ("dlib68", "insightface106")
#: Named point -> landmark index, per markup (the 2-D markups and MediaPipe's mesh).
POINT_INDEX = {markup: {n: idx[col] for n, idx in NAMED_POINTS.items()} for col, markup in enumerate(MARKUPS)}
POINT_INDEX["mediapipe478"] = MESH_POINTS
SPACES = ("2d", "3d")
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
            angles.append(np.arctan2(_cross_norm(u, v), float(u @ v)))
    seg = lambda s: max(float(np.linalg.norm(p[s[0]] - p[s[1]])), 1e-6)  # noqa: E731
    ratios = [np.log(seg(num) / seg(den)) for num, den in RATIOS]
    return np.concatenate([distances, np.array(angles), np.array(ratios)])


def _cross_norm(u: np.ndarray, v: np.ndarray) -> float:
    """|u x v|: twice the area of the triangle the two edges span (plane or space)."""
    if len(u) == 2:
        return abs(u[0] * v[1] - u[1] * v[0])
    return float(np.linalg.norm(np.cross(u, v)))


def geometric_features(points: np.ndarray, markup: str, symmetric: bool = True) -> np.ndarray:
    """Scale-, translation- and rotation-free features of one face's landmarks: (N, 2) pixels (free of
    roll only) or (N, 3) points (free of any rotation); ``markup`` 'insightface106', 'dlib68' or
    'mediapipe478'. Distances are divided by the inter-ocular distance (between the eye centres).

    ``symmetric`` averages the features with those of the mirrored labelling (left and right points
    swapped), so that a mirrored photograph (a selfie) gives the same features.
    """
    if markup not in POINT_INDEX:
        raise BenchmarkError(f"geo: landmarks must be one of {sorted(POINT_INDEX)}, got {markup!r}")
    points = np.asarray(points, np.float64)
    left, right = (points[list(idx)].mean(0) for idx in EYES[markup])
    iod = max(float(np.linalg.norm(right - left)), 1e-6)
    p = {n: points[i] / iod for n, i in POINT_INDEX[markup].items()}
    f = _features(p)
    if symmetric:
        f = (f + _features({n: p[MIRROR[n]] for n in p})) / 2
    return f


@dataclass
class GeoAttack(Attack, DlibPredictorMixin):
    """Options: landmarks ('insightface106' | 'dlib68'), landmarker (+ sha256, the 2d-106 model),
    shape_predictor (+ sha256, dlib's 68-point model), symmetric (mirror-invariant features), space
    ('2d': image landmarks; '3d': landmarks on the head, see the module's docstring), face_landmarker
    (+ sha256, MediaPipe's FaceLandmarker, photographs in 3d). The SCRFD detection (or fallback) gives the box.

    ``insightface106`` is the default: it was trained on SCRFD-style loose boxes, which is what every
    attack here detects, while dlib's predictor expects HOG boxes (converted, see ``align.dlib_square``).
    """

    name: str = "geo"
    landmarks: str = "insightface106"
    landmarker: str = "2d106det.onnx"
    landmarker_sha256: Optional[str] = None
    symmetric: bool = True
    space: str = "2d"
    face_landmarker: str = "face_landmarker.task"
    face_landmarker_sha256: Optional[str] = None
    mean_: Optional[np.ndarray] = field(default=None, init=False, repr=False, metadata={"hash": False})
    scale_: Optional[np.ndarray] = field(default=None, init=False, repr=False, metadata={"hash": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.landmarks not in MARKUPS:
            raise BenchmarkError(f"attack '{self.name}': landmarks must be one of {sorted(MARKUPS)}, "
                                 f"got {self.landmarks!r}")
        if self.space not in SPACES:
            raise BenchmarkError(f"attack '{self.name}': space must be one of {list(SPACES)}, got {self.space!r}")

    @property
    def keeps_depth(self) -> bool:
        return self.space == "3d"

    def model_files(self) -> dict[str, ModelFile]:
        files = super().model_files()
        if self.landmarks == "dlib68":
            files["shape_predictor"] = models.resolve_model(self.shape_predictor, self.shape_predictor_sha256)
        else:
            files["landmarker"] = models.resolve_model(self.landmarker, self.landmarker_sha256)
        if self.space == "3d":
            files["face_landmarker"] = models.resolve_model(self.face_landmarker, self.face_landmarker_sha256)
        return files

    def prepare(self) -> "GeoAttack":
        super().prepare()
        self._predictor() if self.landmarks == "dlib68" else self._landmarker()
        if self.space == "3d":
            self._mesh()
        return self

    def _landmarker(self) -> Landmarker106:
        return models.get_model(Landmarker106, self.model_files()["landmarker"])

    def _mesh(self) -> FaceMesh478:
        return models.get_model(FaceMesh478, self.model_files()["face_landmarker"])

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace):
        if self.landmarks == "dlib68":
            points = landmarks_of(self.dlib_shape(rgb, face))
        else:
            points = self._landmarker().get(bgr, face.bbox)
        return geometric_features(points, self.landmarks, self.symmetric), points, {}

    # --- 3-D landmarks ------------------------------------------------------------------------

    def embed_frame(self, frame: Frame) -> Embedding:
        """In 3d, the view's 2-D landmarks taken back to the head's surface (RAS mm) through its depth
        buffer; ``info['off_surface']`` counts those outside the silhouette, read at the nearest hit pixel."""
        e = super().embed_frame(frame)
        if self.space == "2d":
            return e
        points, moved = render.surface_points(frame.camera, frame.depth, e.landmarks)
        info = {**e.info, "landmarks_3d": points, "off_surface": int(moved.sum())}
        return Embedding(vector=geometric_features(points, self.landmarks, self.symmetric), detected=e.detected,
                         landmarks=e.landmarks, info=info)

    def embed_photo_image(self, rgb: np.ndarray) -> Embedding:
        """In 3d, the features of MediaPipe's 3-D mesh of the photograph (``detected``: SCRFD's, as in 2d)."""
        e = super().embed_photo_image(rgb)
        if self.space == "2d":
            return e
        mesh = self._mesh().get(rgb)
        if mesh is None:
            raise BenchmarkError(f"attack '{self.name}': MediaPipe's face landmarker found no face in the photograph")
        return Embedding(vector=geometric_features(mesh, "mediapipe478", self.symmetric), detected=e.detected,
                         landmarks=mesh[:, :2], info={**e.info, "landmarks_3d": mesh})

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

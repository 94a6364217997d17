"""dlib attack: face box, 68-point shape predictor, ResNet 128-D descriptor.

King, "Dlib-ml: A Machine Learning Toolkit", JMLR 2009 (library, HOG detector, ResNet descriptor of
dlib 19.3); Kazemi & Sullivan, "One Millisecond Face Alignment with an Ensemble of Regression Trees",
CVPR 2014 (shape predictor). Files from ``face-recognition-models``.

Face box: by default the SCRFD detection (shared with the other attacks, far more robust on renders
than HOG) converted to a dlib-HOG-like square (:func:`~benchmark.attacks.align.dlib_square`), so the
detection rate is the same as ArcFace's; ``hog=True`` uses dlib's own HOG frontal detector instead.
The descriptor is computed on dlib's 150x150 chip aligned on the 68 landmarks.
Similarity: ``metric='euclidean'`` gives minus the Euclidean distance (dlib's own convention, same person
below 0.6); ``metric='cosine'`` the cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

import benchmark.attacks.models as models
from benchmark.attacks.align import dlib_square
from benchmark.attacks.base import Attack, cosine, l2_normalise
from benchmark.core.errors import BenchmarkError
from benchmark.attacks.models import (
    DetectedFace,
    DlibFaceRecognizer,
    DlibFrontalDetector,
    DlibShapePredictor,
    ModelFile,
)


def landmarks_of(shape) -> np.ndarray:
    """(N, 2) array of a ``dlib.full_object_detection``'s parts."""
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


@dataclass
class DlibPredictorMixin:
    """The 68-point predictor and its face square, shared by the dlib and geo attacks."""

    shape_predictor: str = "shape_predictor_68_face_landmarks.dat"
    shape_predictor_sha256: Optional[str] = None

    def _predictor(self) -> DlibShapePredictor:
        return models.get_model(DlibShapePredictor, models.resolve_model(self.shape_predictor,
                                                                         self.shape_predictor_sha256))

    def dlib_shape(self, rgb: np.ndarray, face: DetectedFace):
        import dlib

        return self._predictor().get(rgb, dlib.rectangle(*dlib_square(face.bbox, face.kps)))


@dataclass
class DlibAttack(Attack, DlibPredictorMixin):
    """Options: shape_predictor, descriptor (+ ``*_sha256``), metric ('euclidean' | 'cosine'),
    jitter (dlib's random re-crops averaged, 0 = off), padding (chip padding), hog, hog_upsample."""

    name: str = "dlib"
    descriptor: str = "dlib_face_recognition_resnet_model_v1.dat"
    descriptor_sha256: Optional[str] = None
    metric: str = "euclidean"
    jitter: int = 0
    padding: float = 0.25
    hog: bool = False
    hog_upsample: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.metric not in ("euclidean", "cosine"):
            raise BenchmarkError(f"attack '{self.name}': metric must be 'euclidean' or 'cosine', got {self.metric!r}")

    def model_files(self) -> dict[str, ModelFile]:
        files = {"shape_predictor": models.resolve_model(self.shape_predictor, self.shape_predictor_sha256),
                 "descriptor": models.resolve_model(self.descriptor, self.descriptor_sha256)}
        return files if self.hog else {**super().model_files(), **files}

    def prepare(self) -> "DlibAttack":
        if not self.hog:
            super().prepare()
        self._predictor()
        self._descriptor()
        return self

    def _descriptor(self) -> DlibFaceRecognizer:
        return models.get_model(DlibFaceRecognizer, self.model_files()["descriptor"])

    def detect(self, rgb: np.ndarray, bgr: np.ndarray) -> Optional[DetectedFace]:
        if not self.hog:
            return super().detect(rgb, bgr)
        found = models.get_model(DlibFrontalDetector).prepare(upsample=self.hog_upsample).get(rgb)
        if not found:
            return None
        r, score = found[0]
        return DetectedFace(bbox=np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64),
                            kps=None, score=float(score))

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace):
        shape = self.dlib_shape(rgb, face)
        vector = self._descriptor().get(rgb, shape, jitter=self.jitter, padding=self.padding)
        return vector, landmarks_of(shape), {}

    def combine(self, vectors: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return l2_normalise(np.mean(l2_normalise(vectors), axis=0))
        return np.mean(np.asarray(vectors, np.float64), axis=0)

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        if self.metric == "cosine":
            return cosine(u, v)
        return -float(np.linalg.norm(np.asarray(u) - np.asarray(v)))

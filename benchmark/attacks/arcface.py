"""ArcFace attack: SCRFD detection, 5-point similarity alignment to 112x112, ArcFace embedding, cosine.

``align=three_point`` aligns instead on the study's three points, the outer eye corners and the chin
(:data:`benchmark.attacks.align.THREE_POINT_TEMPLATE`); SCRFD gives no chin, so they come from dlib's
68-point predictor run in the detected box.

Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
Default model: insightface buffalo_s ``w600k_mbf.onnx`` (MobileFaceNet trained on WebFace600K); any
other insightface ONNX recogniser (e.g. buffalo_l ``w600k_r50.onnx``) loads by path in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

import benchmark.attacks.models as models
from benchmark.attacks.align import ALIGNMENTS, THREE_POINT_TEMPLATE, three_point_landmarks, warp_to_template
from benchmark.attacks.base import Attack, cosine, l2_normalise
from benchmark.attacks.dlib_resnet import DlibPredictorMixin, landmarks_of
from benchmark.attacks.models import ArcFaceRecognizer, DetectedFace, ModelFile
from benchmark.core.errors import BenchmarkError


@dataclass
class ArcFaceAttack(Attack, DlibPredictorMixin):
    """Vectors are L2-normalised; templates are the renormalised mean of normalised vectors.

    recognizer, recognizer_sha256: the ArcFace ONNX model (bare pinned name or path);
    flip: embed the aligned crop and its mirror image and add them (the flip test of Deng et al. 2019);
    align: 'five_point' (SCRFD's keypoints) or 'three_point' (eye corners and chin, from
    shape_predictor, dlib's 68-point model).
    """

    name: str = "arcface"
    recognizer: str = "w600k_mbf.onnx"
    recognizer_sha256: Optional[str] = None
    flip: bool = True
    align: str = "five_point"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.align not in ALIGNMENTS:
            raise BenchmarkError(f"attack '{self.name}': align must be one of {list(ALIGNMENTS)}, got {self.align!r}")

    def model_files(self) -> dict[str, ModelFile]:
        files = {**super().model_files(), "recognizer": models.resolve_model(self.recognizer, self.recognizer_sha256)}
        if self.align == "three_point":
            files["shape_predictor"] = models.resolve_model(self.shape_predictor, self.shape_predictor_sha256)
        return files

    def prepare(self) -> "ArcFaceAttack":
        super().prepare()
        self._recognizer()
        if self.align == "three_point":
            self._predictor()
        return self

    def _recognizer(self) -> ArcFaceRecognizer:
        return models.get_model(ArcFaceRecognizer, self.model_files()["recognizer"])

    def aligned_crop(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The recogniser's aligned BGR crop of ``face``, on its 5 keypoints or on the three points."""
        if self.align == "five_point":
            return self._recognizer().align(bgr, face.kps)
        points = three_point_landmarks(landmarks_of(self.dlib_shape(rgb, face)))
        return warp_to_template(bgr, points, THREE_POINT_TEMPLATE, self._recognizer().model.input_size[0])

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace):
        vector = self._recognizer().embed_crop(self.aligned_crop(rgb, bgr, face), flip=self.flip)
        return l2_normalise(vector), face.kps, {}

    def combine(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalise(np.mean(l2_normalise(vectors), axis=0))

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        return cosine(u, v)

"""ArcFace attack: SCRFD detection, 5-point similarity alignment to 112x112, ArcFace embedding, cosine.

Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
Default model: insightface buffalo_s ``w600k_mbf.onnx`` (MobileFaceNet trained on WebFace600K); any
other insightface ONNX recogniser (e.g. buffalo_l ``w600k_r50.onnx``) loads by path in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

import benchmark.attacks.models as models
from benchmark.attacks.base import Attack, cosine, l2_normalise
from benchmark.attacks.models import ArcFaceRecognizer, DetectedFace, ModelFile


@dataclass
class ArcFaceAttack(Attack):
    """Vectors are L2-normalised; templates are the renormalised mean of normalised vectors.

    recognizer, recognizer_sha256: the ArcFace ONNX model (bare pinned name or path);
    flip: embed the aligned crop and its mirror image and add them (the flip test of Deng et al. 2019).
    """

    name: str = "arcface"
    recognizer: str = "w600k_mbf.onnx"
    recognizer_sha256: Optional[str] = None
    flip: bool = True

    def model_files(self) -> dict[str, ModelFile]:
        return {**super().model_files(),
                "recognizer": models.resolve_model(self.recognizer, self.recognizer_sha256)}

    def prepare(self) -> "ArcFaceAttack":
        super().prepare()
        self._recognizer()
        return self

    def _recognizer(self) -> ArcFaceRecognizer:
        return models.get_model(ArcFaceRecognizer, self.model_files()["recognizer"])

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace):
        vector, _ = self._recognizer().get(bgr, face.kps, flip=self.flip)
        return l2_normalise(vector), face.kps, {}

    def combine(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalise(np.mean(l2_normalise(vectors), axis=0))

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        return cosine(u, v)

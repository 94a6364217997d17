"""The attack pipeline shared by every recogniser: detect, align, embed, aggregate views, compare, cache.

An attack turns an image, a photograph, a set of photographs or an MRI volume into an
:class:`Embedding`, and two embeddings into a similarity score (higher: more likely the same person).
A trial is never dropped: when the detector finds no face, the face is aligned from the render's own
geometry (the 5 keypoints the renderer projects from the head) or, without those, from a centred crop,
and embedded anyway with ``detected=False``. "No face found" is the detector's failure, not privacy;
the detection rate is reported separately.

Subclasses declare their options as dataclass fields (they are the Hydra config, ``conf/attack/*.yaml``)
and implement :meth:`Attack.embed_face`, and optionally :meth:`Attack.combine` and :meth:`Attack.compare`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from benchmark.core.cache import DiskCache
from benchmark.core.errors import BenchmarkError
from benchmark.core.memo import Recent
from benchmark.core.files import config_hash, sha256_file
import benchmark.core.provenance as provenance
import benchmark.attacks.models as models
from benchmark.attacks.align import box_from_landmarks5, centred_landmarks5, dlib_square
from benchmark.attacks.hair import HairResult, remove_hair
from benchmark.attacks.models import DetectedFace, DlibShapePredictor, ModelFile, SCRFDDetector
from benchmark.attacks.reconstruct import FaceFill
from benchmark.anatomy.template import clear_memo
from benchmark.data.volume import clear_voxel_memo, load_volume
from benchmark.render.volume import clear_prepared_memo
import benchmark.render as render

#: Renders of recently embedded volume files, in memory only (biometric data never goes to disk):
#: the attacks of one scoring run render each volume once. Least recently used first.
_RENDERS: Recent = Recent(256)


#: In :data:`_RENDERS` for a ``fill`` attack's volume that the fill left as it was: no renders of its own.
_UNFILLED = "unfilled"


def clear_render_memo() -> None:
    """Forget the renders shared in memory between attacks (the next embedding renders from the file)."""
    _RENDERS.clear()


def clear_process_memos() -> None:
    """Forget everything this process keeps of the volumes it saw: the renders, the decompressed voxels, the
    prepared volumes with their head poses, the template fits (the disk caches stay). A benchmark timing an
    attack from the file calls it before each call; nothing else needs it (the memos are keyed by content)."""
    clear_render_memo()
    clear_voxel_memo()
    clear_prepared_memo()
    clear_memo()

#: The 68-point predictor that places hair removal's regions (face-recognition-models, pinned).
HAIR_LANDMARKS = "shape_predictor_68_face_landmarks.dat"

#: Bumped when the embedding code changes in a way that invalidates cached vectors.
EMBEDDING_VERSION = 2

#: View keys accepted as aliases of the renderer's: yaw is the azimuth, pitch the elevation (degrees).
_VIEW_ALIASES = {"yaw": "azimuth", "pitch": "elevation"}

#: Field metadata for runtime options that do not change an embedding (left out of the config hash).
RUNTIME = {"hash": False}


@dataclass(repr=False)
class Embedding:
    """What an attack extracts from one sample.

    ``vector`` is the sample's template; ``views`` holds one vector per rendered view (or per photo of
    a template), used by ``aggregate='max'``. ``render`` is the frontal render of a volume, kept in
    memory only: renders of real people are biometric data and are never written anywhere.
    """

    vector: np.ndarray
    detected: bool
    views: Optional[np.ndarray] = None  # (V, D)
    view_detected: Optional[np.ndarray] = None  # (V,) bool
    render: Optional[np.ndarray] = None  # (H, W, 3) uint8
    landmarks: Optional[np.ndarray] = None  # (N, 2) pixels in the (frontal) image the vector came from
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vector = np.asarray(self.vector, np.float64)
        if self.views is None:
            self.views = self.vector[None, :]
        if self.view_detected is None:
            self.view_detected = np.full(len(self.views), bool(self.detected))
        self.detected = bool(self.detected)

    @property
    def detection_rate(self) -> float:
        """Fraction of views (or photos) in which the detector found a face."""
        return float(np.mean(self.view_detected)) if len(self.view_detected) else 0.0

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"vector": self.vector, "views": np.asarray(self.views, np.float64),
                "detected": np.asarray(self.detected), "view_detected": np.asarray(self.view_detected, bool)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Embedding":
        return cls(vector=arrays["vector"], detected=bool(arrays["detected"]), views=arrays["views"],
                   view_detected=arrays["view_detected"].astype(bool), info={"cached": True})

    def __repr__(self) -> str:
        return (f"Embedding(dim={self.vector.shape[-1]}, detected={self.detected}, views={len(self.views)}, "
                f"render={'yes' if self.render is not None else 'no'})")


@dataclass(repr=False)
class Frame:
    """One rendered view as the attacks see it: RGB uint8 image, the 5 landmarks the renderer projects
    from the head's geometry, and (for attacks that measure the surface, :attr:`Attack.keeps_depth`)
    the depth buffer and camera that map pixels back to the head (:func:`benchmark.render.surface_points`)."""

    image: np.ndarray  # (H, W, 3) uint8
    landmarks5: Optional[np.ndarray]  # (5, 2) pixels, or None
    depth: Optional[np.ndarray] = None  # (H, W) mm along each pixel's ray, inf where it missed
    camera: Optional[render.Camera] = None


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def l2_normalise(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.dot(l2_normalise(u), l2_normalise(v)))


def as_rgb_uint8(image: np.ndarray, where: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a greyscale, RGB or RGBA uint8 array."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise BenchmarkError(f"{where}: expected uint8 pixels, got {image.dtype} (scale to 0..255 first)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise BenchmarkError(f"{where}: expected an (H, W, 3) image, got shape {image.shape}")
    return np.ascontiguousarray(image)


@dataclass
class Attack:
    """Base attack: SCRFD detection with a never-drop fallback, multi-view volumes, photo templates.

    Options (all in the Hydra config):
      detector, detector_sha256: the SCRFD model (bare pinned name or path; sha256 for unpinned files);
      det_size, det_thresh: detector input size (square pixels; 0 = auto, see models.SCRFDDetector)
        and score threshold;
      guided_thresh, guided_iou: when nothing scores det_thresh but the renderer says where the face is,
        align on the best face scoring guided_thresh that overlaps that place (null: off);
      views: renderer views, each a dict of ``benchmark.render.View`` arguments (``yaw``/``pitch`` are
        accepted for ``azimuth``/``elevation``); ``{}`` is the frontal view;
      aggregate: 'mean' (one mean template per volume) or 'max' (best score over pairs of views);
      fill: reconstruct a removed face from the template head before rendering (lazy-informed attacker);
      albedo: RGB skin colour in [0, 1] the renders are shaded with (null: grey renders);
      photo_grey: desaturate photographs before embedding (ITU-R BT.601 luma in all three channels);
      photo_hair: 'keep' or 'remove' (beard, moustache and scalp hair replaced by skin in photographs
        before they are embedded, :mod:`benchmark.attacks.hair`, on dlib's 68 landmarks);
      cache_root, use_cache: the embedding cache (runtime options, not part of the config hash).
    """

    name: str = "attack"
    detector: str = "scrfd_500m_bnkps.onnx"
    detector_sha256: Optional[str] = None
    det_size: int = 0
    det_thresh: float = 0.5
    guided_thresh: Optional[float] = 0.25
    guided_iou: float = 0.4
    views: list = field(default_factory=lambda: [{}])
    aggregate: str = "mean"
    fill: bool = False
    albedo: Optional[list[float]] = None
    photo_grey: bool = False
    photo_hair: str = "keep"
    cache_root: str = field(default=os.path.join(".cache", "embeddings"), metadata=RUNTIME)
    use_cache: bool = field(default=True, metadata=RUNTIME)

    def __post_init__(self) -> None:
        if self.aggregate not in ("mean", "max"):
            raise BenchmarkError(f"attack '{self.name}': aggregate must be 'mean' or 'max', got {self.aggregate!r}")
        if self.photo_hair not in ("keep", "remove"):
            raise BenchmarkError(f"attack '{self.name}': photo_hair must be 'keep' or 'remove', got {self.photo_hair!r}")
        if not self.views:
            raise BenchmarkError(f"attack '{self.name}': views is empty; use [{{}}] for one frontal view")
        self.views = [_plain(v) for v in _plain(self.views)]
        if self.albedo is not None:
            self.albedo = [float(c) for c in _plain(self.albedo)]
            if len(self.albedo) != 3 or not all(0.0 <= c <= 1.0 for c in self.albedo):
                raise BenchmarkError(f"attack '{self.name}': albedo must be an RGB colour [r, g, b] in [0, 1], "
                                     f"got {self.albedo}")
        self.cache = DiskCache(self.cache_root, enabled=self.use_cache)

    # --- models --------------------------------------------------------------------------------

    def model_files(self) -> dict[str, ModelFile]:
        """The model files this configuration uses, by role."""
        files = {"detector": models.resolve_model(self.detector, self.detector_sha256)}
        if self.photo_hair == "remove":
            files["hair_landmarks"] = models.resolve_model(HAIR_LANDMARKS)
        return files

    def prepare(self) -> "Attack":
        """Load (and hash-check) every model now rather than at the first sample."""
        self._detector()
        return self

    def _detector(self) -> SCRFDDetector:
        return models.get_model(SCRFDDetector, self.model_files()["detector"]).prepare(det_size=self.det_size)

    # --- one image -----------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray, bgr: np.ndarray) -> Optional[DetectedFace]:
        """The main face of the image (large and central), or None."""
        faces = self._detector().get(bgr, det_thresh=self.det_thresh, max_num=1)
        return faces[0] if faces else None

    def guided_detect(self, rgb: np.ndarray, bgr: np.ndarray, expected: np.ndarray) -> Optional[DetectedFace]:
        """Below-threshold detection where the head's geometry puts the face: the best face scoring at
        least ``guided_thresh`` whose box overlaps ``expected`` (IoU >= ``guided_iou``), or None.

        It only supplies keypoints for alignment (image evidence rather than the geometric estimate);
        the sample still counts as not detected.
        """
        if self.guided_thresh is None or self.guided_thresh >= self.det_thresh:
            return None
        faces = self._detector().get(bgr, det_thresh=self.guided_thresh)
        faces = [f for f in faces if f.kps is not None and box_iou(f.bbox, expected) >= self.guided_iou]
        return max(faces, key=lambda f: f.score) if faces else None

    def embed_face(self, rgb: np.ndarray, bgr: np.ndarray, face: DetectedFace) -> tuple[np.ndarray, Optional[np.ndarray], dict]:
        """(vector, landmarks used, info) for one face; ``face.kps`` may come from the fallback."""
        raise NotImplementedError

    def embed_image(self, rgb_uint8: np.ndarray, fallback_landmarks5: Optional[np.ndarray] = None) -> Embedding:
        """Detect, align and embed the main face of an RGB uint8 image; never drops the image.

        Without a detection the face is aligned from ``fallback_landmarks5`` (5 keypoints in
        insightface order, e.g. projected by the renderer) or else from a centred crop, and the
        embedding has ``detected=False``.
        """
        rgb = as_rgb_uint8(rgb_uint8)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = self.detect(rgb, bgr)
        detected = face is not None
        if face is not None:
            source = "detector"
        elif usable_landmarks5(fallback_landmarks5):
            kps = np.asarray(fallback_landmarks5, np.float64).reshape(5, 2)
            expected = box_from_landmarks5(kps)
            face = self.guided_detect(rgb, bgr, expected)
            source = "guided"
            if face is None:
                face, source = DetectedFace(bbox=expected, kps=kps, score=0.0), "geometry"
        else:
            kps, source = centred_landmarks5(*rgb.shape[:2]), "centre"
            face = DetectedFace(bbox=box_from_landmarks5(kps), kps=kps, score=0.0)
        vector, landmarks, info = self.embed_face(rgb, bgr, face)
        info = {"source": source, "det_score": face.score, "bbox": face.bbox, "kps": face.kps, **info}
        return Embedding(vector=vector, detected=detected, landmarks=landmarks, info=info)

    # --- templates and comparison --------------------------------------------------------------

    def fit(self, embeddings: Sequence[Embedding] | np.ndarray) -> "Attack":
        """Fit a trainable back end on enrollment embeddings (scikit-learn style); a no-op here."""
        return self

    def combine(self, vectors: np.ndarray) -> np.ndarray:
        """One template from several vectors (views of a volume, photos of a person): the mean."""
        return np.mean(np.asarray(vectors, np.float64), axis=0)

    def compare(self, u: np.ndarray, v: np.ndarray) -> float:
        """Similarity of two vectors: cosine."""
        return cosine(u, v)

    def similarity(self, a: Embedding, b: Embedding) -> float:
        """Score of a trial, higher for the same person: the templates' similarity ('mean'), or the
        best similarity over pairs of views/photos ('max')."""
        if self.aggregate == "max":
            return max(self.compare(u, v) for u in a.views for v in b.views)
        return self.compare(a.vector, b.vector)

    def _merge(self, embeddings: Sequence[Embedding], keep: int = 0) -> Embedding:
        views = np.stack([e.vector for e in embeddings])
        flags = np.array([e.detected for e in embeddings], bool)
        main = embeddings[keep]
        return Embedding(vector=self.combine(views), detected=bool(flags.any()), views=views,
                         view_detected=flags, render=main.render, landmarks=main.landmarks,
                         info={"parts": [e.info for e in embeddings]})

    # --- photographs ---------------------------------------------------------------------------

    def embed_photo(self, photo: str | os.PathLike | np.ndarray) -> Embedding:
        """Embed one photograph, given as a file path or an RGB uint8 array (hair removed first with
        ``photo_hair='remove'``, ``info['hair_fraction']`` the share of the image replaced; then
        desaturated with ``photo_grey``)."""
        rgb = as_rgb_uint8(photo) if isinstance(photo, np.ndarray) else read_photo(photo)
        hair = self.hairless(rgb) if self.photo_hair == "remove" else None
        if hair is not None:
            rgb = hair.image
        e = self.embed_photo_image(desaturate(rgb) if self.photo_grey else rgb)
        if hair is not None:
            e.info["hair_fraction"] = float(hair.mask.mean())
        return e

    def embed_photo_image(self, rgb: np.ndarray) -> Embedding:
        """Embed a photograph's pixels, after hair removal and desaturation (:meth:`embed_image`)."""
        return self.embed_image(rgb)

    def hairless(self, rgb: np.ndarray) -> HairResult:
        """:func:`benchmark.attacks.hair.remove_hair` on the main face: SCRFD box (or the centred crop
        when nothing is detected, as :meth:`embed_image` aligns), dlib's 68 landmarks in it."""
        import dlib

        rgb = as_rgb_uint8(rgb)
        face = self.detect(rgb, np.ascontiguousarray(rgb[:, :, ::-1]))
        if face is None:
            kps = centred_landmarks5(*rgb.shape[:2])
            face = DetectedFace(bbox=box_from_landmarks5(kps), kps=kps, score=0.0)
        predictor = models.get_model(DlibShapePredictor, self.model_files()["hair_landmarks"])
        shape = predictor.get(rgb, dlib.rectangle(*dlib_square(face.bbox, face.kps)))
        lm = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        return remove_hair(rgb, lm)

    def embed_photos(self, photos: Sequence[str | os.PathLike | np.ndarray]) -> Embedding:
        """One enrollment template from several photographs of one person (:meth:`combine` of them)."""
        if len(photos) == 0:
            raise BenchmarkError(f"attack '{self.name}': no photographs to embed")
        return self._merge([self.embed_photo(p) for p in photos])

    # --- volumes -------------------------------------------------------------------------------

    def reconstruct(self, img: Any) -> Any:
        """Hook for the reconstruction attack (``fill``): fill a removed face before rendering."""
        if self.fill:
            return FaceFill()(img)
        return img

    def embed_volume(self, img: Any) -> Embedding:
        """Render a head volume (nibabel image, RAS) in the configured views and embed each view.

        ``detected`` is true when any view has a detected face; the frontal render is kept in memory.
        """
        return self._embed_frames(self._render(img))

    #: Whether :meth:`_render` keeps each view's depth buffer and camera (attacks that measure the surface).
    keeps_depth = False

    def _render(self, img: Any) -> list[Frame]:
        """A :class:`Frame` of each configured view, after :meth:`reconstruct`."""
        return self._render_views(self.reconstruct(img))

    def _render_views(self, img: Any) -> list[Frame]:
        """A :class:`Frame` of each configured view of ``img`` as it is."""
        views = [render.View(**{_VIEW_ALIASES.get(k, k): x for k, x in v.items()}) for v in self.views]
        renders = render.render_views(img, views, albedo=None if self.albedo is None else np.asarray(self.albedo))
        if self.keeps_depth:
            return [Frame(r.to_uint8_rgb(), r.landmarks5, r.depth, r.camera) for r in renders]
        return [Frame(r.to_uint8_rgb(), r.landmarks5) for r in renders]

    def embed_frame(self, frame: Frame) -> Embedding:
        """Embed one rendered view (:meth:`embed_image`, aligned from the render's landmarks without a detection)."""
        return self.embed_image(frame.image, frame.landmarks5)

    def _embed_frames(self, frames: Sequence[Frame]) -> Embedding:
        parts = []
        for frame in frames:
            e = self.embed_frame(frame)
            e.render = frame.image
            parts.append(e)
        frontal = next((i for i, v in enumerate(self.views) if not any(v.values())), 0)
        return self._merge(parts, keep=frontal)

    # --- cache ---------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The options that determine an embedding (runtime options left out)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("hash", True)}

    def config_hash(self) -> str:
        """Hash of the class, its options, the model files' contents, :data:`EMBEDDING_VERSION` and the
        code the attack runs (its module and every project module it imports, the renderer included:
        :func:`benchmark.core.provenance.code_hash`)."""
        files = {role: models.file_digest(models.verify(mf)) for role, mf in self.model_files().items()}
        cls = type(self)
        return config_hash({"class": f"{cls.__module__}.{cls.__qualname__}", "version": EMBEDDING_VERSION,
                            "config": self.config(), "models": files, "code": provenance.code_hash(cls.__module__)})

    def _cached(self, path: Path, kind: str, compute) -> Embedding:
        if not path.is_file():
            raise BenchmarkError(f"{kind} file not found", path)
        if not self.cache.enabled:
            return compute()
        key = f"{sha256_file(path)}-{self.config_hash()}"
        fresh: list[Embedding] = []

        def run() -> dict[str, np.ndarray]:
            fresh.append(compute())
            return fresh[0].to_arrays()

        arrays = self.cache.get_or_compute(self.name, key, run)
        return fresh[0] if fresh else Embedding.from_arrays(arrays)

    def embed_volume_file(self, path: str | os.PathLike) -> Embedding:
        """:meth:`embed_volume` of a NIfTI file, cached on disk by file content and config hash.

        With ``fill``, a volume that the fill leaves as it is (no face was cut away: ``none``, blurred or
        refaced faces) gets the embedding of the same attack without ``fill``, through that attack's cache:
        the same voxels rendered and embedded the same way, computed once."""
        path = Path(path)

        def compute() -> Embedding:
            # renders are shared in memory between attacks that see the same file the same way
            key = (sha256_file(path), self.fill, repr(self.views), repr(self.albedo), self.keeps_depth)
            frames = _RENDERS.recall(key)
            if frames is None:
                img = load_volume(path)
                shown = self.reconstruct(img)
                frames = _RENDERS.keep(key, _UNFILLED if self.fill and shown is img else self._render_views(shown))
            if frames is _UNFILLED:
                return dataclasses.replace(self, fill=False).embed_volume_file(path)
            return self._embed_frames(frames)

        return self._cached(path, "volume", compute)

    def embed_photo_file(self, path: str | os.PathLike) -> Embedding:
        """:meth:`embed_photo` of an image file, cached on disk by file content and config hash."""
        path = Path(path)
        return self._cached(path, "photo", lambda: self.embed_photo(path))

    def embed_photo_files(self, paths: Sequence[str | os.PathLike]) -> Embedding:
        """:meth:`embed_photos` with each photo cached (:meth:`embed_photo_file`)."""
        if len(paths) == 0:
            raise BenchmarkError(f"attack '{self.name}': no photographs to embed")
        return self._merge([self.embed_photo_file(p) for p in paths])


def usable_landmarks5(kps: Optional[np.ndarray]) -> bool:
    """Five finite keypoints with eyes at least 2 pixels apart."""
    if kps is None:
        return False
    kps = np.asarray(kps, np.float64)
    return kps.size == 10 and bool(np.all(np.isfinite(kps))) and float(np.linalg.norm(kps.reshape(5, 2)[1] - kps.reshape(5, 2)[0])) >= 2.0


def _plain(value: Any) -> Any:
    """An OmegaConf container as plain Python (Hydra passes lists and dicts as ListConfig/DictConfig)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value) if isinstance(value, dict) else value


def desaturate(rgb: np.ndarray) -> np.ndarray:
    """A grey RGB uint8 image: Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) in all three channels."""
    y = np.asarray(rgb, np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])
    return np.repeat(np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8; BenchmarkError naming the file when it cannot be read."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise BenchmarkError("photo not found", path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BenchmarkError("not a readable image (expected PNG or JPEG)", path)
    return np.ascontiguousarray(bgr[:, :, ::-1])

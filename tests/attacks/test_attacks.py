"""Face attacks (issue 3): model pinning, ArcFace / dlib / geo on photos, never-drop alignment, templates,
multi-view aggregation, the embedding cache, and the real-scan acceptance test."""

from __future__ import annotations

import itertools
import logging
import pickle
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.attacks import get_attack, list_attacks
from benchmark.attacks import models
from benchmark.attacks.base import Embedding, read_photo
from benchmark.core.errors import BenchmarkError

IMAGES = Path(__import__("insightface").__file__).parent / "data" / "images"


# --- fixtures: models are loaded once per process (benchmark.attacks.models caches them) ----------


@pytest.fixture(scope="session")
def arcface():
    return get_attack("arcface", use_cache=False).prepare()


@pytest.fixture(scope="session")
def t1_faces(arcface):
    """Loose crops of the six people in insightface's t1.jpg (RGB uint8)."""
    img = read_photo(IMAGES / "t1.jpg")
    faces = arcface._detector().get(np.ascontiguousarray(img[:, :, ::-1]))
    assert len(faces) == 6
    crops = []
    for f in faces:
        x0, y0, x1, y1 = f.bbox
        w, h = x1 - x0, y1 - y0
        crops.append(img[int(max(0, y0 - 0.4 * h)):int(y1 + 0.4 * h), int(max(0, x0 - 0.4 * w)):int(x1 + 0.4 * w)].copy())
    return crops


@pytest.fixture(scope="session")
def tom():
    """A 112x112 ArcFace-aligned face crop."""
    return read_photo(IMAGES / "Tom_Hanks_54745.png")


def _variants(crop):
    import cv2

    return [np.ascontiguousarray(crop[:, ::-1]), cv2.resize(crop, None, fx=1.7, fy=1.7, interpolation=cv2.INTER_CUBIC)]


# --- model files ---------------------------------------------------------------------------------


def test_pinned_files_match_installed_packages():
    for name, digest in models.PINNED_SHA256.items():
        mf = models.resolve_model(name)
        assert mf.sha256 == digest
        assert models.verify(mf) == mf.path


def test_changed_model_file_is_refused(tmp_path):
    src = models.resolve_model("scrfd_500m_bnkps.onnx").path
    bad = tmp_path / src.name
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError, match="differs") as info:
        get_attack("arcface", detector=str(bad)).prepare()
    assert str(bad) in str(info.value)
    with pytest.raises(BenchmarkError, match="missing") as info:
        get_attack("arcface", recognizer=str(tmp_path / "w600k_r50.onnx")).prepare()
    assert "w600k_r50.onnx" in str(info.value)


def test_unpinned_model_uses_configured_sha256(tmp_path, caplog):
    src = models.resolve_model("scrfd_500m_bnkps.onnx").path
    other = tmp_path / "my_detector.onnx"
    shutil.copyfile(src, other)
    with pytest.raises(BenchmarkError, match="differs"):
        get_attack("arcface", detector=str(other), detector_sha256="0" * 64).prepare()
    get_attack("arcface", detector=str(other), detector_sha256=models.PINNED_SHA256[src.name]).prepare()
    with caplog.at_level(logging.WARNING, logger="benchmark.attacks.models"):
        models.verify(models.resolve_model(other))
    assert "no sha256 configured" in caplog.text


def test_get_attack_overrides_and_errors():
    assert {"arcface", "dlib", "geo"} <= set(list_attacks())
    a = get_attack("arcface", det_thresh=0.3, views=[{"azimuth": -20}, {}], aggregate="max")
    assert (a.det_thresh, a.aggregate, a.views) == (0.3, "max", [{"azimuth": -20}, {}])
    assert get_attack("dlib", metric="cosine").metric == "cosine"
    assert get_attack("geo", landmarks="dlib68").landmarks == "dlib68"
    assert a.config_hash() != get_attack("arcface").config_hash()
    for bad, pattern in [({"no_such_key": 1}, "no_such_key"), ({"det_thresh": "high"}, "det_thresh"),
                         ({"aggregate": "median"}, "aggregate")]:
        with pytest.raises(BenchmarkError, match=pattern):
            get_attack("arcface", **bad)
    with pytest.raises(BenchmarkError, match="unknown attack"):
        get_attack("facenet")


# --- recognisers on photographs ------------------------------------------------------------------


def test_arcface_same_photo_beats_different_people(arcface, t1_faces):
    emb = [arcface.embed_photo(c) for c in t1_faces]
    assert all(e.detected and e.vector.shape == (512,) for e in emb)
    assert all(np.isclose(np.linalg.norm(e.vector), 1.0) for e in emb)
    same = [arcface.similarity(e, arcface.embed_photo(v)) for c, e in zip(t1_faces, emb) for v in _variants(c)]
    diff = [arcface.similarity(a, b) for a, b in itertools.combinations(emb, 2)]
    assert min(same) > max(diff), (same, diff)
    assert min(same) > 0.8 and max(diff) < 0.4


def test_no_face_never_drops_the_sample(arcface, tom):
    blind = get_attack("arcface", det_thresh=1.01, guided_thresh=None, use_cache=False)  # never fires
    centre = blind.embed_photo(tom)
    assert not centre.detected and centre.info["source"] == "centre"
    assert np.isclose(np.linalg.norm(centre.vector), 1.0)
    # the renderer's landmarks: here the template positions of the aligned crop, so the same crop
    template = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    geometry = blind.embed_image(tom, fallback_landmarks5=template)
    assert not geometry.detected and geometry.info["source"] == "geometry"
    assert blind.similarity(centre, geometry) > 0.99
    # the fallback embedding still recognises the person the detector would have found
    found = arcface.embed_photo(tom)
    assert found.detected and arcface.similarity(centre, found) > 0.8
    blank = arcface.embed_image(np.zeros((64, 80), np.uint8))
    assert not blank.detected and np.all(np.isfinite(blank.vector))


def test_guided_detection_where_the_geometry_puts_the_face(arcface, t1_faces):
    crop = t1_faces[0]
    truth = arcface.embed_photo(crop)
    kps = truth.info["kps"]
    strict = get_attack("arcface", det_thresh=0.99, guided_thresh=0.25, use_cache=False)
    guided = strict.embed_image(crop, fallback_landmarks5=kps + np.array([3.0, -2.0]))
    assert not guided.detected and guided.info["source"] == "guided"
    assert np.allclose(guided.info["kps"], kps, atol=0.5) and strict.similarity(guided, truth) > 0.99
    elsewhere = kps * 0.3  # a place with no face: the geometry is used as it is
    assert strict.embed_image(crop, fallback_landmarks5=elsewhere).info["source"] == "geometry"


def test_photo_template_and_max_aggregation(arcface, t1_faces):
    flipped, scaled = _variants(t1_faces[0])
    template = arcface.embed_photos([t1_faces[0], flipped])
    assert template.views.shape == (2, 512) and template.detected
    assert np.isclose(np.linalg.norm(template.vector), 1.0)
    probe = arcface.embed_photo(scaled)
    others = [arcface.embed_photo(c) for c in t1_faces[1:]]
    assert arcface.similarity(template, probe) > max(arcface.similarity(template, o) for o in others)
    best = get_attack("arcface", aggregate="max", use_cache=False)
    multi = Embedding(vector=template.vector, detected=True, views=np.stack([others[0].vector, probe.vector]))
    assert np.isclose(best.similarity(multi, probe), 1.0)


def test_dlib_vectors(t1_faces, tom):
    dlib_attack = get_attack("dlib", use_cache=False)
    a, b = dlib_attack.embed_photo(t1_faces[0]), dlib_attack.embed_photo(t1_faces[1])
    flipped = dlib_attack.embed_photo(_variants(t1_faces[0])[0])
    assert a.vector.shape == (128,) and a.detected and a.landmarks.shape == (68, 2)
    assert dlib_attack.similarity(a, flipped) > dlib_attack.similarity(a, b)
    assert -dlib_attack.similarity(a, flipped) < 0.6  # dlib's same-person distance
    fallback = get_attack("dlib", det_thresh=1.01, use_cache=False).embed_photo(tom)
    assert not fallback.detected and np.all(np.isfinite(fallback.vector))
    assert -dlib_attack.similarity(fallback, dlib_attack.embed_photo(tom)) < 0.6
    hog = get_attack("dlib", hog=True, use_cache=False).embed_photo(t1_faces[0])
    assert hog.detected and -dlib_attack.similarity(a, hog) < 0.6


@pytest.mark.parametrize("markup,n_points", [("insightface106", 106), ("dlib68", 68)])
def test_geo_vectors(t1_faces, markup, n_points):
    geo = get_attack("geo", landmarks=markup, use_cache=False)
    emb = [geo.embed_photo(c) for c in t1_faces]
    assert all(e.detected and e.landmarks.shape == (n_points, 2) for e in emb)
    dims = {e.vector.shape for e in emb}
    assert len(dims) == 1 and all(np.all(np.isfinite(e.vector)) for e in emb)
    # scale-free and (symmetric features) mirror-free: a variant is nearer its original than anyone else
    for i, c in enumerate(t1_faces[:2]):
        for v in _variants(c):
            d = np.linalg.norm(np.stack([e.vector for e in emb]) - geo.embed_photo(v).vector, axis=1)
            assert np.argmin(d) == i, d
    geo.fit(emb)
    z = geo.transform(np.stack([e.vector for e in emb]))
    assert np.allclose(z.mean(0), 0, atol=1e-9) and np.allclose(z.std(0)[z.std(0) > 0], 1)


# --- volumes, without the renderer's cost ----------------------------------------------------------


def test_embed_volume_views_and_fill(arcface, t1_faces, tom, monkeypatch):
    import benchmark.render as render

    frames = [t1_faces[0], np.zeros((256, 256, 3), np.uint8)]

    def fake_render_views(img, views, albedo=None):
        assert [v.azimuth for v in views] == [0.0, 30.0] and albedo is None
        return [SimpleNamespace(to_uint8_rgb=lambda f=f: f, landmarks5=None) for f in frames]

    monkeypatch.setattr(render, "render_views", fake_render_views)
    attack = get_attack("arcface", views=[{}, {"yaw": 30}], use_cache=False)
    e = attack.embed_volume(object())
    assert e.detected and list(e.view_detected) == [True, False] and e.views.shape == (2, 512)
    assert e.render is frames[0]
    clone = pickle.loads(pickle.dumps(attack))  # attacks travel to Hydra launcher workers
    assert clone.config_hash() == attack.config_hash()


def test_cache_hit_does_not_recompute(tmp_path, t1_faces, monkeypatch):
    import cv2

    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), t1_faces[0][:, :, ::-1])
    attack = get_attack("arcface", cache_root=str(tmp_path / "cache"))
    calls = []
    real = attack.embed_image
    monkeypatch.setattr(attack, "embed_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = attack.embed_photo_file(photo)
    second = attack.embed_photo_file(photo)
    assert len(calls) == 1 and (attack.cache.hits, attack.cache.misses) == (1, 1)
    assert np.array_equal(first.vector, second.vector) and second.detected and second.info.get("cached")
    # another config is another entry; the cache root holds no images
    get_attack("arcface", det_thresh=0.4, cache_root=str(tmp_path / "cache")).embed_photo_file(photo)
    stored = sorted(p.suffix for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert stored == [".npz", ".npz"]


# --- real scans (../shared/data/real-mri) ----------------------------------------------------------


@pytest.fixture(scope="module")
def real_embeddings(arcface, real_scan_paths):
    from benchmark.data.volume import load_volume

    return {key: arcface.embed_volume(load_volume(path)) for key, path in real_scan_paths.items()}


@pytest.mark.realdata
@pytest.mark.slow
def test_real_scans_sessions_of_one_person_outscore_another_person(arcface, real_embeddings):
    a_sessions = sorted(k for k in real_embeddings if k.startswith("sub-A/"))
    b_sessions = sorted(k for k in real_embeddings if k.startswith("sub-B/"))
    assert len(a_sessions) >= 2 and b_sessions
    same = {(x, y): arcface.similarity(real_embeddings[x], real_embeddings[y])
            for x, y in itertools.combinations(a_sessions, 2)}
    diff = {(x, y): arcface.similarity(real_embeddings[x], real_embeddings[y])
            for x in a_sessions for y in b_sessions}
    assert min(same.values()) > max(diff.values()), f"mated {same}\nnon-mated {diff}"


@pytest.mark.realdata
@pytest.mark.slow
def test_real_scans_frontal_render_has_a_face(real_embeddings):
    # sub-A/ses-leftside is cut by the field of view at the mouth, with the right cheek and eye
    # missing: SCRFD scores its render about 0.3 (known limitation, aligned by the fallback instead).
    # Every scan whose face lies inside the field of view must be detected.
    missed = [k for k, e in real_embeddings.items() if not e.view_detected[0]]
    assert set(missed) <= {"sub-A/ses-leftside"}, f"no face detected in the frontal render of {missed}"
    for e in real_embeddings.values():
        assert e.render is not None and e.render.dtype == np.uint8 and e.render.ndim == 3

"""The synthetic cohort: layout, determinism, volumes, sessions, identity model, photographs, caching."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from benchmark.data import face_regions as fr
from benchmark.data import synthetic as syn
from benchmark.core.errors import BenchmarkError

# tiny and coarse: 4 mm volumes, 48-pixel photos rendered from a 3 mm head; default sessions and photos
TINY = dict(n_persons=2, voxel_size=4.0, photo_voxel_size=3.0, photo_size=48)
DEFAULT = syn.SyntheticCohort()
SESSIONS = [syn.session_label(s) for s in range(DEFAULT.sessions)]


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "a"
    syn.generate_cohort(syn.SyntheticCohort(**TINY), root, progress=False)
    return root


def test_layout_and_participants(cohort: Path):
    with open(cohort / "participants.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert list(rows[0].keys()) == ["participant_id", "age", "sex", "ancestry"]
    assert all(r["ancestry"] in syn.ANCESTRY_GROUPS for r in rows)
    assert [r["participant_id"] for r in rows] == ["sub-s0001", "sub-s0002"]
    for r in rows:
        assert r["sex"] in ("M", "F") and 20 <= int(r["age"]) <= 80
        pid = r["participant_id"]
        for ses in SESSIONS:
            assert (cohort / pid / ses / "anat" / f"{pid}_{ses}_T1w.nii.gz").is_file()
    with open(cohort / "organiser" / "identity.tsv", newline="") as f:
        ident = list(csv.DictReader(f, delimiter="\t"))
    assert [r["participant_id"] for r in ident] == ["sub-s0001", "sub-s0002"]
    assert all(f"{name}_mm" in ident[0] for name in fr.FEATURES)
    assert (cohort / "organiser" / "sessions.tsv").is_file()
    assert (cohort / "dataset_description.json").is_file()


def test_volumes_are_proper_scans(cohort: Path):
    shapes = set()
    for path in sorted(cohort.rglob("*_T1w.nii.gz")):
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
        assert data.ndim == 3 and data.dtype == np.int16
        assert np.isfinite(data).all() and data.max() > 0 and (data > 0).mean() > 0.5  # noise everywhere
        aff = img.affine
        assert np.allclose(aff[:3, :3], np.diag([4.0, 4.0, 4.0]))
        assert nib.aff2axcodes(aff) == ("R", "A", "S")
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
        shapes.add(data.shape)
    assert len(shapes) == 1  # one scanner grid


def test_default_cohort_has_several_sessions_and_photos():
    """Enough trials per person (issue 13): the default run's cohort and the class's defaults agree."""
    run_default = OmegaConf.load(Path(__file__).parents[2] / "conf" / "dataset" / "synthetic.yaml")
    for cfg in (DEFAULT, run_default):
        assert cfg.sessions >= 3 and cfg.photos >= 4
    assert (run_default.sessions, run_default.photos) == (DEFAULT.sessions, DEFAULT.photos)


def test_sessions_differ_but_are_the_same_person(tmp_path: Path):
    # no pose change: two sessions of one person differ by noise, bias and scaling only
    cfg = syn.SyntheticCohort(**{**TINY, "photos": 0}, rotation_deg=0.0, translation_mm=0.0, origin_jitter_mm=0.0)
    syn.generate_cohort(cfg, tmp_path, progress=False)

    def load(pid, ses):
        return np.asarray(nib.load(str(tmp_path / pid / ses / "anat" / f"{pid}_{ses}_T1w.nii.gz")).dataobj, float)

    a1, a2, b1 = load("sub-s0001", "ses-1"), load("sub-s0001", "ses-2"), load("sub-s0002", "ses-1")
    assert not np.array_equal(a1, a2)
    same = np.corrcoef(a1.ravel(), a2.ravel())[0, 1]
    other = np.corrcoef(a1.ravel(), b1.ravel())[0, 1]
    assert same > 0.95 and same > other


def test_pose_changes_between_sessions(cohort: Path):
    with open(cohort / "organiser" / "sessions.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 2 * len(SESSIONS)
    rots = {r["rotation_deg"] for r in rows}
    assert len(rots) == len(rows)
    for r in rows:
        assert all(abs(float(v)) <= 2.5 * 3.0 + 1e-6 for v in r["rotation_deg"].split(","))


def test_photos(cohort: Path):
    for pid in ("sub-s0001", "sub-s0002"):
        photos = sorted((cohort / pid / "photo").glob("*.png"))
        assert len(photos) == DEFAULT.photos
        for p in photos:
            im = Image.open(p)
            assert im.mode == "RGB" and im.size == (48, 48)
            a = np.asarray(im, dtype=float)
            assert a.std() > 5  # a face on a background, not a blank image
        assert hashlib.sha256(photos[0].read_bytes()).digest() != hashlib.sha256(photos[1].read_bytes()).digest()


def test_deterministic_bytes(cohort: Path, tmp_path: Path):
    again = tmp_path / "b"
    syn.generate_cohort(syn.SyntheticCohort(**TINY), again, progress=False)
    assert _digests(cohort) == _digests(again)
    other = tmp_path / "c"
    syn.generate_cohort(syn.SyntheticCohort(**{**TINY, "seed": 1, "photos": 0, "n_persons": 1}), other, progress=False)
    vol = "sub-s0001/ses-1/anat/sub-s0001_ses-1_T1w.nii.gz"
    assert _digests(other)[vol] != _digests(cohort)[vol]


def test_kit_copy_of_a_volume_has_its_bytes(cohort: Path, tmp_path: Path):
    """The kit writes a synthetic volume byte for byte (the none baseline then shares its embeddings)."""
    from benchmark.data.prepare import write_kit_volume

    for src in sorted(cohort.rglob("*_T1w.nii.gz"))[:2]:
        dst = write_kit_volume(src, tmp_path / src.name, 10**9)
        assert dst.read_bytes() == src.read_bytes(), src.name


def test_person_independent_of_cohort_size():
    small = syn.draw_person(syn.SyntheticCohort(n_persons=2), 1)
    large = syn.draw_person(syn.SyntheticCohort(n_persons=500), 1)
    assert small.amplitudes == large.amplitudes and (small.sex, small.age) == (large.sex, large.age)
    assert syn.draw_person(syn.SyntheticCohort(n_persons=2), 0).amplitudes != small.amplitudes


def test_identity_shifts_with_sex_and_age():
    cfg = syn.SyntheticCohort(n_persons=400)
    people = [syn.draw_person(cfg, i) for i in range(400)]
    male = np.array([p.sex == "M" for p in people])
    age = np.array([p.age for p in people], float)
    assert 0.35 < male.mean() < 0.65
    for name in ("jaw_width", "brow_ridge", "head_breadth", "face_length"):
        v = np.array([p.amplitudes[name] for p in people])
        diff = v[male].mean() - v[~male].mean()
        se = np.sqrt(v[male].var() / male.sum() + v[~male].var() / (~male).sum())
        assert diff > 3 * se, name  # men: larger jaw, brow, head, longer face
    nose = np.array([p.amplitudes["nose_length"] for p in people])
    lips = np.array([p.amplitudes["lip_fullness"] for p in people])
    assert np.corrcoef(age, nose)[0, 1] > 0.2 and np.corrcoef(age, lips)[0, 1] < -0.2


def test_ancestry_shapes_geometry_and_skin_tone():
    """Six synthetic appearance clusters, drawn uniformly; each shifts the shape draws and the skin tone,
    and the population's spread of every feature stays that of a single group's (the mixture is unit)."""
    cfg = syn.SyntheticCohort(n_persons=600)
    people = [syn.draw_person(cfg, i) for i in range(600)]
    groups = np.array([p.ancestry for p in people])
    counts = np.array([np.sum(groups == g) for g in syn.ANCESTRY_GROUPS])
    assert counts.min() > 600 / 6 * 0.6
    z = np.array([[p.z[n] for n in sorted(fr.FEATURES)] for p in people])
    assert 0.8 < z.std(axis=0).mean() < 1.1
    means = np.array([z[groups == g].mean(axis=0) for g in syn.ANCESTRY_GROUPS])  # (6, features)
    offsets = np.array([[syn.ancestry_offsets()[g][n] for n in sorted(fr.FEATURES)] for g in syn.ANCESTRY_GROUPS])
    assert np.corrcoef(means.ravel(), offsets.ravel())[0, 1] > 0.8
    light = np.array([p.skin.mean() for p in people])
    order = [light[groups == g].mean() for g in syn.ANCESTRY_GROUPS]  # group1 lightest .. group6 darkest
    assert all(a > b for a, b in zip(order, order[1:]))
    flat = [syn.draw_person(syn.SyntheticCohort(ancestry_effect=0.0), i) for i in range(3)]
    assert [p.z for p in flat] != [p.z for p in people[:3]]


def test_displacement_is_smooth_and_invertible():
    cfg = syn.SyntheticCohort()
    grid = syn.head_grid(syn.FIELD_SPACING)
    for i in range(3):
        u = syn.displacement_field(syn.draw_person(cfg, i), grid)
        assert np.isfinite(u).all()
        # Jacobian of the backward map p = q - u(q): positive everywhere (no folding)
        jac = np.eye(3)[:, :, None, None, None] - np.stack(
            [np.stack(np.gradient(u[a], grid.spacing), 0) for a in range(3)], 0)
        det = np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))
        assert det.min() > 0.2


def test_bad_config_is_named():
    with pytest.raises(BenchmarkError, match="sessions"):
        syn.SyntheticCohort(sessions=0)
    with pytest.raises(BenchmarkError, match="voxel_size"):
        syn.SyntheticCohort(voxel_size=0.1)


def test_materialise_caches(tmp_path: Path, monkeypatch):
    cfg = syn.SyntheticCohort(**{**TINY, "n_persons": 1, "photos": 0, "sessions": 1}, cache_dir=str(tmp_path))
    root = cfg.materialise(progress=False)
    assert root.parent == tmp_path and root.name.startswith("synthetic-")
    assert (root / "participants.tsv").is_file()
    assert not list(tmp_path.glob(".*tmp"))  # the temporary build folder is gone

    def boom(*a, **k):
        raise AssertionError("regenerated a cached cohort")

    monkeypatch.setattr(syn, "generate_cohort", boom)
    assert cfg.materialise(progress=False) == root
    # a different configuration gets a different folder; workers and cache_dir do not count
    other = syn.SyntheticCohort(**{**TINY, "n_persons": 1, "photos": 0, "sessions": 1, "seed": 3},
                                cache_dir=str(tmp_path))
    assert other.root() != root
    same = syn.SyntheticCohort(**{**TINY, "n_persons": 1, "photos": 0, "sessions": 1}, cache_dir=str(tmp_path),
                               workers=4)
    assert same.root() == root


def test_distractors_have_photographs_only(tmp_path: Path):
    cfg = syn.SyntheticCohort(**{**TINY, "n_persons": 2, "sessions": 1, "photos": 1}, distractors=2)
    root = tmp_path / "d"
    syn.generate_cohort(cfg, root, progress=False)
    with open(root / "participants.tsv") as f:
        ids = [r["participant_id"] for r in csv.DictReader(f, delimiter="\t")]
    assert ids == ["sub-s0001", "sub-s0002", "sub-s0003", "sub-s0004"]
    for pid in ids[2:]:
        assert not list((root / pid).glob("ses-*")) and len(list((root / pid / "photo").glob("*.png"))) == 1
    assert (root / "sub-s0001" / "ses-1").is_dir()
    assert syn.SyntheticCohort(**TINY).root() == syn.SyntheticCohort(**TINY, distractors=0).root()
    assert cfg.root() != syn.SyntheticCohort(**{**TINY, "n_persons": 2, "sessions": 1, "photos": 1}).root()

"""Base heads of the synthetic cohort: people grown from other heads than the template, keyed by content."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.data import base_heads as bh
from benchmark.data import face_regions as fr
from benchmark.data import synthetic as syn
from tests.helpers import ball_volume, oblique_copy, write_nifti

TINY = dict(n_persons=3, sessions=1, photos=0, voxel_size=4.0)
CUT_SLICES = 40  # the template copy's field of view ends this many slices above the template's last one


def _template_copy(path: Path, template_img: nib.Nifti1Image, gain: float) -> Path:
    """pydeface's template as another scanner stores it: intensities times ``gain`` (int16), the lowest
    :data:`CUT_SLICES` slices (chin and mouth) outside the field of view, voxel axes permuted and flipped,
    the head turned and shifted."""
    data = np.asarray(template_img.dataobj, dtype=np.float32)[:, :, CUT_SLICES:] * gain
    affine = template_img.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, CUT_SLICES], [0, 0, 0, 1.0]])
    img = oblique_copy(nib.Nifti1Image(np.round(data).astype(np.int16), affine))
    nib.save(img, path)
    return path


@pytest.fixture(scope="module")
def copy_path(tmp_path_factory, template_img) -> Path:
    return _template_copy(tmp_path_factory.mktemp("base") / "copy_T1w.nii.gz", template_img, gain=3.0)


def _session(cfg: syn.SyntheticCohort, index: int) -> np.ndarray:
    model = syn.PersonModel(syn.draw_person(cfg, index))
    params = syn.draw_session(cfg, index, 0)
    img = syn.session_image(cfg, model, params, np.random.default_rng([index, 1]))
    return np.asarray(img.dataobj, dtype=np.float32)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference over the voxels where either is head, relative to ``a``'s mean there."""
    head = (a > a.mean()) | (b > b.mean())
    return float(np.abs(a - b)[head].mean() / a[head].mean())


def test_prepared_base_is_registered_scaled_and_completed(copy_path: Path, tmp_path: Path):
    """The template, re-stored by another 'scanner' with a cut field of view, comes back into the head
    frame in the template's units, and the cut chin is completed (from the template) and said."""
    base = bh.prepare(copy_path, tmp_path)
    tpl = fr.load_template().data
    assert base.data.shape == tpl.shape and base.in_view.min() == 0.0 and base.in_view.max() == 1.0
    seen = (base.in_view >= 1.0) & (tpl > fr.SKIN_THRESHOLD)
    assert np.corrcoef(base.data[seen], tpl[seen])[0, 1] > 0.9  # registered back onto the template
    assert 0.9 < np.median(base.data[seen]) / np.median(tpl[seen]) < 1.1  # gain 3 undone by the brain median
    below = np.zeros(tpl.shape, dtype=bool)
    below[:, :, : fr.PAD_BELOW + CUT_SLICES - 5] = True  # under the cut (head frame = template voxel axes)
    assert base.in_view[below].max() < 0.05
    assert (base.data[below & (tpl > fr.SKIN_THRESHOLD)] > fr.SKIN_THRESHOLD / 2).mean() > 0.9  # completed
    told = bh.describe(base, copy_path)
    assert told["sha256"] == bh.scan_digest(copy_path) and 0.5 < told["head_from_scan"] < 1.0
    assert told["face_from_scan"] < 1.0  # the cut took part of the face
    assert [p.name for p in (tmp_path / bh.STAGE).glob("*.npz")]  # cached on disk


def test_cache_key_is_the_scans_content(copy_path: Path, tmp_path: Path, template_img):
    default = syn.SyntheticCohort(**TINY)
    grown = syn.SyntheticCohort(**TINY, base_heads=[str(copy_path)])
    assert grown.root() != default.root()
    moved = shutil.copy(copy_path, tmp_path / "elsewhere.nii.gz")
    assert syn.SyntheticCohort(**TINY, base_heads=[moved]).root() == grown.root()  # where it lies does not count
    other = _template_copy(tmp_path / "other_T1w.nii.gz", template_img, gain=2.0)
    assert syn.SyntheticCohort(**TINY, base_heads=[str(other)]).root() != grown.root()
    assert syn.SyntheticCohort(**TINY, base_heads=[]).generation_config() == default.generation_config()
    assert "base_heads" not in default.generation_config()  # template-grown cohorts keep their hash


def test_people_are_assigned_round_robin(copy_path: Path, tmp_path: Path):
    other = shutil.copy(copy_path, tmp_path / "b.nii.gz")
    cfg = syn.SyntheticCohort(**TINY, base_heads=[str(copy_path), str(other)])
    people = [syn.draw_person(cfg, i) for i in range(3)]
    assert [p.base for p in people] == [0, 1, 0]
    plain = syn.draw_person(syn.SyntheticCohort(**TINY), 1)
    assert plain.base == -1 and (plain.sex, plain.age, plain.amplitudes) == (people[1].sex, people[1].age,
                                                                             people[1].amplitudes)
    assert people[0].identity_row()["base_head"] == 1 and "base_head" not in plain.identity_row()


def test_people_grown_from_a_real_head_differ_from_the_template_grown(real_scan_paths, tmp_path: Path):
    """The same person (same draws, same session) grown from a real head is farther from their
    template-grown self than two template-grown people are from each other."""
    cache = dict(cache_dir=str(tmp_path))
    default = syn.SyntheticCohort(**TINY, **cache)
    grown = syn.SyntheticCohort(**TINY, **cache, base_heads=[str(real_scan_paths["sub-C/ses-1"])])
    a0, a1, b0 = _session(default, 0), _session(default, 1), _session(grown, 0)
    assert a0.shape == b0.shape
    assert _distance(a0, b0) > _distance(a0, a1)


@pytest.mark.parametrize("kind", ["missing", "not_nifti"])
def test_bad_base_head_is_one_line_naming_the_file(tmp_path: Path, kind: str):
    path = tmp_path / "head.nii.gz"
    if kind == "not_nifti":
        path.write_text("not a scan")
    with pytest.raises(BenchmarkError) as err:
        syn.SyntheticCohort(**TINY, base_heads=[str(path)])
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_volume_without_a_brain_is_refused(tmp_path: Path):
    path = write_nifti(tmp_path / "ball.nii.gz", ball_volume((60, 70, 66)), zooms=(3.0, 3.0, 3.0))
    with pytest.raises(BenchmarkError) as err:
        bh.prepare(path, tmp_path / "cache")
    assert str(path) in str(err.value) and "\n" not in str(err.value)

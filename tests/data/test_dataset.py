from __future__ import annotations

import pytest

from benchmark.data.dataset import load_dataset
from benchmark.core.errors import BenchmarkError
from tests.helpers import tiny_cohort


def test_real_mri_loads_as_it_is(real_mri_root):
    ds = load_dataset(real_mri_root)
    assert sorted(ds.participants) == sorted(p.name for p in real_mri_root.glob("sub-*") if p.is_dir())
    a = ds.participant("sub-A")
    assert list(a.sessions) == ["ses-leftside", "ses-prone", "ses-rightside", "ses-supine"]
    assert a.sex == "M" and a.age == 51
    assert ds.participant("sub-B").age == 3
    assert all(ds.participant(p).age is None and ds.participant(p).sex is None for p in ("sub-C", "sub-D"))  # n/a
    assert all(s.t1w.is_file() for p in ds.participants.values() for s in p.sessions.values())


def test_cohort_with_photos(tmp_path):
    ds = load_dataset(tiny_cohort(tmp_path / "c", n_persons=3, sessions=2, photos=3))
    p = ds.participant("sub-t01")
    assert list(p.sessions) == ["ses-1", "ses-2"] and len(p.photos) == 3


def test_missing_session_is_named(tmp_path):
    ds = load_dataset(tiny_cohort(tmp_path / "c", n_persons=2, sessions=1))
    with pytest.raises(BenchmarkError, match="missing session") as info:
        ds.session("sub-t01", "ses-2")
    assert "sub-t01_ses-2_T1w.nii.gz" in str(info.value)


def test_session_folder_without_t1w(tmp_path):
    root = tiny_cohort(tmp_path / "c", n_persons=2, sessions=1)
    (root / "sub-t02" / "ses-2" / "anat").mkdir(parents=True)
    with pytest.raises(BenchmarkError, match="no T1w volume") as info:
        load_dataset(root)
    assert "sub-t02_ses-2_T1w.nii.gz" in str(info.value)


@pytest.mark.parametrize("text, pattern", [
    ("id\tage\nsub-t01\t3\n", "participant_id column"),
    ("participant_id\tage\nt01\t3\n", "not of the form"),
    ("participant_id\tage\nsub-t01\t3\nsub-t01\t4\n", "listed twice"),
    ("participant_id\tage\nsub-t01\t3\nsub-t09\t4\n", "has no folder"),
])
def test_bad_participants_tsv(tmp_path, text, pattern):
    root = tiny_cohort(tmp_path / "c", n_persons=1, sessions=1)
    (root / "participants.tsv").write_text(text)
    with pytest.raises(BenchmarkError, match=pattern):
        load_dataset(root)


def test_missing_folder_and_tsv(tmp_path):
    with pytest.raises(BenchmarkError, match="dataset folder not found"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="participants.tsv is missing"):
        load_dataset(tmp_path / "empty")

from __future__ import annotations

import pytest

from benchmark.data.dataset import load_dataset, natural_key
from benchmark.core.errors import BenchmarkError
from tests.helpers import tiny_cohort


def test_real_mri_loads_as_it_is(real_mri_root):
    """Every listed person and every scan on disk is loaded, sessions in natural order, n/a read as unknown."""
    ds = load_dataset(real_mri_root)
    listed = [ln.split("\t")[0] for ln in (real_mri_root / "participants.tsv").read_text().splitlines()[1:] if ln]
    assert sorted(ds.participants) == sorted(listed)
    on_disk = sorted(real_mri_root.glob("sub-*/ses-*/anat/*_T1w.nii*"))
    loaded = sorted(s.path for p in ds.participants.values() for s in p.sessions.values())
    assert loaded == on_disk
    for p in ds.participants.values():
        assert list(p.sessions) == sorted(p.sessions, key=natural_key)
        assert all(s.contrast == "T1w" and s.participant_id == p.participant_id for s in p.sessions.values())
        raw = p.attributes
        assert (p.age is None) == (raw.get("age", "n/a") == "n/a")
        assert (p.sex is None) == (raw.get("sex", "n/a") == "n/a")
    a = ds.participant("sub-A")  # the README's facts about sub-A
    assert a.sex == "M" and a.age == 51


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


def _rename(root, pid, ses, contrast):
    """Give a tiny cohort's scan another BIDS suffix."""
    src = root / pid / ses / "anat" / f"{pid}_{ses}_T1w.nii.gz"
    return src.rename(src.with_name(f"{pid}_{ses}_{contrast}.nii.gz"))


def test_contrasts_are_chosen(tmp_path):
    root = tiny_cohort(tmp_path / "c", n_persons=2, sessions=2)
    _rename(root, "sub-t01", "ses-2", "T2w")
    extra = root / "sub-t02" / "ses-1" / "anat" / "sub-t02_ses-1_FLAIR.nii.gz"
    extra.write_bytes((root / "sub-t02" / "ses-1" / "anat" / "sub-t02_ses-1_T1w.nii.gz").read_bytes())
    with pytest.raises(BenchmarkError, match="no T1w volume") as info:  # T1w only, by default
        load_dataset(root)
    assert "sub-t01_ses-2_T1w.nii.gz" in str(info.value)
    ds = load_dataset(root, contrasts=["T1w", "T2w"])
    assert {k: s.contrast for k, s in ds.participant("sub-t01").sessions.items()} == {"ses-1": "T1w", "ses-2": "T2w"}
    assert list(ds.participant("sub-t02").sessions) == ["ses-1", "ses-2"]  # its FLAIR is not read
    ds = load_dataset(root, contrasts=["FLAIR", "T1w", "T2w"])  # a session holding two: one entry each
    t02 = ds.participant("sub-t02").sessions
    assert list(t02) == ["ses-1_FLAIR", "ses-1_T1w", "ses-2"]
    assert t02["ses-1_FLAIR"].path == extra and ds.session("sub-t02", "ses-1_T1w").contrast == "T1w"


@pytest.mark.parametrize("contrasts, trial, pattern", [
    ([], [], "dataset.contrasts"), (["T1w", "../x"], [], "not a suffix"), (["T1w"], ["T2w"], "trial_contrasts"),
])
def test_bad_contrast_config(tmp_path, contrasts, trial, pattern):
    root = tiny_cohort(tmp_path / "c", n_persons=1, sessions=1)
    with pytest.raises(BenchmarkError, match=pattern):
        load_dataset(root, contrasts, trial)


def test_unknown_ages_and_sexes(tmp_path):
    root = tiny_cohort(tmp_path / "c", n_persons=3, sessions=1)
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsex\nsub-t01\tn/a\tn/a\nsub-t02\tnan\tF\nsub-t03\t41.5\tmale\n")
    ds = load_dataset(root)
    assert [(p.age, p.sex) for p in ds.participants.values()] == [(None, None), (None, "F"), (41.5, "M")]

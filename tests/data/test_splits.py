from __future__ import annotations

import shutil

import pytest

from benchmark.data.dataset import load_dataset
from benchmark.core.config import SplitFractions
from benchmark.data.splits import assign_persons, make_splits
from tests.helpers import tiny_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """20 persons with three sessions and two photographs, except one test person: one session, no photograph."""
    root = tiny_cohort(tmp_path_factory.mktemp("c"), n_persons=20, sessions=3, photos=2)
    single = assign_persons(load_dataset(root), SplitFractions())["test"][0]  # splits ignore sessions
    for folder in ("ses-2", "ses-3", "photo"):
        shutil.rmtree(root / single / folder)
    return load_dataset(root)


def test_persons_disjoint_stratified_deterministic(cohort):
    a = assign_persons(cohort, SplitFractions())
    assert a == assign_persons(cohort, SplitFractions())
    assert a != assign_persons(cohort, SplitFractions(seed=1))
    sets = [set(v) for v in a.values()]
    assert sum(map(len, sets)) == 20 and len(set.union(*sets)) == 20
    assert (len(a["test"]), len(a["dev"]), len(a["train"])) == (8, 4, 8)
    for split in ("test", "dev", "train"):  # half M, half F in a balanced cohort
        sexes = [cohort.participants[p].sex for p in a[split]]
        assert sexes.count("M") == sexes.count("F")


def test_small_cohort_goes_to_test(cohort):
    a = assign_persons(cohort, SplitFractions(min_persons=50))
    assert a == {"dev": [], "test": sorted(cohort.participants), "train": []}


def _expected_volumes(cohort, members, condition):
    """(enrolled persons, trial volumes per person) of a condition, from the cohort's sessions and photos."""
    n = {p: len(cohort.participants[p].sessions) for p in members}
    if condition == "mri2mri":
        return {p for p in members if n[p] >= 2}, {p: max(n[p] - 1, 1) for p in members}
    return {p for p in members if cohort.participants[p].photos}, n


def test_trial_lists(cohort):
    s = make_splits(cohort)
    key = s.volume_key()
    assert len(key) == len(s.volumes) == sum(len(p.sessions) for p in cohort.participants.values())
    (single,) = [p for p, part in cohort.participants.items() if len(part.sessions) == 1]
    assert single in s.persons["test"]  # scored: impostor-only in mri2mri, no photo2mri enrollment
    for tl in s.trial_lists:
        enrolled, n_trials = _expected_volumes(cohort, s.persons[tl.split], tl.condition)
        assert set(tl.enroll.values()) == enrolled
        pairs = {(t.enroll_id, t.trial_id) for t in tl.trials}
        assert len(pairs) == len(tl.trials) == len(enrolled) * sum(n_trials.values())  # every pair, once
        assert sum(t.target for t in tl.trials) == sum(n_trials[p] for p in enrolled)
        for t in tl.trials:
            tv = key[t.trial_id]
            assert tv.split == tl.split and t.target == (tl.enroll[t.enroll_id] == tv.participant_id)
            if tl.condition == "mri2mri":
                ev = key[t.enroll_id]
                assert tv.role == "trial" and (ev.role, ev.session_id) == ("enroll", "ses-1")
                assert tv.session_id != "ses-1" or tv.participant_id == single
        sexes = {p: cohort.participants[p].sex for p in s.persons[tl.split]}
        assert all(sexes[tl.enroll[t.enroll_id]] == sexes[key[t.trial_id].participant_id] for t in tl.same_sex)
        assert 0 < len(tl.same_sex) < len(tl.trials)
    assert {(t.split, t.condition) for t in s.trial_lists} == {
        ("dev", "mri2mri"), ("dev", "photo2mri"), ("test", "mri2mri"), ("test", "photo2mri")}
    train = [v for v in s.volumes if v.split == "train"]
    assert len(train) == 3 * len(s.persons["train"]) and all(v.role == "train" for v in train)


def test_pseudonyms_do_not_reveal_pairs(cohort):
    s = make_splits(cohort)
    names = [v.pseudonym for v in s.volumes]
    assert names == sorted(names)  # listed in pseudonym order, not by person
    assert all(v.participant_id[4:] not in v.pseudonym for v in s.volumes)


def test_too_small_for_a_condition(tmp_path):
    ds = load_dataset(tiny_cohort(tmp_path / "c", n_persons=3, sessions=1))
    s = make_splits(ds)
    assert s.trial_lists == []
    assert any("mri2mri: skipped, no person has two or more MRI sessions" in m for m in s.messages)
    assert any("photo2mri: skipped" in m for m in s.messages)


def test_real_mri(real_mri_root):
    ds = load_dataset(real_mri_root)
    s = make_splits(ds)
    (tl,) = s.trial_lists  # no photographs: mri2mri only
    assert (tl.split, tl.condition) == ("test", "mri2mri")
    enrolled, n_trials = _expected_volumes(ds, s.persons["test"], "mri2mri")
    assert len(tl.trials) == len(enrolled) * sum(n_trials.values())
    assert sum(t.target for t in tl.trials) == sum(n_trials[p] for p in enrolled)


def test_trial_contrasts_pair_enroll_t1w_with_trial_t2w(tmp_path):
    root = tiny_cohort(tmp_path / "c", n_persons=3, sessions=2)
    for pid in ("sub-t01", "sub-t02"):  # T2w in session 1: the trial all the same
        src = root / pid / "ses-1" / "anat" / f"{pid}_ses-1_T1w.nii.gz"
        src.rename(src.with_name(f"{pid}_ses-1_T2w.nii.gz"))
    ds = load_dataset(root, contrasts=["T1w", "T2w"], trial_contrasts=["T2w"])
    s = make_splits(ds)
    (tl,) = s.trial_lists
    key = s.volume_key()
    contrast = {v.pseudonym: ds.session(v.participant_id, v.session_id).contrast for v in s.volumes}
    assert {contrast[e] for e in tl.enroll} == {"T1w"}
    assert {contrast[t.trial_id] for t in tl.trials} == {"T2w"}
    assert sorted(key[t.trial_id].participant_id for t in tl.trials if t.target) == ["sub-t01", "sub-t02"]
    assert "sub-t03" in tl.enroll.values()  # no T2w: enrolled, impostor trials only


def test_distractors_join_the_test_photo_gallery_only(tmp_path):
    """Persons with photographs and no session stay out of the stratified split and enlarge the test
    photo2mri enrollment gallery with non-mated trials only; the other persons' splits do not move."""
    root = tiny_cohort(tmp_path / "c", n_persons=20, sessions=2, photos=1)
    before = assign_persons(load_dataset(root), SplitFractions())
    extra = sorted(before["train"])[:3]  # make three persons photo-only
    for pid in extra:
        for ses in (root / pid).glob("ses-*"):
            shutil.rmtree(ses)
    ds = load_dataset(root)
    after = assign_persons(ds, SplitFractions())
    assert set(extra) <= set(after["test"])
    s = make_splits(ds)
    tl = next(t for t in s.trial_lists if t.split == "test" and t.condition == "photo2mri")
    gallery = {e for e, p in tl.enroll.items() if p in extra}
    assert len(gallery) == 3
    assert all(not t.target for t in tl.trials if t.enroll_id in gallery)
    assert not any(v.participant_id in extra for v in s.volumes)
    assert any("3 distractor(s)" in m for m in s.messages)

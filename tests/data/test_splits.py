from __future__ import annotations

import pytest

from benchmark.data.dataset import load_dataset
from benchmark.core.config import SplitFractions
from benchmark.data.splits import assign_persons, make_splits
from tests.helpers import tiny_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return load_dataset(tiny_cohort(tmp_path_factory.mktemp("c"), n_persons=20, sessions=2, photos=1))


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


def test_trial_lists(cohort):
    s = make_splits(cohort)
    key = s.volume_key()
    assert len(key) == len(s.volumes)  # pseudonyms unique
    for tl in s.trial_lists:
        n = len(s.persons[tl.split])
        assert len(tl.trials) == n * n  # all pairs
        assert sum(t.target for t in tl.trials) == n
        for t in tl.trials:
            tv = key[t.trial_id]
            assert tv.role == "trial" and tv.split == tl.split
            enrolled = tl.enroll[t.enroll_id]
            assert t.target == (enrolled == tv.participant_id)
            if tl.condition == "mri2mri":
                ev = key[t.enroll_id]
                assert (ev.role, ev.session_id, tv.session_id) == ("enroll", "ses-1", "ses-2")
        sexes = {p: cohort.participants[p].sex for p in s.persons[tl.split]}
        assert all(sexes[tl.enroll[t.enroll_id]] == sexes[key[t.trial_id].participant_id] for t in tl.same_sex)
        assert 0 < len(tl.same_sex) < len(tl.trials)
    assert {(t.split, t.condition) for t in s.trial_lists} == {
        ("dev", "mri2mri"), ("dev", "photo2mri"), ("test", "mri2mri"), ("test", "photo2mri")}
    train = [v for v in s.volumes if v.split == "train"]
    assert len(train) == 2 * len(s.persons["train"]) and all(v.role == "train" for v in train)


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
    s = make_splits(load_dataset(real_mri_root))
    (tl,) = s.trial_lists
    assert (tl.split, tl.condition) == ("test", "mri2mri")
    assert sorted(t.target for t in tl.trials) == [False, True]

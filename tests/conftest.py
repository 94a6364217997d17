"""Shared fixtures: the real test scans (skipped with a reason when absent), the deepbet masker, and what the
end-to-end tests of several files share: one small synthetic cohort and the content-keyed cache stages."""

from __future__ import annotations

import os
from pathlib import Path

import shutil

import nibabel as nib
import pytest

from benchmark.anatomy.brainmask import BrainMasker
from benchmark.anatomy.template import template_paths
from benchmark.core.files import file_lock
from benchmark.data.synthetic import SyntheticCohort
from tests.helpers import oblique_copy

REPO = Path(__file__).resolve().parents[1]
REAL_MRI = Path(os.environ.get("BENCHMARK_REAL_MRI", REPO.parent / "shared" / "data" / "real-mri"))


#: The test files that take longest (a few minutes of one worker each on a 2-core machine), collected first:
#: pytest-xdist hands out whole files (``--dist loadfile``) in collection order, and a long file handed out
#: last keeps one worker busy while the other waits.
LONGEST_FIRST = ("scoring/test_scoring.py", "baselines/test_baselines.py", "cli/test_devkit.py", "cli/test_shards.py",
                 "scoring/test_results.py", "scoring/test_volumetric_scoring.py", "studies/test_studies.py",
                 "cli/test_cli.py", "cli/test_multirun.py", "attacks/test_volumetric.py", "studies/test_hair_attributes.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    tests = REPO / "tests"
    items.sort(key=lambda item: rank.get(Path(item.fspath).relative_to(tests).as_posix(), len(rank)))  # stable


@pytest.fixture(scope="session")
def real_mri_root() -> Path:
    """Root of ../shared/data/real-mri (real head scans, see its README); skip when absent."""
    if not (REAL_MRI / "participants.tsv").is_file():
        pytest.skip(f"real test scans not found at {REAL_MRI} (set BENCHMARK_REAL_MRI to their folder)")
    return REAL_MRI


@pytest.fixture(scope="session")
def real_scan_paths(real_mri_root) -> dict[str, Path]:
    """Map 'sub-A/ses-supine' -> path of the T1w NIfTI."""
    out = {}
    for p in sorted(real_mri_root.glob("sub-*/ses-*/anat/*_T1w.nii.gz")):
        out[f"{p.parts[-4]}/{p.parts[-3]}"] = p
    return out


@pytest.fixture(scope="session")
def content_root(tmp_path_factory) -> Path:
    """The folder of the cache stages keyed by content (:data:`CONTENT_KEYED`) that every test of the run may
    share. Under pytest-xdist it is the run's, beside the workers' own (``<run>/popen-gwN``): entries are
    written atomically, so two workers may fill it at once."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "content-keyed-cache"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("content-keyed-cache")


@pytest.fixture(scope="session")
def masker(content_root) -> BrainMasker:
    """deepbet with the run's disk cache of brain masks (the tests of baselines and utility, and the commands
    the tests run: :func:`content_cache`)."""
    return BrainMasker(cache=content_root)


@pytest.fixture(scope="session")
def template_img() -> nib.Nifti1Image:
    return nib.load(template_paths()[0])


@pytest.fixture(scope="session")
def oblique_img(template_img) -> nib.Nifti1Image:
    return oblique_copy(template_img)


#: Cache stages keyed by the content of a volume (and the code and config that made the entry): deepbet's
#: brain masks and their first stage, and the template registrations. Every command of a test session may
#: share them.
CONTENT_KEYED = ("brainmask", "brainmask-coarse", "registration")

#: The small synthetic cohort the end-to-end scoring tests share (tests/scoring, tests/cli/test_devkit.py).
SMALL_SYNTHETIC = {"n_persons": 10, "sessions": 2, "photos": 2}


@pytest.fixture(scope="session")
def content_cache(content_root):
    """``content_cache(cache_dir)``: ``cache_dir`` (a run's ``paths.cache_dir``) made with its content-keyed
    stages linked to :func:`content_root`, so no test runs deepbet or a registration on a volume another
    test already did; returns ``cache_dir``."""

    def link(cache_dir: Path) -> Path:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for stage in CONTENT_KEYED:
            (content_root / stage).mkdir(exist_ok=True)
            (cache_dir / stage).symlink_to(content_root / stage, target_is_directory=True)
        return cache_dir

    return link


@pytest.fixture(scope="session")
def small_synthetic(content_root):
    """``small_synthetic(datasets_dir)``: a copy of the generated :data:`SMALL_SYNTHETIC` cohort in
    ``datasets_dir`` (a run's ``dataset.cache_dir``; the cohort is generated once per test run, by the
    first worker that needs it); returns the overrides that select it."""
    shared = content_root.parent / f"{content_root.name}-small-synthetic"
    shared.mkdir(exist_ok=True)
    with file_lock(shared / ".lock"):
        root = SyntheticCohort(**SMALL_SYNTHETIC, cache_dir=str(shared)).materialise(progress=False)

    def copy(datasets_dir: Path) -> list[str]:
        shutil.copytree(root, datasets_dir / root.name)
        return [f"dataset.{k}={v}" for k, v in SMALL_SYNTHETIC.items()] + [f"dataset.cache_dir={datasets_dir}"]

    return copy

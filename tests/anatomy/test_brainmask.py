"""deepbet's preprocessing helpers: exact replacements must give torch's numbers bit for bit."""

import pytest
import torch

from benchmark.anatomy.brainmask import sorted_quantiles


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001, 64**3])
@pytest.mark.parametrize("kind", ["continuous", "ties", "few levels"])
def test_sorted_quantiles_equal_torch_quantile(n, kind):
    x = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 100
    if kind == "ties":
        x = torch.round(x)
    elif kind == "few levels":
        x = torch.abs(x).floor() % 7
    qs = (0.0, 0.005, 0.3, 0.5, 0.995, 1.0)
    got = sorted_quantiles(x.reshape(-1, 1) if n > 1 else x, qs)
    for q, value in zip(qs, got):
        assert torch.equal(value, x.quantile(q)), (q, value, x.quantile(q))


def test_probability_equals_deepbets_own_run_model():
    """_probability re-implements deepbet 1.0.2's run_model (its quantiles by selection): same numbers, same box."""
    import numpy as np

    from benchmark.anatomy.brainmask import _deepbet, _probability
    from benchmark.anatomy.template import template_image

    canonical = np.asarray(template_image().dataobj, dtype=np.float32)[::2, ::2, ::2].copy()  # RAS, 2 mm
    bet = _deepbet(True)
    expected = bet.run_model(canonical.copy())
    prob, bbox = _probability(canonical)
    assert np.array_equal(prob, expected) and bbox == bet.bbox
    assert (prob > 0.5).sum() > 10_000  # a brain was found: the comparison is not of two empty masks


def test_a_volumes_mask_and_its_coarse_brain_run_the_first_stage_once(tmp_path):
    """The anatomy attack's coarse_brain reads deepbet's first stage from the cache a full mask of the same
    volume filled (and the other way round), with the figures it computes alone."""
    import nibabel as nib
    import numpy as np

    from benchmark.anatomy.brainmask import COARSE_STAGE, BrainMasker, coarse_brain
    from benchmark.anatomy.template import template_image
    from benchmark.core.cache import DiskCache

    t = template_image()
    img = nib.Nifti1Image(np.asarray(t.dataobj)[::2, ::2, ::2].copy(), t.affine @ np.diag([2.0, 2.0, 2.0, 1.0]))
    cache = DiskCache(tmp_path)
    BrainMasker(cache=cache)(img)
    assert len(list((tmp_path / COARSE_STAGE).iterdir())) == 1
    hits = cache.hits
    mask, grid = coarse_brain(img, cache=cache)
    assert cache.hits == hits + 1  # read, not computed
    alone, grid_alone = coarse_brain(img)
    assert np.array_equal(mask, alone) and np.array_equal(grid, grid_alone) and mask.sum() > 1000

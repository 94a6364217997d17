"""DET and linkability figures: PNG and SVG written atomically, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.metrics import det_plot, det_points, linkability_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scores(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(1.5, 1, 300), rng.normal(0, 1, 900)


@pytest.mark.parametrize("plot", [det_plot, linkability_plot], ids=lambda f: f.__name__)
def test_plot_writes_png_and_svg_and_nothing_else(plot, tmp_path):
    m, n = scores()
    out = plot(m, n, tmp_path / "sub" / "figure.png")  # the suffix is replaced, the folder created
    assert out == [tmp_path / "sub" / "figure.png", tmp_path / "sub" / "figure.svg"]
    assert out[0].read_bytes().startswith(PNG_MAGIC)
    assert "<svg" in out[1].read_text()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["figure.png", "figure.svg"]  # no temp files


def test_det_plot_label_in_svg(tmp_path):
    m, n = scores(1)
    det_plot(m, n, tmp_path / "det", label="quickshear")
    assert "quickshear" in (tmp_path / "det.svg").read_text()


def test_det_points_hand_computed():
    # thresholds accept scores >= tau: below all (Pfa 1, Pmiss 0), then above 0, 1, 2, 3
    pfa, pmiss = det_points([1, 3], [0, 2])
    np.testing.assert_allclose(pfa, [1, 0.5, 0.5, 0, 0])
    np.testing.assert_allclose(pmiss, [0, 0, 0.5, 0.5, 1])


def test_plots_refuse_bad_scores(tmp_path):
    m, n = scores()
    with pytest.raises(BenchmarkError, match="empty"):
        det_plot([], n, tmp_path / "x")
    with pytest.raises(BenchmarkError, match="infinite"):
        linkability_plot(np.r_[m, np.inf], n, tmp_path / "x")
    assert not any(tmp_path.iterdir())


def test_cmc_plot_writes_png_and_svg(tmp_path):
    from benchmark.metrics import cmc_plot

    rng = np.random.default_rng(2)
    ids = np.arange(8)
    s = rng.normal(0, 1, (8, 16)) + 2.0 * (ids[:, None] == (np.arange(16) % 8)[None, :])
    out = cmc_plot(s, ids, np.arange(16) % 8, tmp_path / "cmc", label="quickshear")
    assert out[0].read_bytes().startswith(PNG_MAGIC)
    assert "quickshear" in out[1].read_text()

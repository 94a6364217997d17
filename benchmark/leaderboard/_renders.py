"""Renders for a submission's page: a few persons of the split, original above defaced, each pair from the
original's head pose (as the attacks render them, :func:`benchmark.render.render_volume`).

A render of a face is biometric data: they are made only for the synthetic cohort (no real person,
:attr:`benchmark.data.prepared.Prepared.synthetic`) or when ``tracking.log_biometric_artifacts`` is true;
for any other cohort nothing is rendered or written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import config_hash, sha256_file, write_bytes
from benchmark.core.provenance import code_hash
from benchmark.data.prepared import Prepared
from benchmark.data.synthetic import png_bytes
from benchmark.data.volume import load_volume
from benchmark.leaderboard._artifacts import RENDERS
from benchmark.render import View, estimate_pose, render_volume
from benchmark.submission.format import volume_path

TILE = 192  # pixels


def render_pairs(prepared: Prepared, split: str, n: int) -> list[tuple[str, Path]]:
    """(pseudonym, original scan) of the split's first ``n`` trial volumes of distinct persons."""
    out, seen = [], set()
    for v in sorted((v for v in prepared.splits.volumes if v.split == split and v.role == "trial"),
                    key=lambda v: v.pseudonym):
        if v.participant_id not in seen and len(out) < n:
            seen.add(v.participant_id)
            out.append((v.pseudonym, prepared.dataset.session(v.participant_id, v.session_id).path))
    return out


def _tile(img, pose) -> np.ndarray:
    from PIL import Image

    rgb = render_volume(img, View(size=256), pose=pose).to_uint8_rgb()
    return np.asarray(Image.fromarray(rgb).resize((TILE, TILE), Image.LANCZOS))


def _column(original: Path, defaced: Path, max_voxels: int) -> np.ndarray:
    """The original's render above the defaced volume's, both from the original's head pose; a labelled
    grey pair where a volume cannot be read or rendered (the page shows it, the run goes on)."""
    from PIL import Image, ImageDraw

    try:
        img = load_volume(original, max_voxels, canonical=False)
        pose = estimate_pose(img)
        return np.concatenate([_tile(img, pose), _tile(load_volume(defaced, max_voxels, canonical=False), pose)], 0)
    except BenchmarkError as exc:
        tile = Image.new("RGB", (TILE, 2 * TILE), (90, 90, 90))
        ImageDraw.Draw(tile).multiline_text((6, 6), "could not render:\n" + str(exc)[:60], fill=(255, 255, 255))
        return np.asarray(tile)


def write_renders(prepared: Prepared, submission: Path, out_dir: Path, split: str, n: int, real_allowed: bool,
                  max_voxels: int, cache_dir: str | Path | None = None) -> list[Path]:
    """``out_dir/renders/<split>/defaced_beside_original.png`` (top row the originals, bottom row the
    submitted volumes) for ``n`` persons of ``split``; nothing unless the cohort is synthetic or
    ``real_allowed`` (``tracking.log_biometric_artifacts``). Returns the files written. With ``cache_dir``
    and a synthetic cohort, the picture is kept by the content of its volumes and the rendering code
    (``<cache_dir>/renders/``), so a rerun copies it; renders of real persons are never kept."""
    if n <= 0 or not (prepared.synthetic or real_allowed):
        return []
    pairs = render_pairs(prepared, split, n)
    if not pairs:
        return []
    columns = [(orig, volume_path(submission, vid)) for vid, orig in pairs]
    target = out_dir / RENDERS / split / "defaced_beside_original.png"
    kept = None
    if cache_dir is not None and prepared.synthetic:
        files = [sha256_file(p) if p.is_file() else str(p) for pair in columns for p in pair]
        kept = Path(cache_dir) / RENDERS / f"{config_hash([files, TILE, max_voxels, code_hash(__name__)])}.png"
        if kept.is_file():
            return [write_bytes(target, kept.read_bytes())]
    data = png_bytes(np.concatenate([_column(orig, defaced, max_voxels) for orig, defaced in columns], 1))
    if kept is not None:
        write_bytes(kept, data)
    return [write_bytes(target, data)]

#!/usr/bin/env python
"""Time the face attack on a 256^3 volume: load, render per view, detection+embedding per view, and the
ratio of the whole per-volume attack to the time of reading the volume (issue 3, item 8).

By default the volume is pydeface's mean template head (``pydeface/data/mean_reg2mean.nii.gz``, an
average of many heads, no real person) resampled to 256^3 and written as a temporary ``.nii.gz``;
``--source PATH`` uses another NIfTI (resampled the same way). Nothing is written outside a temporary
folder that is removed at the end; no render is saved.

Targets: render <= 0.1 s per 256x256 view; whole default attack <= 3x the load time.

    .venv/bin/python scripts/bench_attack.py [--attack arcface] [--source PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def template_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pydeface")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "mean_reg2mean.nii.gz"


def make_256(source: Path, out: Path, size: int = 256) -> Path:
    """Resample ``source`` (same field of view) to ``size``^3 voxels, int16, and save it to ``out``."""
    from scipy.ndimage import zoom

    img = nib.load(source)
    data = np.asanyarray(img.dataobj).astype(np.float32)
    factors = [size / s for s in data.shape[:3]]
    resampled = zoom(data, factors, order=1)
    affine = img.affine.copy()
    affine[:3, :3] = img.affine[:3, :3] / np.array(factors)[None, :]
    nib.save(nib.Nifti1Image(np.clip(resampled, -32768, 32767).astype(np.int16), affine), out)
    return out


def timed(fn, repeats: int):
    """(median seconds, last result) over ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attack", default="arcface")
    ap.add_argument("--source", type=Path, default=None, help="NIfTI to resample (default: pydeface template)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from benchmark.attacks import get_attack
    from benchmark.render import View, estimate_pose_prepared, prepare_volume, render_views

    with tempfile.TemporaryDirectory() as tmp:
        path = make_256(args.source or template_path(), Path(tmp) / "vol256.nii.gz")
        print(f"volume: {path.name} 256^3 from {(args.source or template_path()).name}, "
              f"{path.stat().st_size / 2**20:.1f} MiB; torch threads {torch.get_num_threads()}")

        t_load, _ = timed(lambda: nib.load(path).get_fdata(), args.repeats)
        print(f"load (nibabel load + get_fdata):        {t_load:7.3f} s")

        t0 = time.perf_counter()
        attack = get_attack(args.attack, use_cache=False).prepare()
        print(f"model load (once per process):          {time.perf_counter() - t0:7.3f} s  [{args.attack}]")
        views = [View(**v) for v in attack.views]

        img = nib.load(path)
        t_prep, prep = timed(lambda: prepare_volume(nib.load(path)), args.repeats)
        t_pose, pose = timed(lambda: estimate_pose_prepared(prep), args.repeats)
        render_views(prep, views, pose=pose)  # warm-up
        t_render, renders = timed(lambda: render_views(prep, views, pose=pose), args.repeats)
        per_view = t_render / len(views)
        print(f"render: prepare volume (per volume):    {t_prep:7.3f} s")
        print(f"render: head pose (per volume):         {t_pose:7.3f} s")
        print(f"render: ray cast + shade, per view:     {per_view:7.3f} s  "
              f"({views[0].size}x{views[0].size}; target <= 0.1 s: {'ok' if per_view <= 0.1 else 'MISSED'})")

        frames = [(r.to_uint8_rgb(), r.landmarks5) for r in renders]
        bgr = np.ascontiguousarray(frames[0][0][:, :, ::-1])
        t_det, _ = timed(lambda: attack.detect(frames[0][0], bgr), args.repeats)
        t_emb, embs = timed(lambda: [attack.embed_image(f, k) for f, k in frames], args.repeats)
        print(f"detection, per view:                    {t_det:7.3f} s")
        print(f"detection + embedding, per view:        {t_emb / len(frames):7.3f} s  "
              f"(face detected in {sum(e.detected for e in embs)}/{len(embs)} views)")

        attack.embed_volume_file(path)  # warm-up
        t_whole, _ = timed(lambda: attack.embed_volume_file(path), args.repeats)
        t_nl = t_whole - t_load
        ratio = t_whole / t_load
        print(f"whole attack per volume (cache off):    {t_whole:7.3f} s  "
              f"(embed_volume_file: hash, load + checks, render {len(views)} view(s), detect, embed)")
        print(f"  of which beyond the load:             {t_nl:7.3f} s")
        print(f"ratio whole attack / load:              {ratio:7.2f}    (target <= 3: {'ok' if ratio <= 3 else 'MISSED'})")
        del img
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

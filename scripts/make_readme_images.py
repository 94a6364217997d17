#!/usr/bin/env python
"""Regenerate docs/img/synthetic_people.png: three synthetic people, MRI render above one photograph each.

    python scripts/make_readme_images.py [--out docs/img/synthetic_people.png] [--size 160]

The people come from the default synthetic cohort (seed 0): the first woman, the first man without a
beard and the first bearded man among the first 30 people. The top row is the frontal render of
session 1 exactly as the attacks see it (``benchmark.render.render_volume`` with the estimated head
pose); the bottom row is the person's first photograph.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.data import synthetic as syn  # noqa: E402


def pick_people(cfg: syn.SyntheticCohort, search: int = 30) -> list[int]:
    people = [syn.draw_person(cfg, i) for i in range(search)]
    woman = next(p.index for p in people if p.sex == "F")
    man = next(p.index for p in people if p.sex == "M" and not p.beard)
    bearded = next((p.index for p in people if p.beard), None)
    return [woman, man] + ([bearded] if bearded is not None else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "synthetic_people.png")
    ap.add_argument("--size", type=int, default=160, help="pixels per tile")
    args = ap.parse_args()

    import nibabel as nib
    from PIL import Image

    from benchmark.io import write_bytes
    from benchmark.render import View, render_volume

    cfg = syn.SyntheticCohort()
    idx = pick_people(cfg)
    top, bottom = [], []
    with tempfile.TemporaryDirectory() as tmp, syn.single_threaded_torch():
        root = Path(tmp)
        for i in idx:
            syn.generate_person(cfg, i, root)
            pid = syn.participant_id(i)
            img = nib.load(str(root / pid / "ses-1" / "anat" / f"{pid}_ses-1_T1w.nii.gz"))
            render = render_volume(img, View(size=256)).to_uint8_rgb()
            photo = np.asarray(Image.open(root / pid / "photo" / f"{pid}_photo-1.png").convert("RGB"))
            tile = (args.size, args.size)
            top.append(np.asarray(Image.fromarray(render).resize(tile, Image.LANCZOS)))
            bottom.append(np.asarray(Image.fromarray(photo).resize(tile, Image.LANCZOS)))
    strip = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    write_bytes(args.out, syn.png_bytes(strip))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): people {[syn.participant_id(i) for i in idx]}")


if __name__ == "__main__":
    main()

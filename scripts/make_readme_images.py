#!/usr/bin/env python
"""Regenerate the README pictures.

    python scripts/make_readme_images.py [--out docs/img/synthetic_people.png] [--size 160]
    python scripts/make_readme_images.py --defacing [--out docs/img/defacing.png] [--size 160]
    python scripts/make_readme_images.py --leaderboard leaderboard [--submission team/system] [--out docs/img]

``synthetic_people.png``: three synthetic people, MRI render above one photograph each.
``defacing.png`` (``--defacing``): one synthetic person and the template head (pydeface's mean head, an
average of many heads: no real person), rendered as the attacks see them, original and after each
defacing baseline. No real person's face is rendered into this repository, even from openly licensed
test data: a render of a face is biometric data. Every render of a volume uses the original's head pose, so the columns differ
only by what the baseline did.
``leaderboard_page.png`` and ``submission_page.png`` (``--leaderboard SITE``): the main page of a built
leaderboard (trade-off plot and table) and one submission's page (default: the first ranked), as headless
chromium shows them (:func:`benchmark.leaderboard.page_screenshots`, which ``tests/leaderboard`` runs too).
Take them from a run on the synthetic cohort only: a submission page shows renders of the cohort's persons.

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


BASELINES = ["none", "quickshear", "facemask", "blur", "refacing", "erase"]


def defacing_figure(out: Path, size: int) -> None:
    """Rows: a synthetic person, the template head; columns: original and each baseline's output."""
    import nibabel as nib
    from PIL import Image, ImageDraw

    from baselines import get_baseline
    from benchmark.core.files import write_bytes
    from benchmark.anatomy.template import template_paths
    from benchmark.render import View, estimate_pose, render_volume

    cfg = syn.SyntheticCohort()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, syn.single_threaded_torch():
        i = pick_people(cfg)[1]
        syn.generate_person(cfg, i, Path(tmp))
        pid = syn.participant_id(i)
        for path in (Path(tmp) / pid / "ses-1" / "anat" / f"{pid}_ses-1_T1w.nii.gz", template_paths()[0]):
            img = nib.load(str(path))
            pose = estimate_pose(img)
            tiles = []
            for name in BASELINES:
                defaced = get_baseline(name).anonymize(img)
                render = render_volume(defaced, View(size=256), pose=pose).to_uint8_rgb()
                tile = Image.fromarray(render).resize((size, size), Image.LANCZOS)
                ImageDraw.Draw(tile).text((4, 4), "original" if name == "none" else name, fill=(255, 255, 0))
                tiles.append(np.asarray(tile))
            rows.append(np.concatenate(tiles, 1))
    write_bytes(out, syn.png_bytes(np.concatenate(rows, 0)))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): rows {pid}, the template head")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--size", type=int, default=160, help="pixels per tile")
    ap.add_argument("--defacing", action="store_true", help="write docs/img/defacing.png instead")
    ap.add_argument("--leaderboard", type=Path, help="screenshot this leaderboard folder's pages into docs/img/")
    ap.add_argument("--submission", help="team/system whose page to show (default: the first ranked)")
    args = ap.parse_args()
    if args.leaderboard:
        import json

        from benchmark.leaderboard import page_screenshots

        rows = json.loads((args.leaderboard / "leaderboard.json").read_text())["rows"]
        who = args.submission or next(r["submission"] for r in rows if r["rank"] == 1)
        return print(*page_screenshots(args.leaderboard, who, args.out or ROOT / "docs" / "img"), sep="\n")
    if args.defacing:
        return defacing_figure(args.out or ROOT / "docs" / "img" / "defacing.png", args.size)
    args.out = args.out or ROOT / "docs" / "img" / "synthetic_people.png"

    import nibabel as nib
    from PIL import Image

    from benchmark.core.files import write_bytes
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

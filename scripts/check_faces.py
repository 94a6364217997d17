"""Face detection on each head scan before and after each baseline, and how much each changes the face.

For the synthetic template head and every real scan under ``$BENCHMARK_REAL_MRI``: whether each
attack's detector finds a face in its default views at its own threshold (``det``, per attack) and
the detector's best score at any threshold (``score``); then, per baseline, the same after defacing,
the ArcFace cosine similarity between the original's and the defaced copy's renders (``cos``: how much
of the face survives; compare a real scan's with the template's), and the brain Dice of
:func:`benchmark.anatomy.preservation.brain_preservation`. A baseline that refuses a scan prints its
error. Nothing is written: renders of real people stay in memory.

    python scripts/check_faces.py [--scans sub-A sub-C] [--baselines blur facemask] [--attacks arcface dlib]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from baselines import get_baseline  # noqa: E402
from benchmark.anatomy.preservation import brain_preservation  # noqa: E402
from benchmark.anatomy.template import template_paths  # noqa: E402
from benchmark.attacks import get_attack  # noqa: E402
from benchmark.core.errors import BenchmarkError  # noqa: E402
from benchmark.data.volume import load_volume  # noqa: E402
from benchmark.render import View, render_views  # noqa: E402


def best_score(attack, img) -> float:
    rgb = render_views(img, [View()])[0].to_uint8_rgb()
    faces = attack._detector().get(np.ascontiguousarray(rgb[..., ::-1]), det_thresh=0.05, max_num=1)
    return float(faces[0].score) if faces else 0.0


def describe(attacks, img, reference=None) -> str:
    """Detection per attack, the first attack's best score, and its cosine to ``reference``."""
    embs = {name: attack.embed_volume(img) for name, attack in attacks.items()}
    first = next(iter(attacks))
    line = " ".join(f"{name}={'FACE' if e.detected else 'none'}" for name, e in embs.items())
    line += f" score={best_score(attacks[first], img):.2f}"
    if reference is not None:
        line += f" cos={float(reference.vector @ embs[first].vector):.2f}"
    return line, embs[first]


def items(scans: list[str] | None) -> list[tuple[str, Path]]:
    out = [("template", Path(template_paths()[0]))]
    root = os.environ.get("BENCHMARK_REAL_MRI")
    for p in sorted(Path(root).glob("sub-*/ses-*/anat/*.nii*")) if root else []:
        label = f"{p.parts[-4]}/{p.parts[-3]}"
        if not scans or any(label.startswith(s) for s in scans):
            out.append((label, p))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", nargs="*", default=None)
    ap.add_argument("--baselines", nargs="*", default=["quickshear", "facemask", "blur", "refacing", "erase"])
    ap.add_argument("--attacks", nargs="+", default=["arcface"])
    args = ap.parse_args(argv)
    attacks = {a: get_attack(a, use_cache=False).prepare() for a in args.attacks}
    baselines = {b: get_baseline(b) for b in args.baselines}
    for label, path in items(args.scans):
        img = load_volume(path)
        line, reference = describe(attacks, img)
        print(f"{label:20s} {'original':10s} {line}", flush=True)
        for name, baseline in baselines.items():
            try:
                out = nib.as_closest_canonical(baseline.anonymize(img))
            except BenchmarkError as err:
                print(f"{'':20s} {name:10s} refused: {err}", flush=True)
                continue
            line, _ = describe(attacks, out, reference)
            dice = brain_preservation(img, out)["brain_dice"]
            print(f"{'':20s} {name:10s} {line} dice={dice:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

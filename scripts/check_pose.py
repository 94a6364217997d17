"""Head-frame invariance check: pose of each scan against the same scan re-saved, rescaled, noised, cut
and rotated.

For every scan (the real ones under ``$BENCHMARK_REAL_MRI`` and the synthetic template head) the pose
is estimated as scoring does (``benchmark.data.volume.load_volume`` then ``benchmark.render``), then
again on variants whose world transform is known; the table gives, per variant, the surface
threshold, the head radius, the distance between the centres (mm) and the angles between the forward
and up axes (degrees) after mapping the original frame by the known transform. Pairs of scans of one
head in one posture (sub-C's two reconstructions) are compared directly.

    python scripts/check_pose.py [--scans sub-C sub-D] [--variants lia256 x100 ...] [--synthetic]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from benchmark.data.volume import load_volume  # noqa: E402
from benchmark.render import estimate_pose, prepare_volume  # noqa: E402
from tests.helpers import as_loaded, frame_difference, head_variants  # noqa: E402



def pose_of(img: nib.Nifti1Image):
    prep = prepare_volume(img)
    return prep.threshold, estimate_pose(prep)


def scans(root: Path, names: list[str] | None) -> list[tuple[str, Path]]:
    out = []
    for p in sorted(root.glob("sub-*/ses-*/anat/*.nii*")):
        label = f"{p.parts[-4]}/{p.parts[-3]}"
        if not names or any(label.startswith(n) for n in names):
            out.append((label, p))
    return out


def row(label, variant, thr, pose, diff):
    dc, df, du = diff if diff is not None else (float("nan"),) * 3
    print(f"{label:22s} {variant:10s} thr={thr:10.4g} radius={pose.radius:6.1f} conf={pose.confidence:4.2f} "
          f"dcentre={dc:6.1f} mm dforward={df:6.1f} deg dup={du:6.1f} deg", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", nargs="*", default=None, help="label prefixes, e.g. sub-C sub-D/ses-1")
    ap.add_argument("--variants", nargs="*", default=None, help="names from tests.helpers.head_variants (default: all)")
    ap.add_argument("--synthetic", action="store_true", help="also the synthetic template head")
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args(argv)
    items = []
    if args.synthetic:
        from benchmark.render.atlas import template_path

        items.append(("template", Path(str(template_path()))))
    root = os.environ.get("BENCHMARK_REAL_MRI")
    if root and not args.no_real:
        items += scans(Path(root), args.scans)
    poses = {}
    for label, path in items:
        img = load_volume(path)
        t0 = time.time()
        thr, pose = pose_of(img)
        poses[label] = pose
        row(label, "orig", thr, pose, None)
        for name, (var, world) in head_variants(nib.load(str(path)), args.variants).items():
            thr_v, pose_v = pose_of(as_loaded(var))
            row(label, name, thr_v, pose_v, frame_difference(pose, pose_v, world))
        print(f"# {label}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    if "sub-C/ses-1" in poses and "sub-C/ses-2" in poses:
        a, b = poses["sub-C/ses-1"], poses["sub-C/ses-2"]
        row("sub-C ses-1 vs ses-2", "pair", float("nan"), b, frame_difference(a, b, np.eye(4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

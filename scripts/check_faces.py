"""Face detection on each head scan, and how much the ``blur`` baseline changes the face.

For the synthetic template head and every real scan under ``$BENCHMARK_REAL_MRI``: whether the
``arcface`` attack's detector finds a face in the default (frontal) view at its own threshold (and
its best score), then, with ``--blur``, the ArcFace cosine similarity between the original's and the
blurred copy's renders, whether a face is still detected, and the fraction of the registered face
region's voxels changed by more than 5% of the head's median intensity. Nothing is written: renders
of real people stay in memory.

    python scripts/check_faces.py [--scans sub-A sub-C] [--blur [--set noise_sigma_mm=2]] [--no-real]
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
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from baselines.base import head_mask  # noqa: E402
from benchmark.anatomy.template import face_patch, template_paths  # noqa: E402
from benchmark.attacks.arcface import ArcFaceAttack  # noqa: E402
from benchmark.render import View, render_views  # noqa: E402


def best_score(attack: ArcFaceAttack, img) -> float:
    rgb = render_views(img, [View()])[0].to_uint8_rgb()
    faces = attack._detector().get(np.ascontiguousarray(rgb[..., ::-1]), det_thresh=0.05, max_num=1)
    return float(faces[0].score) if faces else 0.0


def face_change(img: nib.Nifti1Image, out: np.ndarray) -> float:
    """Fraction of the face region's head voxels changed by more than 5% of the median head intensity."""
    x = np.asarray(img.dataobj, dtype=np.float32)
    patch = face_patch(img)
    face = np.zeros(x.shape, bool)
    face[patch.box] = patch.face > 0.5
    head = head_mask(x)
    face &= head
    level = float(np.median(x[head]))
    return float((np.abs(out - x)[face] > 0.05 * level).mean()) if face.any() else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", nargs="*", default=None)
    ap.add_argument("--blur", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], help="Blur options, e.g. noise_sigma_mm=2")
    args = ap.parse_args(argv)
    attack = ArcFaceAttack(use_cache=False).prepare()
    blur = instantiate(OmegaConf.merge(OmegaConf.load(REPO / "conf" / "baseline" / "blur.yaml"),
                                       OmegaConf.from_dotlist(args.set)))
    items = [("template", Path(template_paths()[0]))]
    root = os.environ.get("BENCHMARK_REAL_MRI")
    if root and not args.no_real:
        for p in sorted(Path(root).glob("sub-*/ses-*/anat/*.nii*")):
            label = f"{p.parts[-4]}/{p.parts[-3]}"
            if not args.scans or any(label.startswith(s) for s in args.scans):
                items.append((label, p))
    for label, path in items:
        img = nib.load(str(path))
        emb = attack.embed_volume(img)
        line = f"{label:20s} detected={emb.detected!s:5s} score={best_score(attack, img):.2f}"
        if args.blur:
            out = blur.deface(img)
            blurred = nib.Nifti1Image(out.astype(np.float32), img.affine)
            emb_b = attack.embed_volume(blurred)
            cos = float(emb.vector @ emb_b.vector)
            line += (f" | blur: cosine={cos:.2f} detected={emb_b.detected!s:5s} score={best_score(attack, blurred):.2f}"
                     f" face_voxels_changed={face_change(img, out):.2f}")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

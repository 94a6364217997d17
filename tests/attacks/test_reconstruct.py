"""The attacker's ``fill``: a face cut away by defacing is painted back from the template head."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from baselines import get_baseline
from benchmark.attacks.reconstruct import FaceFill
from benchmark.anatomy.template import register_template, template_image


@pytest.fixture(scope="module")
def head():
    # the template head at 2 mm, shifted and turned so that registration has work to do
    img = template_image()
    data = np.asarray(img.dataobj, np.float32)[::2, ::2, ::2]
    affine = img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    turn = np.eye(4)
    a = np.deg2rad(6)
    turn[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    turn[:3, 3] = [3.0, -4.0, 2.0]
    return nib.Nifti1Image(data, turn @ affine)


def test_fill_restores_a_removed_face_and_keeps_the_rest(head):
    defaced = get_baseline("facemask").anonymize(head)
    filled = FaceFill()(defaced)
    assert filled.shape == head.shape and np.allclose(filled.affine, head.affine)
    x0 = np.asarray(head.dataobj, np.float32)
    xd = np.asarray(defaced.dataobj, np.float32)
    xf = np.asarray(filled.dataobj, np.float32)
    face = register_template(head).facemask_on_subject.get_fdata() > 0.5
    removed = face & (x0 > 0.2 * np.percentile(x0[x0 > 0], 90)) & (xd == 0)
    assert removed.sum() > 500  # the face mask did cut tissue away
    # the filled face is tissue again and close to the original face (the template is the original here)
    assert np.mean(xf[removed] > 0) > 0.9
    err_defaced = np.mean(np.abs(xd[removed] - x0[removed]))
    err_filled = np.mean(np.abs(xf[removed] - x0[removed]))
    assert err_filled < 0.5 * err_defaced
    # the head outside the face region is kept exactly
    kept = ~face & (xd > 0.2 * np.percentile(xd[xd > 0], 90))
    assert kept.sum() > 10_000 and np.array_equal(xf[kept], xd[kept])


def test_fill_leaves_an_intact_face_alone(head):
    filled = FaceFill()(head)
    x0 = np.asarray(head.dataobj, np.float32)
    xf = np.asarray(filled.dataobj, np.float32)
    changed = np.abs(xf - x0) > 1e-3 * x0.max()
    assert changed.mean() < 0.001


@pytest.fixture(scope="module")
def person():
    """A synthetic person's scan: a face that is not the template's (nose, lips, chin, brows differ)."""
    from benchmark.data.synthetic import PersonModel, SyntheticCohort, draw_person, draw_session, session_image

    cfg = SyntheticCohort(n_persons=4, seed=7)
    return session_image(cfg, PersonModel(draw_person(cfg, 1)), draw_session(cfg, 1, 1), np.random.default_rng(0))


def test_fill_passes_a_real_looking_intact_face_through(person):
    # the template misfits an intact face by millimetres everywhere (a longer nose, thinner lips): no fill
    x0 = np.asarray(person.dataobj, np.float32)
    xf = np.asarray(FaceFill()(person).dataobj, np.float32)
    head = x0 > 0.2 * np.percentile(x0[x0 > 0], 90)
    changed = np.abs(xf - x0) > 0.05 * x0.max()
    assert changed.sum() < 0.002 * head.sum()


@pytest.mark.parametrize("name", ["facemask", "quickshear"])
def test_fill_restores_the_cut_face_of_a_person(person, name):
    defaced = get_baseline(name).anonymize(person)
    x0 = np.asarray(person.dataobj, np.float32)
    xd = np.asarray(defaced.dataobj, np.float32)
    xf = np.asarray(FaceFill()(defaced).dataobj, np.float32)
    level = 0.2 * np.percentile(x0[x0 > 0], 90)
    removed = (x0 > level) & (xd <= level)
    assert removed.sum() > 2000  # the defacing cut tissue away
    face = register_template(person).facemask_on_subject.get_fdata() > 0.5
    # most of the removed face is tissue again (pydeface's template ends at the lips: no chin to paint)
    assert np.mean(xf[removed & face] > level) > 0.6


@pytest.mark.parametrize("name", ["none", "facemask"])
def test_a_fill_attack_renders_a_volume_the_fill_leaves_as_it_is_once(person, name, tmp_path, monkeypatch):
    """A lazy-informed (fill) attack takes the plain attack's embedding, through its cache, exactly when the
    fill leaves the volume as it is; a volume with its face cut away is filled and embedded on its own."""
    from benchmark.attacks import get_attack
    from benchmark.attacks.base import Attack, clear_process_memos
    from benchmark.data.volume import load_volume, save_volume

    vol = person if name == "none" else get_baseline(name).anonymize(person)
    path = save_volume(vol, tmp_path / "v.nii.gz")
    img = load_volume(path)
    assert (FaceFill()(img) is img) == (name == "none")  # the fill leaves the intact face as it is
    clear_process_memos()
    rendered = []
    real = Attack._render_views
    monkeypatch.setattr(Attack, "_render_views", lambda self, img: rendered.append(self.fill) or real(self, img))
    cache = str(tmp_path / "cache")
    filled = get_attack("arcface", fill=True, cache_root=cache).embed_volume_file(path)
    plain_attack = get_attack("arcface", cache_root=cache)
    plain = plain_attack.embed_volume_file(path)
    if name == "none":
        assert rendered == [False] and plain_attack.cache.hits == 1  # rendered once, by the plain attack
        assert np.array_equal(filled.vector, plain.vector)
    else:
        assert rendered == [True, False] and plain_attack.cache.hits == 0
        assert not np.array_equal(filled.vector, plain.vector)

"""The semi-informed attacker's adaptation (benchmark.attacks.adapt) on synthetic embeddings: no rendering.

A pool of persons with an identity vector each; the "anonymisation" moves every face by one common
offset and adds noise. The back end must see through the offset (mean shift), keep the pretrained
recogniser among its candidates, and be deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.attacks.adapt import SemiInformedAttack
from benchmark.attacks.adapt.backend import (ANONYMISED, ORIGINAL, PHOTO, BackendScorer, PoolItem, fit_backend,
                                     fit_selected, folds_of, pool_trials, select, train_head)
from benchmark.attacks.arcface import ArcFaceAttack
from benchmark.attacks.base import Embedding, l2_normalise
from benchmark.core.config import AdaptConfig, FinetuneConfig


def _pool(n_persons=12, dim=32, offset=1.5, noise=0.35, seed=0):
    rng = np.random.default_rng(seed)
    ids = l2_normalise(rng.normal(size=(n_persons, dim)))
    shift = offset * l2_normalise(rng.normal(size=dim))
    items = []
    for k in range(n_persons):
        person = f"p{k:02d}"
        for ses in ("1", "2"):
            for domain, extra in ((ORIGINAL, 0.0), (ANONYMISED, shift)):
                views = l2_normalise(ids[k] + extra + noise * rng.normal(size=(3, dim)))
                t = Embedding(vector=l2_normalise(views[0]), detected=True)
                items.append(PoolItem(person, ses, domain, t, views))
        photos = l2_normalise(ids[k] + noise * rng.normal(size=(3, dim)))
        items.append(PoolItem(person, "", PHOTO, Embedding(vector=l2_normalise(photos.mean(0)), detected=True,
                                                           views=photos), photos))
    return items


def _inner():
    return ArcFaceAttack(use_cache=False)


def _cfg(**kw):
    ft = FinetuneConfig(epochs=kw.pop("epochs", 10), eval_every=5)
    return AdaptConfig(finetune=ft, **kw)


def test_folds_partition_the_persons():
    persons = [f"p{k:02d}" for k in range(12)]
    folds = folds_of(persons, 3, seed=0)
    assert sorted(p for f in folds for p in f) == persons and len(folds) == 3
    assert folds == folds_of(persons, 3, seed=0)


def test_pool_trials_follow_the_scorer():
    items = _pool(n_persons=3)
    trials = pool_trials(items, {"p00", "p01", "p02"})
    for i, j, mated in trials["mri2mri"]:
        e, t = items[i], items[j]
        assert e.domain == ORIGINAL and t.domain == ANONYMISED and mated == (e.person == t.person)
        assert not (mated and e.session == t.session)  # never a scan against its own anonymised copy
    assert sum(m for *_, m in trials["mri2mri"]) == 6 and sum(m for *_, m in trials["photo2mri"]) == 6


def test_pretrained_backend_is_the_inner_attack():
    items = _pool(n_persons=4)
    inner = _inner()
    scorer = BackendScorer(inner, fit_backend(items, shift=False, snorm=False))
    e, t = items[0].template, items[3].template
    assert scorer.score(e, t, ORIGINAL) == pytest.approx(inner.similarity(e, t))


def test_snorm_scores_each_cohort_once_per_enrollment_and_per_trial():
    """S-norm's cohort scores are the costly part (one comparison each, an ICP fit for ``shape``): each
    enrollment meets the anonymised cohort once and each trial the enrollment-domain cohort once."""
    items = _pool(n_persons=4)
    inner = _inner()
    calls = []
    real = inner.similarity
    inner.similarity = lambda a, b: calls.append(1) or real(a, b)
    backend = fit_backend(items, shift=False, snorm=True)
    enrol = [it.template for it in items if it.domain == ORIGINAL]
    trials = [it.template for it in items if it.domain == ANONYMISED]
    scorer = BackendScorer(inner, backend)
    scores = [scorer.score(e, t, ORIGINAL) for e in enrol for t in trials]
    cohort_calls = len(enrol) * len(backend.cohort[ANONYMISED]) + len(trials) * len(backend.cohort[ORIGINAL])
    assert len(calls) == len(enrol) * len(trials) + cohort_calls
    fresh = BackendScorer(inner, backend)  # nothing cached: the same score
    assert fresh.score(enrol[-1], trials[-1], ORIGINAL) == scores[-1]


def test_head_starts_at_identity_and_is_seeded():
    items = _pool(n_persons=6)
    ft = FinetuneConfig(epochs=4, eval_every=2)
    a, centre, scale, log = train_head(items, ft, normalise_raw=True)
    b, *_ = train_head(items, ft, normalise_raw=True)
    assert [ep for ep, _ in a] == [0, 2, 4] and np.array_equal(a[0][1], np.eye(a[0][1].shape[0]))
    assert all(np.array_equal(wa, wb) for (_, wa), (_, wb) in zip(a, b))
    assert log["epochs"] == 4 and len(log["loss"]) == 4
    backend = fit_backend(items, False, False, a[0][1], centre, scale)  # the identity head maps nothing
    e = items[0].template
    assert np.allclose(backend.map(e, ORIGINAL, ORIGINAL).vector, e.vector)


def test_selection_sees_through_a_common_offset_and_is_deterministic():
    items = _pool()
    cand, log = select(_inner(), items, _cfg(), normalise_raw=True)
    again, log2 = select(_inner(), items, _cfg(), normalise_raw=True)
    assert log == log2 and cand == again
    table = log["cv_eer"]
    assert "pretrained" in table and "head@5" in table and "shift+snorm" in table
    assert cand.name != "pretrained" and table[cand.name]["mean"] < table["pretrained"]["mean"]


def test_selection_keeps_the_pretrained_recogniser_without_a_gain():
    items = _pool(offset=0.0, noise=0.05)  # nothing to adapt to: every candidate is perfect
    cand, log = select(_inner(), items, _cfg(min_gain=0.01), normalise_raw=True)
    assert cand.name == "pretrained" and log["cv_eer"]["pretrained"]["mean"] == 0.0


def test_semi_informed_attack_scores_with_its_backend():
    items = _pool()
    inner = _inner()
    cand, _ = select(inner, items, _cfg(epochs=0), normalise_raw=True)
    backend, _ = fit_selected(inner, items, cand, _cfg(epochs=0), normalise_raw=True)
    attack = SemiInformedAttack(inner, backend, {})
    assert attack.name == "arcface"  # delegated to the inner attack
    e, same, other = items[0].template, items[3].template, items[8].template  # p00 ses1 orig, ses2 anon; p01
    e.info.pop("domain", None)
    attack.fit([items[k].template for k in (0, 5, 10)])
    assert attack.similarity(e, same) > attack.similarity(e, other)


def test_onnx_graph_in_torch_equals_onnxruntime():
    """The fine-tunable torch copy of ArcFace (benchmark.attacks.adapt.onnx_torch) computes what onnxruntime computes."""
    import onnxruntime
    import torch

    from benchmark.attacks.adapt.onnx_torch import OnnxGraphModule, arcface_preprocess
    from benchmark.attacks.models import resolve_model, verify

    path = verify(resolve_model("w600k_mbf.onnx"))
    faces = np.random.default_rng(0).integers(0, 256, size=(3, 112, 112, 3), dtype=np.uint8)
    x = arcface_preprocess(faces)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        got = OnnxGraphModule(path).eval()(x).numpy()
    assert got.shape == expected.shape == (3, 512)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 1e-4 * scale, np.abs(got - expected).max() / scale
    cos = np.sum(got * expected, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cos.min() > 0.99999


def test_sgd_step_is_torch_sgd_step_for_step():
    """:func:`benchmark.attacks.adapt.backend.sgd_step` moves parameters exactly as ``torch.optim.SGD`` with
    momentum does (the head's training loop without torch.optim), and without momentum."""
    import torch

    from benchmark.attacks.adapt.backend import sgd_step

    for momentum in (0.9, 0.0):
        torch.manual_seed(0)
        start = [torch.randn(6, 6), torch.randn(4, 6)]
        data = torch.randn(20, 6)
        mine = [torch.nn.Parameter(t.clone()) for t in start]
        theirs = [torch.nn.Parameter(t.clone()) for t in start]
        opt = torch.optim.SGD(theirs, lr=0.01, momentum=momentum)
        buffers = [None, None]
        for step in range(7):
            x = data[step:step + 8]
            loss = ((x @ mine[0].T) @ mine[1].T).tanh().sum() + (mine[0] ** 2).sum()
            loss.backward()
            sgd_step(mine, buffers, 0.01, momentum)
            ref = ((x @ theirs[0].T) @ theirs[1].T).tanh().sum() + (theirs[0] ** 2).sum()
            opt.zero_grad()
            ref.backward()
            opt.step()
            assert all(torch.equal(a, b) for a, b in zip(mine, theirs)), (momentum, step)
            assert all(p.grad is None for p in mine)

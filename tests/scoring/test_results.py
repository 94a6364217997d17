"""``results.json`` and the typed :class:`Results`: files written before the type existed read back and write
out byte for byte, and a tiny cohort scored now has the same keys as one scored then.

``data/results_reused.json`` and ``data/results_invalid.json`` were written by the code before
``benchmark.scoring.results`` (commit 77d4320: ``run`` on a 6-person tiny cohort with
``scoring.attacks=[arcface] scoring.knowledge=[ignorant,lazy_informed] scoring.bootstrap=20``, run twice so
that the second reuses the first's figures; the folder prefix of paths replaced)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.scoring.results import Failure, Provenance, Results, SubmissionInfo, Validation
from tests.helpers import cli, tiny_cohort

DATA = Path(__file__).with_name("data")
BEFORE = ("results_reused.json", "results_invalid.json")


@pytest.mark.parametrize("name", BEFORE)
def test_results_written_before_round_trip_unchanged(name, tmp_path):
    text = (DATA / name).read_text()
    results = Results.from_json(json.loads(text))
    assert results.to_json() == json.loads(text)
    assert results.write(tmp_path / "results.json").read_text() == text  # the same bytes


def test_typed_access_and_failures():
    results = Results.from_json(json.loads((DATA / "results_reused.json").read_text()))
    assert results.submission.name == "baseline/blur" and results.validation == Validation(True, "")
    assert results.reference is not None and results.reference.cached
    test = results.splits["test"]
    assert results.utility("test") == {k[len("utility/"):]: v for k, v in test.items() if k.startswith("utility/")}
    assert "arcface/age_mae" in results.attributes("test")
    assert set(results.reference.splits["test"]) <= set(test)

    failed = Results(SubmissionInfo("t", "s", "p"), failures=[Failure("v1", "arcface/ignorant", "anonymised", "test",
                                                                      "no brain")], artifacts=[])
    assert failed.to_json()["failures"] == [{"id": "v1", "attacker": "arcface/ignorant", "sample": "anonymised",
                                             "split": "test", "error": "no brain"}]
    assert Results.from_json(failed.to_json()) == failed
    invalid = Results.invalid("t", "s", "p", "volumes/v1.nii.gz: missing")
    assert set(invalid.to_json()) == set(json.loads((DATA / "results_invalid.json").read_text()))


def _keys(results: dict) -> dict:
    """The key tree of results.json: every key, and the metric keys of each split, without the values."""
    out = {k: sorted(v) if isinstance(v, dict) else type(v).__name__ for k, v in results.items()}
    out["splits"] = {s: sorted(v) for s, v in results["splits"].items()}
    out["privacy"] = {s: sorted(v) for s, v in results["privacy"].items()}
    if "reference" in results:
        out["reference.splits"] = {s: sorted(v) for s, v in results["reference"]["splits"].items()}
    return out


@pytest.mark.slow
def test_a_tiny_cohort_scored_now_has_the_keys_of_before(tmp_path):
    cohort = tiny_cohort(tmp_path / "cohort", n_persons=6, sessions=2, photos=1)
    work = tmp_path / "work"
    work.mkdir()
    common = ["scoring.attacks=[arcface]", "scoring.knowledge=[ignorant,lazy_informed]", "scoring.bootstrap=20",
              "scoring.permutations=20", "progress=false", "dataset=bids", f"dataset.root={cohort}"]

    def run(*args):
        out = cli(*args, *common, cwd=work)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.strip().splitlines()[-1]

    # none: the tiny cohort's balls hold no face for the template baselines to place (they refuse them now)
    submission = run("anonymize", "baseline=none")
    for reuse in ("false", "true"):  # scored anew, then read back from the result cache (reused)
        now = json.loads((work / run("score", f"submission={submission}", f"scoring.reuse={reuse}")).read_text())
    before = json.loads((DATA / "results_reused.json").read_text())
    before.pop("reference")  # none is the reference: it has no reference block of its own
    assert sorted(now.pop("provenance")) == ["code", "cohort", "git", "synthetic"]  # added since (MLflow tags)
    for split in now["splits"].values():  # added since: the failure counts of each split
        assert {split.pop("failures/count"), split.pop("failures/copied")} == {0.0}
    assert _keys(now) == _keys(before)


def test_provenance_round_trips():
    results = Results.invalid("t", "s", "p", "volumes/v1.nii.gz: missing")
    results.provenance = Provenance("c0ffee", "5eed", "v1-2-gabc", synthetic=True)
    assert results.to_json()["provenance"] == {"cohort": "c0ffee", "code": "5eed", "git": "v1-2-gabc",
                                               "synthetic": True}
    assert Results.from_json(results.to_json()) == results


def test_scoring_sums_on_one_blas_thread_whatever_the_process(monkeypatch):
    """A submission is scored with BLAS on one thread, as in ``run``'s pool workers, also where the process
    has more (``score``): split over two threads, a long dot product (``anatomy``'s cosine) rounds
    differently, and a figure would depend on which command scored it."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import benchmark.scoring.score as score

    rng = np.random.default_rng(0)
    u, v = rng.normal(size=200_000), rng.normal(size=200_000)
    seen = {}

    def probe(*args):
        seen["threads"] = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
        seen["dot"] = float(np.dot(u, v))

    monkeypatch.setattr(score, "_score_submission", probe)
    with threadpool_limits(limits=2, user_api="blas"):
        score.score_submission(None, None, None, None)
    with threadpool_limits(limits=1, user_api="blas"):
        one = float(np.dot(u, v))
    assert seen["threads"] == {1} and seen["dot"] == one

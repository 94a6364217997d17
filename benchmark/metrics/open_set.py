"""Open-set identification: detection and identification rate at a false-positive identification rate."""

from __future__ import annotations

import numpy as np

from benchmark.core.errors import BenchmarkError

from benchmark.metrics._ranks import hit, ranked
from benchmark.metrics.score_matrix import ScoreMatrix


def dir_at_fpir(scores, enroll_ids, trial_ids, fpir: float) -> float:
    """DIR at FPIR: the share of mated searches identified at rank 1 above the threshold that lets
    through at most a fraction ``fpir`` of the non-mated searches (ISO/IEC 19795-1; NIST FRVT 1:N).

    Input as ``rank_k`` (a ``ScoreMatrix``). The gallery is every enrolled identity, including
    distractors (enrolled persons with no trial), which make identification harder. Searches:

    - mated: each trial whose identity is enrolled, against the whole gallery;
    - non-mated: each trial whose identity is not enrolled, and, leaving its own identity out of the
      gallery, each mated trial again (so a closed cohort still yields non-mated searches).

    With t_1 >= t_2 >= ... >= t_N the top gallery scores of the N non-mated searches and
    c = floor(fpir * N), a search is accepted when its score exceeds tau = t_(c+1) (tau = -inf when
    c = N), so FPIR(tau) = #(t_i > tau) / N <= fpir (ties never push it above), and

        DIR = (1 / M) sum over the M mated searches of P(rank of the true identity = 1) [s_true > tau],

    with P(rank = 1) = 1 / (e + 1) when e other identities tie with the true one at the top (0 when one
    scores higher), as in ``rank_k``.
    """
    if isinstance(fpir, bool) or not (0 < float(fpir) <= 1):
        raise BenchmarkError(f"fpir must be a fraction in (0, 1], got {fpir!r}")
    r = ranked(ScoreMatrix(scores, enroll_ids, trial_ids))
    cols = r.closed()
    rows = r.true_row[cols]
    true = r.by_id[rows, cols]
    if r.identities.size > 1:
        second = np.partition(r.by_id, -2, axis=0)[-2]
    else:
        second = np.full(r.by_id.shape[1], -np.inf)  # a one-identity gallery less its identity is empty
    top = r.by_id.max(axis=0)
    own_is_top = r.greater[rows, cols] == 0  # the true identity holds the top score (perhaps tied)
    leave_one_out = np.where(own_is_top, second[cols], top[cols])
    open_cols = np.flatnonzero(r.true_row < 0)
    nonmated = np.sort(np.concatenate([leave_one_out, top[open_cols]]))[::-1]
    c = int(np.floor(float(fpir) * nonmated.size + 1e-9))
    tau = nonmated[c] if c < nonmated.size else -np.inf
    rank1 = hit(r.greater[rows, cols], r.ties[rows, cols], 1)
    return float(np.mean(rank1 * (true > tau)))

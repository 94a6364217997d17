"""One attacker's scores prepared once, then every metric of a batch of person relabellings at once.

A relabelling is an array ``perm`` over person codes: trial person q is renamed ``perm[q]``, and a
pair (enrollment person e, trial person q) becomes mated when e == perm[q]. The scores are sorted
once; the pairs of each (e, q) block are listed once, so the mated trials of a relabelling are the
blocks (perm[q], q): a gather of P blocks, not a pass over all trials. From there AUC is a sum of
mid-ranks, EER and minCllr a PAV over the runs between mated groups (O(T) per relabelling), the
smoothed linkability one batched FFT, and rank-k a gather from the identification rank tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.metrics._groups import pav_rows
from benchmark.metrics._kde import rows_dsys
from benchmark.metrics._ranks import hit, ranked
from benchmark.metrics.cllr import min_cllr_rows
from benchmark.metrics.eer import eer_rows
from benchmark.metrics.score_matrix import ScoreMatrix

LOW_IS_IDENTIFYING = {"eer": True, "min_cllr": True, "auc": False, "linkability": False, "rank1": False, "rank5": False}


@dataclass(frozen=True)
class Prepared:
    """Sorted scores with tie groups and mid-ranks, the (e, q) blocks, and the rank-k tables."""

    s: np.ndarray  # scored pairs, ascending
    group: np.ndarray  # tie group of each sorted pair
    group_start: np.ndarray  # (n_groups + 1,) first sorted index of each group, then n
    midrank: np.ndarray  # mid-rank (1-based) of each sorted pair
    block_members: np.ndarray  # sorted-pair indices ordered by block e * P + q
    block_start: np.ndarray  # (P * P + 1,)
    n_persons: int
    trial_code: np.ndarray  # person code of each trial column
    row_of_code: np.ndarray  # (P,) identity row of each person code, -1 if not enrolled
    hits: dict  # k -> (identities, trial columns) P(rank <= k)

    @classmethod
    def of(cls, sm: ScoreMatrix, codes: dict[str, int]) -> "Prepared":
        p = len(codes)
        e_code = np.array([codes[x] for x in sm.enroll_ids])
        t_code = np.array([codes[x] for x in sm.trial_ids])
        i, j = np.nonzero(np.isfinite(sm.scores))
        order = np.argsort(sm.scores[i, j], kind="stable")
        s = sm.scores[i, j][order]
        new = np.r_[True, s[1:] != s[:-1]]
        group = np.cumsum(new) - 1
        group_start = np.r_[np.flatnonzero(new), s.size]
        midrank = ((group_start[:-1] + group_start[1:] + 1) / 2.0)[group]
        key = e_code[i][order] * p + t_code[j][order]
        members = np.argsort(key, kind="stable")
        block_start = np.searchsorted(key[members], np.arange(p * p + 1))
        r = ranked(sm)
        row_of = np.full(p, -1)
        row_of[[codes[x] for x in r.identities]] = np.arange(r.identities.size)
        hits = {k: hit(r.greater, r.ties, k) for k in (1, 5)}
        return cls(s, group, group_start, midrank, members, block_start, p, t_code, row_of, hits)

    def block_counts(self) -> np.ndarray:
        """(P, P) number of scored pairs of each (enrollment person, trial person) block."""
        return np.diff(self.block_start).reshape(self.n_persons, self.n_persons)

    def mated(self, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, sorted-pair indices) of the mated pairs of each relabelling, ascending within a row."""
        b, p = perms.shape
        keys = (perms * p + np.arange(p)).ravel()
        starts, lens = self.block_start[keys], self.block_start[keys + 1] - self.block_start[keys]
        total = int(lens.sum())
        offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
        rows = np.repeat(np.repeat(np.arange(b), p), lens)
        idx = self.block_members[offsets]
        order = np.argsort(rows * self.s.size + idx, kind="stable")
        return rows[order], idx[order]

    def metrics(self, perms: np.ndarray, names, omega: float) -> dict[str, np.ndarray]:
        """Each requested metric for each relabelling (a row of ``perms``)."""
        b = perms.shape[0]
        rows, idx = self.mated(perms)
        t = np.bincount(rows, minlength=b).astype(np.float64)
        nn = self.s.size - t
        out = {}
        if "auc" in names:
            ranks = np.bincount(rows, weights=self.midrank[idx], minlength=b)
            out["auc"] = (ranks - t * (t + 1) / 2) / (t * nn)
        if "eer" in names or "min_cllr" in names:
            out["eer"], out["min_cllr"] = self._pav_metrics(rows, idx, b)
        if "linkability" in names:
            out["linkability"] = rows_dsys(self.s[idx], rows, b, self.s, omega)
        for k in (1, 5):
            if f"rank{k}" in names:
                out[f"rank{k}"] = self._rank(perms, k)
        return {k: v for k, v in out.items() if k in names}

    def _pav_metrics(self, rows, idx, b) -> tuple[np.ndarray, np.ndarray]:
        """ROCCH-EER and minCllr per row from the runs: a non-mated gap, then a mated tie group, ..."""
        g = self.group[idx]
        n_groups = self.group_start.size - 1
        key = rows * n_groups + g
        first = np.r_[True, key[1:] != key[:-1]]
        ur, ug = rows[first], g[first]
        count = np.diff(np.r_[np.flatnonzero(first), key.size]).astype(np.float64)
        row_first = np.r_[True, ur[1:] != ur[:-1]]
        prev_end = np.where(row_first, 0, self.group_start[np.r_[0, ug[:-1] + 1]])
        gap = self.group_start[ug] - prev_end
        own = (self.group_start[ug + 1] - self.group_start[ug]) - count
        per_row = np.bincount(ur, minlength=b)
        last_end = np.zeros(b, np.int64)
        last_end[ur] = self.group_start[ug + 1]  # the last assignment of a row wins: its last group
        tail = self.s.size - last_end
        seq_start = np.r_[0, np.cumsum(2 * per_row + 1)]
        within = np.arange(ur.size) - np.repeat(np.r_[0, np.cumsum(per_row)[:-1]], per_row)
        pos = seq_start[ur] + 2 * within
        tt, nn = np.zeros(seq_start[-1]), np.zeros(seq_start[-1])
        nn[pos], tt[pos + 1], nn[pos + 1] = gap, count, own
        nn[seq_start[1:] - 1] = tail
        tb, nb, starts = pav_rows(tt, nn, seq_start)
        return eer_rows(tb, nb, starts), min_cllr_rows(tb, nb, starts)

    def _rank(self, perms: np.ndarray, k: int) -> np.ndarray:
        rows = self.row_of_code[perms[:, self.trial_code]]  # (B, n_trial) identity row or -1
        closed = rows >= 0
        h = self.hits[k][np.maximum(rows, 0), np.arange(self.trial_code.size)]
        return (h * closed).sum(axis=1) / closed.sum(axis=1)

"""Shard jobs (benchmark.core.shards): shards cover a list once; a failing shard is one BenchmarkError line."""

from __future__ import annotations

import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.core.shards import ExecutorConfig, Sharding, run_shards, shard_of


def _fails_on_one(index: int, n: int) -> int:
    if index == 1:
        raise RuntimeError("volume sub-x unreadable")
    return index


def test_shards_cover_each_item_once():
    items = list(range(11))
    shards = [shard_of(items, i, 4) for i in range(4)]
    assert sorted(x for s in shards for x in s) == items
    with pytest.raises(BenchmarkError):
        shard_of(items, 4, 4)


def test_run_shards_returns_each_shards_result_in_order(tmp_path):
    out = run_shards(Sharding(3, ExecutorConfig(cluster="debug"), tmp_path / "%j"), shard_of, list("abcdefg"))
    assert out == [list("adg"), list("be"), list("cf")]


def test_failing_shard_names_itself_and_its_error(tmp_path):
    with pytest.raises(BenchmarkError, match=r"shard 1 of 2 .*RuntimeError: volume sub-x unreadable \(log: "):
        run_shards(Sharding(2, ExecutorConfig(cluster="local"), tmp_path / "%j"), _fails_on_one)


def test_unknown_cluster_is_a_config_error(tmp_path):
    with pytest.raises(BenchmarkError, match="scoring.executor.cluster"):
        run_shards(Sharding(2, ExecutorConfig(cluster="kubernetes"), tmp_path), _fails_on_one)

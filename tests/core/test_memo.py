"""The per-process memo every stage keeps its recent results in."""

from benchmark.core.memo import Recent


def test_recent_keeps_the_entries_used_last():
    memo = Recent(2)
    assert memo.keep("a", 1) == 1 and memo.keep("b", 2) == 2
    assert memo.recall("a") == 1  # "a" is now the most recently used: "b" goes first
    memo.keep("c", 3)
    assert list(memo) == ["a", "c"] and memo.recall("b") is None and memo.recall("b", 0) == 0
    memo.keep("a", 4)  # a key kept again takes the new value and is the most recent
    memo.keep("d", 5)
    assert dict(memo) == {"a": 4, "d": 5}

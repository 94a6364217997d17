"""benchmark.core.memory: glibc's allocator tuned for this process and the workers it starts, unless the user chose."""

import os
import subprocess
import sys

import pytest

CHECK = ("import os; from benchmark.core.memory import tune_malloc; print(tune_malloc(), "
         "os.environ.get('MALLOC_MMAP_THRESHOLD_'), os.environ.get('MALLOC_ARENA_MAX'))")


def _run(env: dict[str, str]) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", CHECK], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_tuned_for_this_process_and_its_workers():
    assert _run({}) == ["True", str(1 << 30), "None"]


def test_a_users_own_malloc_settings_are_left_alone():
    assert _run({"MALLOC_ARENA_MAX": "2"}) == ["False", "None", "2"]


def test_freeze_heap_leaves_a_collection_only_what_comes_after():
    """After freeze_heap, a full collection no longer walks the imported libraries' objects (what joblib's
    workers collect after every task), and a cycle made afterwards is still collected."""
    code = ("import gc; import benchmark.scoring.shards; from benchmark.core.memory import freeze_heap; "
            "before = len(gc.get_objects()); freeze_heap(); after = len(gc.get_objects()); "
            "a = []; a.append(a); del a; print(before, after, gc.get_freeze_count(), gc.collect())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, frozen, collected = map(int, out.stdout.split())
    assert before > 50_000 and frozen >= before and after < before // 100
    assert collected >= 1  # the cycle made after the freeze

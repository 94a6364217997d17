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

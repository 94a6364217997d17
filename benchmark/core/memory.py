"""The process's memory management tuned for the benchmark: glibc's allocator for its many large,
short-lived arrays (volumes, renders, masks), and the cycle collector for its large, long-lived heap.

By default glibc serves every block above 32 MB (and, adaptively, smaller ones) with its own ``mmap`` and
gives it back on ``free``: each 256^3 float volume, resampled copy or network activation is then mapped,
zero-filled page by page (a page fault per 4 KB) and unmapped again. Measured on the per-volume scoring
work of one default submission (70 items, one core): 7.8 million page faults and 14 s of system time,
56.6 s wall; with the settings below, 0.4 million, 1.7 s and 46.0 s (peak memory 1.85 -> 2.12 GB).

:func:`tune_malloc` keeps freed memory in the heap for reuse instead: in this process through
``mallopt`` (from the call on), and in the worker processes it starts (joblib, submitit) through the
``MALLOC_*_`` environment variables glibc reads at start-up. Settings a user already gave
(any ``MALLOC_*`` variable or ``GLIBC_TUNABLES``) are left alone; on a C library other than glibc
(macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

#: mallopt parameter -> (environment variable, bytes)
SETTINGS = {
    -3: ("MALLOC_MMAP_THRESHOLD_", 1 << 30),  # M_MMAP_THRESHOLD: blocks below 1 GiB come from the heap
    -1: ("MALLOC_TRIM_THRESHOLD_", 1 << 30),  # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap
    -2: ("MALLOC_TOP_PAD_", 1 << 28),  # M_TOP_PAD: grow the heap 256 MiB at a time
}


def tune_malloc() -> bool:
    """Apply :data:`SETTINGS` to this process and its future children; whether they were applied."""
    if "GLIBC_TUNABLES" in os.environ or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    for param, (name, value) in SETTINGS.items():
        mallopt(ctypes.c_int(param), ctypes.c_int(value))
        os.environ[name] = str(value)
    return True


def freeze_heap() -> None:
    """Take every object this process holds now (imported modules, loaded models, memos) out of the cycle
    collector's reach (``gc.freeze``), at the start of a task that a worker process runs.

    joblib's worker processes (loky) run a full ``gc.collect()`` after every task that ends more than a second
    after the last one (when psutil is absent, as here): each walked the ~0.4-1 million objects of the
    imported libraries (0.3 s and more), 73 CPU s of a cold default run in the two workers. After the freeze
    a collection walks only what the task created. Frozen objects are still freed by reference counting;
    only a reference cycle among them that becomes garbage later is no longer collected.
    """
    gc.freeze()

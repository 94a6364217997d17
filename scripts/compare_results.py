"""Whether two runs scored the same figures: every submission's ``results.json`` under two run folders
(``outputs/run/<stamp>/``), compared on what ranks and what is reported (``splits``, ``privacy``,
``failures``, ``messages``); provenance, validation sizes and artefact paths may differ. A change meant to
make the benchmark faster, not different, must leave this silent.

    .venv/bin/python scripts/compare_results.py OLD_RUN_DIR NEW_RUN_DIR

Prints each difference (key path, old value, new value) and exits 1 when any figure differs or a
submission is missing from the new run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COMPARED = ("splits", "privacy", "failures", "messages")


def differences(old, new, path: str = "") -> list[tuple[str, object, object]]:
    """(key path, old, new) of every leaf where ``old`` and ``new`` differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in differences(old.get(k), new.get(k), f"{path}/{k}")]
    return [] if old == new else [(path, old, new)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    olds = sorted(p.parent.name for p in args.old.glob("*/results.json"))
    if not olds:
        print(f"{args.old}: no <submission>/results.json here", file=sys.stderr)
        return 2
    same = True
    for name in olds:
        new_file = args.new / name / "results.json"
        if not new_file.is_file():
            print(f"{name}: missing in {args.new}")
            same = False
            continue
        old, new = (json.loads(f.read_text()) for f in (args.old / name / "results.json", new_file))
        diffs = differences({k: old.get(k) for k in COMPARED}, {k: new.get(k) for k in COMPARED})
        for key, a, b in diffs:
            print(f"{name}{key}: {a!r} -> {b!r}")
        print(f"{name}: {'figures equal' if not diffs else f'{len(diffs)} figures differ'}")
        same &= not diffs
    print("all figures equal" if same else "figures differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

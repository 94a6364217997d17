import sys

from benchmark.core.memory import tune_malloc

tune_malloc()  # before numpy and torch allocate: large arrays reuse heap memory (see benchmark.core.memory)

from benchmark.cli import main  # noqa: E402

if __name__ == "__main__":  # guarded: worker processes (spawn) import this module again
    sys.exit(main())

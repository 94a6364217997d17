# Two commands from a fresh clone:
#   make run    set everything up, run the default benchmark on the embedded synthetic cohort
#   make test   set everything up, run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: setup run test bench clean

setup: $(STAMP)

# torch first, pinned to the CPU build: a looser range (or a package asking for torch) pulls a multi-GB CUDA build.
# Bytecode: Python writes it for what it imports (its default; these machines set PYTHONDONTWRITEBYTECODE, which
# would compile every imported module again in every process: torch and mlflow, +9 s a process). Installing with
# --no-compile and letting the first import write the bytecode compiles the ~3,700 modules a run imports instead
# of all ~18,700 installed (+7 s on the first import against 23 s of compileall on two cores).
unexport PYTHONDONTWRITEBYTECODE

# The rest by uv (pinned), which downloads and unpacks the ~150 wheels in parallel (~20 s against pip's ~35 s on
# two cores; the same versions: it sees the installed torch and resolves the same pins); pip when uv cannot.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile torch==2.13.0
	{ $(PY) -m pip install --quiet uv==0.13.9 && $(PY) -m uv pip install --quiet --python $(PY) -e '.[test]'; } \
	  || { echo "uv could not install; pip instead" >&2; $(PY) -m pip install --quiet --no-compile -e '.[test]'; }
	touch $(STAMP)

run: setup
	$(PY) -m benchmark run $(ARGS)

# the import layers (pyproject.toml [tool.importlinter]) first: a cycle or an upward import fails the suite.
# Two pytest workers, a test file per worker (module fixtures built once), each process of a worker on one
# thread (OMP_NUM_THREADS: torch, and ONNX Runtime, which follows torch): two workers on two cores would
# otherwise run four threads.
test: setup
	$(VENV)/bin/lint-imports
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile $(ARGS)

# One table of the cost per stage and per volume (scripts/bench_pipeline.py, a few minutes; ARGS=--whole-run
# adds a cold default run). The other scripts/bench_*.py drill into one stage each.
bench: setup
	$(PY) scripts/bench_pipeline.py $(ARGS)

clean:
	rm -rf .cache prepared outputs mlruns.db mlruns.db.lock mlruns mlartifacts

"""A privacy benchmark for defaced head MRI.

Face re-identification attacks against anonymised (defaced) volumes, the brain they leave intact,
and the challenge tooling around them (splits, submissions, scoring, tracking, leaderboard).
"""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin while waiting burn the CPU other workers need (renders took 5x longer on a
# busy 2-core machine); set before torch loads, and only where the user has not chosen.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""A privacy benchmark for defaced head MRI.

Face re-identification attacks against anonymised (defaced) volumes, the brain they leave intact,
and the challenge tooling around them (splits, submissions, scoring, tracking, leaderboard).
"""

__version__ = "0.1.0"

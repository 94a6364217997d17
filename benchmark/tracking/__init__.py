"""MLflow tracking: one experiment per challenge edition, one run per (submission, split).

The experiment is tagged ``mlflow.experimentKind=custom_model_development`` (MLflow 3's experiment type:
model training, not GenAI; the UI shows its runs table with ``?workflowType=machine_learning``). A run holds:

- params: the resolved config, flattened to dotted keys (``dataset.n_persons``); values longer than
  MLflow's 6000 characters are truncated (the whole config is also an artifact, ``config/config.yaml``);
- metrics: the keys of that split in ``results.json`` (``photo2mri/arcface/semi_informed/eer``, ...);
- tags: ``team``, ``system``, ``submission`` (team/system), ``split``, ``splits`` (every split scored),
  ``validation.status`` (``passed``/``failed``/``unknown``), ``validation.reason`` when it failed, the
  worst-case attackers, ``reused`` (``true``/``false``; ``reused.entry``: the result-cache entry when the
  figures were not computed anew), ``cohort`` (fingerprint), ``code_version`` (``git describe``) and
  ``code_hash`` (``_content.provenance_tags``);
- artifacts: the files given (plots, score files, config, validation report), ``results.json`` and the
  validation report. Renders, embeddings and photographs are biometric data and are never logged
  unless ``tracking.log_biometric_artifacts`` is true.

The default store is a SQLite file in the working folder (``sqlite:///mlruns.db``, artifacts in
``mlruns/`` beside it); ``tracking.uri`` points at any server. SQLite allows one writer at a time:
concurrent ``score`` processes meet "database is locked", which is retried with backoff.

Modules, one job each: ``_config`` (the config group), ``_retry`` (transient errors), ``_store`` (client,
experiment, reading runs), ``_content`` (params, metrics, tags, the biometric filter), ``_log`` (logging
a run); the public names are here.
"""

from benchmark.core.keys import SPLITS
from benchmark.tracking._config import TrackingConfig, tracking_config
from benchmark.tracking._content import (BIOMETRIC_NAMES, BIOMETRIC_SUFFIXES, MAX_KEY_LENGTH, MAX_PARAM_VAL_LENGTH,
                                         MAX_TAG_VAL_LENGTH, clean_key, config_params, flatten, is_biometric,
                                         run_name, split_metrics)
from benchmark.tracking._log import log_results, summary
from benchmark.tracking._retry import retry
from benchmark.tracking._store import client, experiment_id, runs

__all__ = ["BIOMETRIC_NAMES", "BIOMETRIC_SUFFIXES", "MAX_KEY_LENGTH", "MAX_PARAM_VAL_LENGTH", "MAX_TAG_VAL_LENGTH",
           "SPLITS", "TrackingConfig", "clean_key", "client", "config_params", "experiment_id", "flatten",
           "is_biometric", "log_results", "retry", "run_name", "runs", "split_metrics", "summary", "tracking_config"]

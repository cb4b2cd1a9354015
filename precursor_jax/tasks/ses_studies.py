"""The SES paper's studies beyond the test split, run on a trained network (tasks/ses.py).

- `embedded_anomaly_study`: the paper's Table I protocol (a real night-time anomaly cut from one
  test day and embedded at 04:00, 13:00 and 18:00 into others);
- `fastica_comparison`: FastICA on three dipoles against the network on one, on the same days
  (the classical baseline of Orihara et al. 2009);
- `time_inference`: milliseconds per day of network inference plus interval extraction.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.anomaly import ses as ses_scoring
from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES, GEOELECTRIC_HOUR_SAMPLES
from precursor_jax.synthetic.ses import (
  SesDraw,
  SesRecipe,
  cut_anomaly,
  multi_dipole_examples,
  ses_waveform,
)
from precursor_jax.training import parallel, wiring

Arrays = dict[str, np.ndarray]


# The paper's Table I: 04:00 (no trains), 13:00 and 18:00 (strong trains).
EMBEDDING_HOURS = (4, 13, 18)


def embedded_anomaly_study(config, trained: wiring.Trained, test: Arrays) -> dict:
  """The paper's Table I protocol on the test split.

  Anomalies are cut from the first `config.eval.embedded_anomalies` test days whose SES lies before 05:00
  (no trains; `synthetic_ses.cut_anomaly`: the input around the SES minus its own background line) and
  embedded at 04:00, 13:00 and 18:00 into `config.eval.embedding_days` other test days from which their own
  SES has been removed. Returns success rates per embedding hour and overall.
  """
  night = np.flatnonzero(test["ses_start"] + test["ses_duration"] < 5 * GEOELECTRIC_HOUR_SAMPLES)[
    : config.eval.embedded_anomalies
  ]
  rows = [i for i in range(len(test["input"])) if i not in set(night.tolist())]
  rows = rows[: config.eval.embedding_days]
  backgrounds = np.stack(
    [
      test["input"][i]
      - ses_waveform(
        SesDraw(
          int(test["ses_start"][i]), int(test["ses_duration"][i]), float(test["ses_amplitude"][i])
        )
      )
      for i in rows
    ]
  )
  days, starts, durations, hours = [], [], [], []
  for i in night:
    start, duration = int(test["ses_start"][i]), int(test["ses_duration"][i])
    margin = min(30, start, GEOELECTRIC_DAY_SAMPLES - start - duration)
    anomaly = cut_anomaly(test["input"][i], start, start + duration, margin=max(margin, 1))
    for hour in EMBEDDING_HOURS:
      at = np.full(len(backgrounds), hour * GEOELECTRIC_HOUR_SAMPLES)
      days.append(ses_scoring.embed_anomaly(backgrounds, anomaly, at))
      starts += [hour * GEOELECTRIC_HOUR_SAMPLES] * len(backgrounds)
      durations += [duration] * len(backgrounds)
      hours += [hour] * len(backgrounds)
  if not days:
    return {"count": 0}
  arrays = {"input": np.concatenate(days).astype(np.float32)}
  arrays["target"] = arrays["input"]  # no target: only the interval is scored
  predictions = trained.predict_split(arrays, wiring.eval_batch_size(config))
  categories = ses_scoring.score_detections(
    predictions["start"], predictions["end"], np.array(starts), np.array(durations)
  )
  result = {
    "overall": ses_scoring.category_rates(categories),
    "anomalies": int(len(night)),
    "days": len(backgrounds),
  }
  for hour in EMBEDDING_HOURS:
    result[f"{hour:02d}:00"] = ses_scoring.category_rates(categories[np.array(hours) == hour])
  return result


def fastica_comparison(config, trained: wiring.Trained, recipe: SesRecipe) -> dict:
  """FastICA on three dipoles against the network on dipole 0, on the same multi-dipole test days."""
  examples = multi_dipole_examples(recipe, config.eval.ica_days)
  keys = jax.random.split(jax.random.key(config.seed), config.eval.ica_days)
  detect = jax.jit(
    jax.vmap(lambda days, key: ses_scoring.detect_with_fastica(days, key, **dict(config.detection)))
  )
  ica = jax.device_get(detect(jnp.asarray(examples["input"]), keys))
  truth = (examples["ses_start"], examples["ses_duration"])
  dipole0 = {"input": examples["input"][:, 0], "target": examples["input"][:, 0]}
  network = trained.predict_split(dipole0, wiring.eval_batch_size(config))
  return {
    "days": int(config.eval.ica_days),
    "dipoles": int(examples["input"].shape[1]),
    "fastica": ses_scoring.category_rates(
      ses_scoring.score_detections(np.asarray(ica.start), np.asarray(ica.end), *truth)
    ),
    "network_dipole0": ses_scoring.category_rates(
      ses_scoring.score_detections(network["start"], network["end"], *truth)
    ),
  }


def time_inference(
  trained: wiring.Trained, arrays: Arrays, batch_size: int, repeats: int = 3
) -> float:
  """Milliseconds per day of network inference plus interval extraction, batched (median of repeats)."""
  batch = {k: arrays[k][:batch_size] for k in trained.problem.batch_keys}
  if len(batch["input"]) < batch_size:
    return float("nan")
  mesh = trained.run.mesh
  local = {k: v[parallel.process_slice(batch_size)] for k, v in batch.items()}
  sharded = parallel.shard_batch(local, mesh)
  jax.block_until_ready(trained.predict(trained.state, sharded))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(trained.predict(trained.state, sharded))
    times.append(time.perf_counter() - start)
  return float(np.median(times) * 1e3 / batch_size)

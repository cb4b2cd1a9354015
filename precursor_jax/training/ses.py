"""SES detection task: train an SES network on a synthetic SES dataset, evaluate, write the report.

`train_and_evaluate(config, workdir)` is what `python -m precursor_jax.train --config configs/ses_*.py` runs:

  1. builds the tfds dataset if it is missing, reads the train and test splits into memory;
  2. creates (or restores from the workdir, or initialises from `config.init_from`) the train state;
  3. trains data-parallel over every device, evaluating the test split every `eval_every_epochs` epochs;
  4. evaluates the final model on the test split and the study sets (amplitude / duration sweeps), and writes
     summary.json, a summary table, and a figure of example detections.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from precursor_jax import metrics as metric_fns
from precursor_jax.anomaly import ses as ses_scoring
from precursor_jax.data import batching
from precursor_jax.models.lstm_ae import SES_NETWORK_FAMILY, build_ses_model
from precursor_jax.training import checkpoints, loop, parallel
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import MetricWriter, to_python

Arrays = dict[str, np.ndarray]
MODEL_KEYS = ("input", "target")


def builder_config(config: ml_collections.ConfigDict, dataset_config: str):
  """The tfds BuilderConfig of a named SES dataset, resized by config.dataset.num_days / .repeats when set
  (smoke runs, tests); sweep sets keep their single SES per day."""
  from data_builders.ses_synthetic import ses_synthetic

  return ses_synthetic.resized(
    dataset_config,
    num_days=config.dataset.get("num_days"),
    repeats=None
    if dataset_config in config.eval.get("studies", ())
    else config.dataset.get("repeats"),
  )


def load_split(config: ml_collections.ConfigDict, dataset_config: str, split: str) -> Arrays:
  """One split of the SES dataset as in-memory arrays (builds the dataset first if it is missing)."""
  from precursor_jax.data.synthetic_ses import load_ses_split

  return load_ses_split(
    builder_config(config, dataset_config),
    split,
    data_dir=config.dataset.get("data_dir"),
    background_dir=config.dataset.get("background_dir"),
  )


def build_model(config: ml_collections.ConfigDict):
  """The configured SES network; its sizes come from the config block of its family (config.model.lstm_ae,
  .fc_ae or .fct_ae)."""
  name = config.model.name
  if name not in SES_NETWORK_FAMILY:
    raise ValueError(f"config.model.name={name!r}: choose one of {', '.join(SES_NETWORK_FAMILY)}")
  sizes = config.model.get(SES_NETWORK_FAMILY[name])
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (sizes or {}).items()}
  return build_ses_model(name, scale=config.model.scale, **kwargs)


def make_loss_fn(model) -> step_lib.LossFn:
  """MSE between network output and target, in the model's normalised units (mV/km / scale)."""

  def loss_fn(params, batch_stats, batch, key, train):
    del batch_stats, key
    prediction = model.apply({"params": params}, batch["input"], train=train)
    loss = jnp.mean(jnp.square((prediction - batch["target"]) / model.scale))
    return loss, ({}, {})

  return loss_fn


def make_predict_fn(model, detection: Mapping[str, Any]) -> Callable:
  """predict(state, batch) -> per-example interval, amplitude, RMSPE and MSE (runs on device)."""

  def predict(state, batch):
    prediction = model.apply({"params": state.params}, batch["input"])
    interval = ses_scoring.extract_ses_interval(prediction, **detection)
    return {
      "start": interval.start,
      "end": interval.end,
      "amplitude": interval.amplitude,
      "rmspe": jax.vmap(metric_fns.rmspe)(batch["target"], prediction),
      "mse": jnp.mean(jnp.square((prediction - batch["target"]) / model.scale), axis=-1),
    }

  return predict


def predict_on(predict: Callable, state, arrays: Arrays, batch_size: int, mesh) -> Arrays:
  """Per-example detection outputs over a split (only the model's inputs travel to the devices)."""
  return loop.predict_split(predict, state, {k: arrays[k] for k in MODEL_KEYS}, batch_size, mesh)


def score_split(predictions: Arrays, arrays: Arrays) -> dict[str, float]:
  """Success / near / failure rates and mean RMSPE of a split."""
  categories = ses_scoring.score_detections(
    predictions["start"], predictions["end"], arrays["ses_start"], arrays["ses_duration"]
  )
  result = ses_scoring.category_rates(categories)
  result["rmspe"] = float(np.mean(predictions["rmspe"]))
  result["mse"] = float(np.mean(predictions["mse"]))
  return result


def subset(arrays: Arrays, count: int, seed: int) -> Arrays:
  """A fixed random subset (for the per-epoch training-set curve, as the paper's Fig. 5)."""
  total = len(arrays["input"])
  if count >= total:
    return arrays
  index = np.sort(np.random.default_rng(seed).choice(total, count, replace=False))
  return {k: v[index] for k, v in arrays.items()}


def default_hyperparams(
  config: ml_collections.ConfigDict, steps_per_epoch: int
) -> state_lib.Hyperparams:
  return state_lib.make_hyperparams(
    learning_rate=config.learning_rate,
    lr_decay=config.lr_decay,
    lr_epoch_gamma=config.get("lr_epoch_gamma", 1.0),
    steps_per_epoch=steps_per_epoch,
    weight_penalty=config.weight_penalty,
    bias_penalty=config.bias_penalty,
  )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Trains and evaluates an SES network; returns the summary that is also written to summary.json."""
  workdir, mesh = loop.start_run(config, workdir, (config.batch_size,))

  train = load_split(config, config.dataset.config, "train")
  test = load_split(config, config.dataset.config, "test")
  per_epoch = batching.steps_per_epoch(len(train["input"]), config.batch_size)
  total_steps = per_epoch * config.num_epochs
  print(
    f"dataset {config.dataset.config}: {len(train['input'])} train / {len(test['input'])} test days; "
    f"{per_epoch} steps per epoch, {total_steps} steps",
    flush=True,
  )

  model = build_model(config)
  optimizer = state_lib.adam(config.adam_eps)
  checkpointer = checkpoints.Checkpointer(
    workdir / "checkpoints", max_to_keep=config.get("checkpoints_to_keep", 2)
  )
  init_key, rng_key = jax.random.split(jax.random.key(config.seed))
  params = model.init(init_key, jnp.zeros((1, config.dataset.day_samples), jnp.float32))["params"]
  state = parallel.replicate(state_lib.create_train_state(params, optimizer, rng_key), mesh)
  state, record = checkpoints.restore_or_initialize(checkpointer, state, config.get("init_from"))
  hparams = default_hyperparams(config, per_epoch)

  train_step = parallel.data_parallel(
    step_lib.make_train_step(make_loss_fn(model), optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  predict = parallel.data_parallel_apply(make_predict_fn(model, dict(config.detection)), mesh)
  make_batch = loop.sharded_train_batches(
    {k: train[k] for k in MODEL_KEYS}, config.batch_size, config.seed, mesh
  )
  train_probe = subset(train, config.eval.train_examples, config.seed)

  def evaluate(state, epoch):
    del epoch
    results = {}
    for name, arrays in (("test", test), ("train", train_probe)):
      scores = score_split(predict_on(predict, state, arrays, config.batch_size, mesh), arrays)
      results.update({f"{name}/{k}": v for k, v in scores.items() if k != "count"})
    return results

  writer = MetricWriter(workdir)
  schedule = loop.Schedule(
    total_steps=total_steps,
    steps_per_epoch=per_epoch,
    log_every_steps=config.log_every_steps,
    checkpoint_every_steps=config.checkpoint_every_steps,
    eval_every_epochs=config.get("eval_every_epochs", 1),
  )
  start_time = time.time()
  state, record = loop.run(
    state=state,
    train_step=train_step,
    hparams=hparams,
    make_batch=make_batch,
    schedule=schedule,
    writer=writer,
    checkpointer=checkpointer,
    evaluate=evaluate,
    record=record,
    stop_after_step=config.get("stop_after_step"),
  )
  train_seconds = time.time() - start_time
  checkpointer.close()
  if int(state.step) < total_steps:  # stopped early on purpose (tests of resumption)
    writer.close()
    return {"stopped_at_step": int(state.step)}

  summary = final_report(config, workdir, model, state, predict, test, mesh)
  summary["train_seconds_this_process"] = train_seconds
  summary["history"] = record.get("history", [])
  if jax.process_index() == 0:
    (workdir / "summary.json").write_text(json.dumps(to_python(summary), indent=2))
  writer.close()
  return summary


def final_report(config, workdir, model, state, predict, test: Arrays, mesh) -> dict:
  """Test-split scores, study-set sweeps, timing of inference, a table on stdout and a figure."""
  from precursor_jax import figures

  test_predictions = predict_on(predict, state, test, config.batch_size, mesh)
  summary = {"test": score_split(test_predictions, test), "studies": {}}
  for study_config in config.eval.get("studies", ()):
    arrays = load_split(config, study_config, "test")
    summary["studies"][study_config] = score_split(
      predict_on(predict, state, arrays, config.batch_size, mesh), arrays
    )
    summary["studies"][study_config]["amplitude_mV_km"] = float(
      np.median(np.abs(arrays["ses_amplitude"]))
    )
    summary["studies"][study_config]["duration_min"] = float(
      np.median(arrays["ses_duration"]) / 6.0
    )
  if config.eval.get("embedded_anomalies"):
    summary["embedded_anomaly"] = embedded_anomaly_study(config, predict, state, test, mesh)
  if config.eval.get("ica_days") and not config.dataset.get("background_dir"):
    summary["fastica_comparison"] = fastica_comparison(config, predict, state, mesh)
  summary["inference_ms_per_day"] = time_inference(predict, state, test, config.batch_size, mesh)
  if jax.process_index() == 0:
    table = format_summary(config, summary)
    print(table, flush=True)
    (workdir / "summary.txt").write_text(table + "\n")
    outputs = jax.device_get(
      jax.jit(lambda p, x: model.apply({"params": p}, x))(
        state.params, jnp.asarray(test["input"][: config.eval.figure_examples])
      )
    )
    figures.ses_detections(
      workdir / "detections.png", test, outputs, test_predictions, count=config.eval.figure_examples
    )
    if summary["studies"]:
      figures.ses_sweeps(workdir / "sweeps.png", summary["studies"])
  return summary


EMBEDDING_HOURS = (
  4,
  13,
  18,
)  # the paper's Table I: 04:00 (no trains), 13:00 and 18:00 (strong trains)


def embedded_anomaly_study(config, predict, state, test: Arrays, mesh) -> dict:
  """The paper's Table I protocol on the test split.

  Anomalies are cut from the first `config.eval.embedded_anomalies` test days whose SES lies before 05:00
  (no trains; `synthetic_ses.cut_anomaly`: the input around the SES minus its own background line) and
  embedded at 04:00, 13:00 and 18:00 into `config.eval.embedding_days` other test days from which their own
  SES has been removed. Returns success rates per embedding hour and overall.
  """
  from precursor_jax.data.synthetic_ses import SesDraw, cut_anomaly, ses_waveform

  night = np.flatnonzero(test["ses_start"] + test["ses_duration"] < 5 * 360)[
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
    margin = min(30, start, 8640 - start - duration)
    anomaly = cut_anomaly(test["input"][i], start, start + duration, margin=max(margin, 1))
    for hour in EMBEDDING_HOURS:
      at = np.full(len(backgrounds), hour * 360)
      days.append(ses_scoring.embed_anomaly(backgrounds, anomaly, at))
      starts += [hour * 360] * len(backgrounds)
      durations += [duration] * len(backgrounds)
      hours += [hour] * len(backgrounds)
  if not days:
    return {"count": 0}
  arrays = {"input": np.concatenate(days).astype(np.float32)}
  arrays["target"] = arrays["input"]  # no target: only the interval is scored
  predictions = predict_on(predict, state, arrays, config.batch_size, mesh)
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


def fastica_comparison(config, predict, state, mesh) -> dict:
  """FastICA on three dipoles against the network on dipole 0, on the same multi-dipole test days."""
  from precursor_jax.data.synthetic_ses import multi_dipole_examples

  recipe = builder_config(config, config.dataset.config).recipe
  examples = multi_dipole_examples(recipe, config.eval.ica_days)
  keys = jax.random.split(jax.random.key(config.seed), config.eval.ica_days)
  detect = jax.jit(
    jax.vmap(lambda days, key: ses_scoring.detect_with_fastica(days, key, **dict(config.detection)))
  )
  ica = jax.device_get(detect(jnp.asarray(examples["input"]), keys))
  truth = (examples["ses_start"], examples["ses_duration"])
  dipole0 = {"input": examples["input"][:, 0], "target": examples["input"][:, 0]}
  network = predict_on(predict, state, dipole0, config.batch_size, mesh)
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
  predict, state, arrays: Arrays, batch_size: int, mesh, repeats: int = 3
) -> float:
  """Milliseconds per day of network inference plus interval extraction, batched (median of repeats)."""
  batch = {k: arrays[k][:batch_size] for k in MODEL_KEYS}
  if len(batch["input"]) < batch_size:
    return float("nan")
  sharded = parallel.shard_batch(
    {k: v[parallel.process_slice(batch_size)] for k, v in batch.items()}, mesh
  )
  jax.block_until_ready(predict(state, sharded))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(predict(state, sharded))
    times.append(time.perf_counter() - start)
  return float(np.median(times) * 1e3 / batch_size)


def format_summary(config, summary: dict) -> str:
  """The final table: one row per evaluated set."""
  rows = [("set", "days", "success", "near", "failure", "RMSPE %")]

  def row(name, s):
    return (
      name,
      str(s["count"]),
      f"{100 * s['success']:.1f}%",
      f"{100 * s['near_success']:.1f}%",
      f"{100 * s['failure']:.1f}%",
      "-" if np.isnan(s["rmspe"]) else f"{s['rmspe']:.2f}",
    )

  rows.append(row(f"{config.dataset.config} test", summary["test"]))
  for name, s in summary["studies"].items():
    rows.append(row(name, s))
  no_rmspe = lambda rates: {**rates, "rmspe": float("nan")}
  if summary.get("embedded_anomaly", {}).get("overall"):
    for key, rates in summary["embedded_anomaly"].items():
      if isinstance(rates, dict):
        where = "all hours" if key == "overall" else f"at {key}"
        rows.append(row(f"real anomaly, {where}", no_rmspe(rates)))
  if "fastica_comparison" in summary:
    comparison = summary["fastica_comparison"]
    rows.append(row("multi-dipole: network", no_rmspe(comparison["network_dipole0"])))
    rows.append(
      row(f"multi-dipole: FastICA x{comparison['dipoles']}", no_rmspe(comparison["fastica"]))
    )
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  header = (
    f"SES detection with {config.model.name}: success rate {100 * summary['test']['success']:.1f}% "
    f"on {summary['test']['count']} test days; network + interval "
    f"{summary['inference_ms_per_day']:.3f} ms/day (batch {config.batch_size})"
  )
  return "\n".join([header, *lines])

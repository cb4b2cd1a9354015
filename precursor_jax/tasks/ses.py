"""SES detection task: train an SES network on a synthetic SES dataset, evaluate, write the report.

`train_and_evaluate(config, workdir)` is what `python -m precursor_jax.train --config configs/ses_*.py`
runs:

  1. builds the tfds dataset if it is missing, reads the train and test splits into memory;
  2. trains through the shared wiring (training/wiring.py): data-parallel over every device,
     resumable, evaluating the test split every `eval_every_epochs` epochs;
  3. evaluates the final model on the test split, the study sets (amplitude / duration sweeps), the
     paper's Table I protocol and FastICA (tasks/ses_studies.py), and writes summary.json, a summary
     table and the figures (tasks/ses_figures.py).

`setup(config, mesh)` describes the task to the wiring (a `wiring.Problem`); sweeps use it too.

`check_data(config)` is the task's start-up check, registered with config_checks so that every
entry point runs it before anything is written: the named datasets exist (the list of known names
otherwise), the tfds data directory is a directory or can be created, a background_dir is a
directory. It lives here because only this task knows that dataset.data_dir is a tfds directory
(the tfds default when unset) and which names the builder knows.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

import data_builders.ses_synthetic as ses_data
from precursor_jax import config_checks
from precursor_jax.anomaly import ses as ses_scoring
from precursor_jax.core import metrics as metric_fns
from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES, GEOELECTRIC_MINUTE_SAMPLES
from precursor_jax.models import registry
from precursor_jax.tasks import ses_figures, ses_studies
from precursor_jax.training import runs, wiring
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import to_python

Arrays = dict[str, np.ndarray]
MODEL_KEYS = ("input", "target")
# Validation and test metrics a sweep can rank by (higher is better for success).
SELECTION_METRIC = ("success", "max")


def check_data(config: ml_collections.ConfigDict) -> None:
  """ConfigError (nothing built or written) for an unknown dataset or study set, a data directory
  that is a file or cannot be created, or a background_dir that is not a directory."""
  known = list(ses_data.SesSynthetic.builder_configs)
  names = [("config.dataset.config", config.dataset.config)]
  names += [("config.eval.studies", study) for study in config.eval.studies]
  for field, name in names:
    if name not in known:
      raise config_checks.unknown_name(field, name, known, "SES dataset config")
  data_dir = config.dataset.data_dir
  where = "the tfds data directory (TFDS_DATA_DIR, else ~/tensorflow_datasets)"
  if data_dir is not None:
    where = f"config.dataset.data_dir={data_dir!r}"
  problem = config_checks.directory_problem(
    tfds.core.constants.get_default_data_dir() if data_dir is None else data_dir
  )
  if problem:
    raise config_checks.ConfigError(
      f"{where}: {problem}; expected a directory for the tfds datasets (an existing one, or one "
      "that can be created): set --config.dataset.data_dir or TFDS_DATA_DIR"
    )
  background = config.dataset.background_dir
  if background is not None and not pathlib.Path(background).expanduser().is_dir():
    raise config_checks.ConfigError(
      f"config.dataset.background_dir={background!r}: expected an existing directory of day "
      "files (YYYYMMDD.txt, see precursor_jax/data/geoelectric.py)"
    )


config_checks.register_task_check("ses", check_data)


def builder_config(config: ml_collections.ConfigDict, dataset_config: str):
  """The tfds BuilderConfig of a named SES dataset, resized by config.dataset.num_days / .repeats
  when set (smoke runs, tests); sweep sets keep their single SES per day."""
  is_study = dataset_config in config.eval.studies
  return ses_data.resized(
    dataset_config,
    num_days=config.dataset.num_days,
    repeats=None if is_study else config.dataset.repeats,
  )


def load_split(config: ml_collections.ConfigDict, builder, split: str) -> Arrays:
  """One split of an SES dataset (a config name or BuilderConfig) as in-memory arrays."""
  if isinstance(builder, str):
    builder = builder_config(config, builder)
  return ses_data.load_ses_split(
    builder, split, data_dir=config.dataset.data_dir, background_dir=config.dataset.background_dir
  )


def build_model(config: ml_collections.ConfigDict):
  """The configured SES network; its sizes come from its family's block (config.model.lstm_ae,
  .fc_ae or .fct_ae)."""
  name = config.model.name
  kwargs = registry.block_kwargs(config.model, registry.SES_NETWORKS, name)
  return registry.build_ses_network(name, scale=config.model.scale, **kwargs)


def make_init(model) -> Callable:
  """init(seed key) -> (variables, state rng key) for the wiring."""

  def init(key):
    init_key, rng_key = jax.random.split(key)
    day = jnp.zeros((1, GEOELECTRIC_DAY_SAMPLES), jnp.float32)
    return {"params": model.init(init_key, day)["params"]}, rng_key

  return init


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


def score_split(predictions: Arrays, arrays: Arrays) -> dict[str, float]:
  """Success / near / failure rates, day count, mean RMSPE and MSE of a split."""
  categories = ses_scoring.score_detections(
    predictions["start"], predictions["end"], arrays["ses_start"], arrays["ses_duration"]
  )
  result = ses_scoring.category_rates(categories)
  result["rmspe"] = float(np.mean(predictions["rmspe"]))
  result["mse"] = float(np.mean(predictions["mse"]))
  return result


def epoch_scores(predictions: Arrays, arrays: Arrays) -> dict[str, float]:
  """What the per-epoch evaluation logs: `score_split` without the (constant) day count."""
  return {k: v for k, v in score_split(predictions, arrays).items() if k != "count"}


def subset(arrays: Arrays, count: int, seed: int) -> Arrays:
  """A fixed random subset (for the per-epoch training-set curve, as the paper's Fig. 5)."""
  total = len(arrays["input"])
  if count >= total:
    return arrays
  index = np.sort(np.random.default_rng(seed).choice(total, count, replace=False))
  return {k: v[index] for k, v in arrays.items()}


def setup(config: ml_collections.ConfigDict, *, validation: bool = False) -> wiring.Problem:
  """The SES task as the wiring sees it; `validation` adds the validation set (sweeps rank by it)."""
  train = load_split(config, config.dataset.config, "train")
  test = load_split(config, config.dataset.config, "test")
  print(
    f"dataset {config.dataset.config}: {len(train['input'])} train / {len(test['input'])} test days",
    flush=True,
  )
  eval_splits = {
    "test": test,
    "train": subset(train, config.eval.train_examples, wiring.data_seed(config)),
  }
  if validation:
    base = builder_config(config, config.dataset.config)
    val_config = ses_data.validation_of(base, config.dataset.validation_repeats)
    eval_splits = {"val": load_split(config, val_config, "test"), **eval_splits}
  model = build_model(config)
  # Every split the run trains on, reports or ranks by (a sweep's validation set too).
  splits = {"train": train, "test": test}
  if validation:
    splits["val"] = eval_splits["val"]
  fingerprints = {
    f"{config.dataset.config}/{name}": runs.fingerprint_arrays(arrays)
    for name, arrays in splits.items()
  }
  return wiring.Problem(
    init=make_init(model),
    loss_fn=make_loss_fn(model),
    predict_fn=make_predict_fn(model, dict(config.detection)),
    score_fn=epoch_scores,
    train_arrays=train,
    eval_splits=eval_splits,
    batch_keys=MODEL_KEYS,
    fingerprints=fingerprints,
  )


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *, force_resume: bool = False
) -> dict:
  """Trains and evaluates an SES network; returns the summary that is also written to summary.json."""
  check_data(config)  # also for callers that bypass the entry points' config_checks
  run = wiring.start_run(
    config, workdir, (config.batch_size, wiring.eval_batch_size(config)), force_resume=force_resume
  )
  registry.entry(registry.SES_NETWORKS, config.model.name, "SES network", "config.model.name")
  problem = setup(config)
  trained = wiring.train(config, run, problem)
  summary = final_report(config, trained)
  summary["train_seconds_this_process"] = trained.train_seconds
  summary["history"] = trained.record.get("history", [])
  if jax.process_index() == 0:
    (run.workdir / "summary.json").write_text(json.dumps(to_python(summary), indent=2))
  return summary


def final_report(config: ml_collections.ConfigDict, trained: wiring.Trained) -> dict:
  """Test-split scores, study-set sweeps, the paper's studies, inference time, table and figures."""
  batch_size = wiring.eval_batch_size(config)
  test = trained.problem.eval_splits["test"]
  test_predictions = trained.predict_split(test, batch_size)
  summary = {"test": score_split(test_predictions, test), "studies": {}}
  for study_config in config.eval.studies:
    arrays = load_split(config, study_config, "test")
    scores = score_split(trained.predict_split(arrays, batch_size), arrays)
    scores["amplitude_mV_km"] = float(np.median(np.abs(arrays["ses_amplitude"])))
    scores["duration_min"] = float(np.median(arrays["ses_duration"]) / GEOELECTRIC_MINUTE_SAMPLES)
    summary["studies"][study_config] = scores
  if config.eval.embedded_anomalies:
    summary["embedded_anomaly"] = ses_studies.embedded_anomaly_study(config, trained, test)
  if config.eval.ica_days and not config.dataset.background_dir:
    recipe = builder_config(config, config.dataset.config).recipe
    summary["fastica_comparison"] = ses_studies.fastica_comparison(config, trained, recipe)
  summary["inference_ms_per_day"] = ses_studies.time_inference(trained, test, config.batch_size)
  if jax.process_index() == 0:
    workdir = trained.run.workdir
    table = format_summary(config, summary)
    print(table, flush=True)
    (workdir / "summary.txt").write_text(table + "\n")
    model = build_model(config)
    days = jnp.asarray(test["input"][: config.eval.figure_examples])
    outputs = jax.device_get(
      jax.jit(lambda p, x: model.apply({"params": p}, x))(trained.state.params, days)
    )
    ses_figures.ses_detections(
      workdir / "detections.png", test, outputs, test_predictions, count=config.eval.figure_examples
    )
    if summary["studies"]:
      ses_figures.ses_sweeps(workdir / "sweeps.png", summary["studies"])
  return summary


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

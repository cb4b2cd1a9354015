"""Forecasting task: train a forecaster (Pyraformer or a baseline) on ETT-format data and evaluate it.

`train_and_evaluate(config, workdir)` is what `python -m precursor_jax.train --config
configs/pyraformer_*.py` runs. After every epoch the model is evaluated on the validation and test
splits (MSE, MAE, RMSE, sMAPE on the standardised scale); the history of those numbers gives both
reporting protocols without keeping extra copies of the parameters:

  * paper protocol (the official Pyraformer code): the epoch with the lowest TEST MSE is reported;
  * honest protocol: the epoch with the lowest VALIDATION MSE is chosen and its test metrics reported.

`config.repeats` > 1 trains seeds seed, seed+1, ... together, as one vmapped trial axis through the
shared wiring (one checkpoint, one compiled step), and averages the per-repeat results, as the paper
averages five runs.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from precursor_jax.core import metrics as metric_fns
from precursor_jax.data import ett
from precursor_jax.models import registry
from precursor_jax.training import runs, wiring
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import to_python

INPUT_KEYS = ("history", "history_time", "future_time")
BATCH_KEYS = INPUT_KEYS + ("future",)
METRICS = ("mse", "mae", "rmse", "smape")
# What a sweep ranks by on the validation split (lower is better).
SELECTION_METRIC = ("mse", "min")


def load_splits(config: ml_collections.ConfigDict) -> dict[str, dict[str, np.ndarray]]:
  """The standardised windows of each split (views: nothing is copied until a batch is taken)."""
  path = pathlib.Path(config.dataset.path).expanduser()
  borders = tuple(config.dataset.borders) if config.dataset.borders else None
  splits = ett.make_splits(path, config.dataset.history, config.dataset.horizon, borders=borders)
  return {name: {k: split[k] for k in BATCH_KEYS} for name, split in splits.items()}


def build_model(config: ml_collections.ConfigDict, channels: int):
  """The configured forecaster; its hyperparameters come from config.model.<name>."""
  name = config.model.name
  return registry.build_forecaster(
    name,
    history_len=config.dataset.history,
    horizon=config.dataset.horizon,
    channels=channels,
    **registry.block_kwargs(config.model, registry.FORECASTERS, name),
  )


def make_init(model, example: dict):
  """init(seed key) -> (variables, state rng key); the seed splits into params, dropout, state."""

  def init(key):
    init_key, dropout_key, rng_key = jax.random.split(key, 3)
    variables = model.init(
      {"params": init_key, "dropout": dropout_key}, *example.values(), train=False
    )
    return dict(variables), rng_key

  return init


def make_loss_fn(model) -> step_lib.LossFn:
  """MSE on the standardised scale, with dropout and BatchNorm statistics in training mode."""

  def loss_fn(params, batch_stats, batch, key, train):
    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    forecast, updates = model.apply(
      variables,
      *(batch[k] for k in INPUT_KEYS),
      train=train,
      rngs={"dropout": key},
      mutable=["batch_stats"],
    )
    loss = jnp.mean(jnp.square(forecast - batch["future"]))
    return loss, ({}, updates.get("batch_stats", {}))

  return loss_fn


def make_predict_fn(model):
  """predict(state, batch) -> per-window metric sums (added up over a split on the host)."""

  def predict(state, batch):
    variables = {
      "params": state.params,
      **({"batch_stats": state.batch_stats} if state.batch_stats else {}),
    }
    forecast = model.apply(variables, *(batch[k] for k in INPUT_KEYS), train=False)
    return jax.vmap(metric_fns.metric_totals)(batch["future"], forecast)

  return predict


def score_split(per_window: dict[str, np.ndarray], arrays) -> dict[str, float]:
  """MSE, MAE, RMSE and sMAPE of a whole split (exactly as on the concatenated windows)."""
  del arrays
  totals = {k: jnp.asarray(np.sum(v)) for k, v in per_window.items()}
  return {k: float(v) for k, v in metric_fns.metrics_from_totals(totals).items()}


def protocols(history: list[dict], trial: int | None = None) -> dict[str, dict[str, Any]]:
  """Test metrics of the epoch chosen on the test split (paper) and on the validation split
  (honest); `trial` picks one repeat of a stacked history."""
  if not history:
    return {}
  value = (lambda h, key: h[key]) if trial is None else (lambda h, key: h[key][trial])
  by_test = min(history, key=lambda h: value(h, "test/mse"))
  by_val = min(history, key=lambda h: value(h, "val/mse"))
  pick = lambda h: {"epoch": h["epoch"], **{m: value(h, f"test/{m}") for m in METRICS}}
  return {"paper": pick(by_test), "honest": pick(by_val)}


def setup(
  config: ml_collections.ConfigDict, splits=None, *, validation: bool = True
) -> wiring.Problem:
  """The forecasting task as the wiring sees it (the validation split is always evaluated)."""
  del validation
  path = pathlib.Path(config.dataset.path).expanduser()
  if splits is None:
    splits = load_splits(config)
    fingerprints = {path.name: runs.fingerprint_file(path)}
  else:  # windows made elsewhere (benchmarks, tests): their own bytes identify them
    fingerprints = {"train_windows": runs.fingerprint_arrays(splits["train"])}
  train = splits["train"]
  model = build_model(config, train["history"].shape[-1])
  example = {k: jnp.asarray(train[k][:1]) for k in INPUT_KEYS}
  return wiring.Problem(
    init=make_init(model, example),
    loss_fn=make_loss_fn(model),
    predict_fn=make_predict_fn(model),
    score_fn=score_split,
    train_arrays=train,
    eval_splits={name: splits[name] for name in ("val", "test")},
    batch_keys=BATCH_KEYS,
    fingerprints=fingerprints,
  )


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *, force_resume: bool = False
) -> dict:
  """Trains config.repeats runs together and writes summary.json / summary.txt with both protocols."""
  run = wiring.start_run(
    config, workdir, (config.batch_size, wiring.eval_batch_size(config)), force_resume=force_resume
  )
  registry.entry(registry.FORECASTERS, config.model.name, "forecaster", "config.model.name")
  problem = setup(config)
  splits = {"train": problem.train_arrays, **problem.eval_splits}
  sizes = ", ".join(f"{k} {len(v['history'])} windows" for k, v in splits.items())
  print(f"{config.dataset.path}: {sizes}", flush=True)
  trials = None
  if config.repeats > 1:
    trials = [{"seed": config.seed + i} for i in range(config.repeats)]
  trained = wiring.train(config, run, problem, trials=trials)
  history = trained.record.get("history", [])
  per_repeat = (
    [protocols(history)]
    if trials is None
    else [protocols(history, trial=i) for i in range(len(trials))]
  )
  summary = {
    "model": config.model.name,
    "history": config.dataset.history,
    "horizon": config.dataset.horizon,
    "repeats": per_repeat,
    "train_seconds": trained.train_seconds,
  }
  for name in ("paper", "honest"):
    summary[name] = {m: float(np.mean([r[name][m] for r in per_repeat])) for m in METRICS}
  if jax.process_index() == 0:
    table = format_summary(config, summary)
    print(table, flush=True)
    (run.workdir / "summary.txt").write_text(table + "\n")
    (run.workdir / "summary.json").write_text(json.dumps(to_python(summary), indent=2))
  return summary


def format_summary(config, summary: dict) -> str:
  rows = [
    f"{config.model.name} {pathlib.Path(config.dataset.path).name} {config.dataset.history} -> "
    f"{config.dataset.horizon}, mean of {len(summary['repeats'])} run(s), standardised scale",
    f"{'protocol':<34}{'MSE':>8}{'MAE':>8}{'RMSE':>8}{'sMAPE %':>9}",
  ]
  labels = {"paper": "paper (best epoch on test)", "honest": "honest (best epoch on validation)"}
  for name, label in labels.items():
    m = summary[name]
    rows.append(f"{label:<34}{m['mse']:>8.4f}{m['mae']:>8.4f}{m['rmse']:>8.4f}{m['smape']:>9.2f}")
  return "\n".join(rows)

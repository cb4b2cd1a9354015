"""Forecasting task: train a forecaster (Pyraformer or a baseline) on ETT-format data and evaluate it.

`train_and_evaluate(config, workdir)` is what `python -m precursor_jax.train --config configs/pyraformer_*.py`
runs. After every epoch the model is evaluated on the validation and test splits (MSE, MAE, RMSE, sMAPE on the
standardised scale); the history of those numbers gives both reporting protocols without keeping extra
copies of the parameters:

  * paper protocol (the official Pyraformer code): the epoch with the lowest TEST MSE is reported;
  * honest protocol: the epoch with the lowest VALIDATION MSE is chosen and its test metrics reported.

`config.repeats` > 1 retrains with seeds seed, seed+1, ... (each in workdir/repeat_<i>, each resumable) and
averages the per-repeat results, as the paper averages five runs.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from precursor_jax import metrics as metric_fns
from precursor_jax.data import batching, ett
from precursor_jax.models.baselines import build_forecaster
from precursor_jax.training import checkpoints, loop, parallel
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import MetricWriter, to_python

INPUT_KEYS = ("history", "history_time", "future_time")
BATCH_KEYS = INPUT_KEYS + ("future",)
METRICS = ("mse", "mae", "rmse", "smape")


def load_splits(config: ml_collections.ConfigDict) -> dict[str, dict[str, np.ndarray]]:
  """The standardised windows of each split (views: nothing is copied until a batch is taken)."""
  path = pathlib.Path(config.dataset.path).expanduser()
  borders = tuple(config.dataset.borders) if config.dataset.get("borders") else None
  splits = ett.make_splits(path, config.dataset.history, config.dataset.horizon, borders=borders)
  return {name: {k: split[k] for k in BATCH_KEYS} for name, split in splits.items()}


def build_model(config: ml_collections.ConfigDict, channels: int):
  """The configured forecaster; its hyperparameters come from config.model.<name>."""
  name = config.model.name
  kwargs = dict(config.model.get(name) or {})
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
  return build_forecaster(
    name,
    history_len=config.dataset.history,
    horizon=config.dataset.horizon,
    channels=channels,
    **kwargs,
  )


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


def evaluate_split(predict, state, arrays, batch_size: int, mesh) -> dict[str, float]:
  """MSE, MAE, RMSE and sMAPE of a whole split (exactly as on the concatenated windows)."""
  per_window = loop.predict_split(predict, state, arrays, batch_size, mesh)
  totals = {k: jnp.asarray(np.sum(v)) for k, v in per_window.items()}
  return {k: float(v) for k, v in metric_fns.metrics_from_totals(totals).items()}


def protocols(history: list[dict]) -> dict[str, dict[str, Any]]:
  """Test metrics of the epoch chosen on the test split (paper) and on the validation split (honest)."""
  if not history:
    return {}
  by_test = min(history, key=lambda h: h["test/mse"])
  by_val = min(history, key=lambda h: h["val/mse"])
  pick = lambda h: {"epoch": h["epoch"], **{m: h[f"test/{m}"] for m in METRICS}}
  return {"paper": pick(by_test), "honest": pick(by_val)}


def train_one(config: ml_collections.ConfigDict, workdir: pathlib.Path, splits, mesh) -> dict:
  """One training run (one seed) in `workdir`; returns its history and protocol results."""
  workdir.mkdir(parents=True, exist_ok=True)
  train = splits["train"]
  channels = train["history"].shape[-1]
  model = build_model(config, channels)
  optimizer = state_lib.adam(config.adam_eps)
  init_key, dropout_key, rng_key = jax.random.split(jax.random.key(config.seed), 3)
  example = {k: jnp.asarray(train[k][:1]) for k in INPUT_KEYS}
  variables = model.init(
    {"params": init_key, "dropout": dropout_key}, *example.values(), train=False
  )
  state = state_lib.create_train_state(
    variables["params"], optimizer, rng_key, variables.get("batch_stats")
  )
  state = parallel.replicate(state, mesh)
  checkpointer = checkpoints.Checkpointer(
    workdir / "checkpoints", max_to_keep=config.get("checkpoints_to_keep", 2)
  )
  state, record = checkpoints.restore_or_initialize(checkpointer, state, config.get("init_from"))

  per_epoch = batching.steps_per_epoch(len(train["history"]), config.batch_size)
  total_steps = per_epoch * config.num_epochs
  hparams = state_lib.make_hyperparams(
    learning_rate=config.learning_rate,
    lr_decay=config.get("lr_decay", 0.0),
    lr_epoch_gamma=config.lr_epoch_gamma,
    steps_per_epoch=per_epoch,
    weight_penalty=config.get("weight_penalty", 0.0),
  )
  train_step = parallel.data_parallel(
    step_lib.make_train_step(make_loss_fn(model), optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  predict = parallel.data_parallel_apply(make_predict_fn(model), mesh)
  eval_splits = {name: splits[name] for name in ("val", "test")}

  def evaluate(state, epoch):
    del epoch
    results = {}
    for name, arrays in eval_splits.items():
      results.update(
        {
          f"{name}/{k}": v
          for k, v in evaluate_split(predict, state, arrays, config.eval_batch_size, mesh).items()
        }
      )
    return results

  writer = MetricWriter(workdir)
  schedule = loop.Schedule(
    total_steps=total_steps,
    steps_per_epoch=per_epoch,
    log_every_steps=config.log_every_steps,
    checkpoint_every_steps=config.checkpoint_every_steps,
    eval_every_epochs=config.get("eval_every_epochs", 1),
  )
  print(
    f"{config.model.name}: {sum(x.size for x in jax.tree.leaves(state.params)):,} parameters; "
    f"{len(train['history'])} training windows, {per_epoch} steps per epoch, {total_steps} steps",
    flush=True,
  )
  started = time.time()
  state, record = loop.run(
    state=state,
    train_step=train_step,
    hparams=hparams,
    make_batch=loop.sharded_train_batches(train, config.batch_size, config.seed, mesh),
    schedule=schedule,
    writer=writer,
    checkpointer=checkpointer,
    evaluate=evaluate,
    record=record,
    stop_after_step=config.get("stop_after_step"),
  )
  checkpointer.close()
  writer.close()
  return {
    "history": record.get("history", []),
    "protocols": protocols(record.get("history", [])),
    "steps": int(state.step),
    "total_steps": total_steps,
    "train_seconds_this_process": time.time() - started,
  }


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
  """Trains config.repeats runs and writes summary.json / summary.txt with both protocols."""
  workdir, mesh = loop.start_run(config, workdir, (config.batch_size, config.eval_batch_size))
  splits = load_splits(config)
  print(
    f"{config.dataset.path}: "
    + ", ".join(f"{k} {len(v['history'])} windows" for k, v in splits.items()),
    flush=True,
  )
  runs = []
  for repeat in range(config.repeats):
    run_config = ml_collections.ConfigDict(config.to_dict())
    run_config.seed = config.seed + repeat
    run_dir = workdir if config.repeats == 1 else workdir / f"repeat_{repeat}"
    runs.append(train_one(run_config, run_dir, splits, mesh))
    if (
      runs[-1]["steps"] < runs[-1]["total_steps"]
    ):  # stopped early on purpose (tests of resumption)
      return {"stopped_at_step": runs[-1]["steps"]}
  summary = {
    "model": config.model.name,
    "history": config.dataset.history,
    "horizon": config.dataset.horizon,
    "repeats": [r["protocols"] for r in runs],
    "train_seconds": sum(r["train_seconds_this_process"] for r in runs),
  }
  for name in ("paper", "honest"):
    summary[name] = {m: float(np.mean([r["protocols"][name][m] for r in runs])) for m in METRICS}
  if jax.process_index() == 0:
    table = format_summary(config, summary)
    print(table, flush=True)
    (workdir / "summary.txt").write_text(table + "\n")
    (workdir / "summary.json").write_text(json.dumps(to_python(summary), indent=2))
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

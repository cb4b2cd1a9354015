"""The forecaster stage of detect: one forecaster per station (and VMD mode), all trained together.

Each station's kept VMD signal is standardised with its background mean and standard deviation and
cut into windows: `history` samples in, the next `horizon` samples out (history_hours and
horizon_hours of the config, in samples of the station's interval). Every predicted sample is
made from earlier samples only:

  training windows    start every `train_stride_hours` over the first (1 - validation_fraction)
                      of the background period; their targets end before the held-back part;
  held-back windows   the same over the rest of the background: the seed paper's Table 2 metrics
                      (MSE, MAE, RMSE, sMAPE, in the signal's own units) and the per-epoch check;
  prediction blocks   one block of `horizon` samples after every `history`-sample history,
                      back to back through each day (the last block of a day ends at midnight;
                      where it overlaps the one before, the earlier forecast is kept): each
                      sample is predicted once, from the `history` samples before its block.

Windows never cross midnight with their target, and every window reads all its samples from ONE
decomposition (`Segmented`): with causal VMD each day has its own trailing-window decomposition,
and a window for day d takes its history from day d's decomposition too, so the end effects of
different decompositions never meet inside a window. (Stitching the last days of the daily
decompositions into one series gives a jump at every midnight, and a residual detector then calls
every day anomalous.)

A window whose history holds a sample of a long gap (longer than quality.max_gap_hours: never
invented data) gives no prediction; a target sample that is not a real observation (missing, or
removed as an artefact) has no residual. Both are weights, never silently dropped rows.

The stations of a group (same interval, same length) are one model: `StationStack` maps the
forecaster over the station axis with nn.vmap (separate parameters, batch statistics and dropout
per station), and the loss is the SUM of the per-station masked MSEs, so each station's gradient
is exactly its own; Adam is element-wise, so training the stack equals training the stations one by
one on the same batches. The stack trains through the shared wiring (training/wiring.py): resumable
checkpoints in `<workdir>/forecaster/<name>-<hash of its inputs>`.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.core import metrics as metric_fns
from precursor_jax.data.ett import time_features
from precursor_jax.models import registry
from precursor_jax.training import runs, wiring

Arrays = dict[str, np.ndarray]
BATCH_KEYS = ("history", "history_time", "future_time", "future", "weight")
SECONDS_PER_HOUR = 3600


class _StationForecaster(nn.Module):
  """One station's forecaster, with `train` a field (nn.vmap maps positional arguments only)."""

  forecaster: str
  sizes: tuple  # (name, value) pairs: hashable module fields
  train: bool

  @nn.compact
  def __call__(self, history, history_time, future_time):
    entry = registry.entry(registry.FORECASTERS, self.forecaster, "forecaster")
    model = entry.constructor(**dict(self.sizes), name="net")
    return model(history, history_time, future_time, train=self.train)


class StationStack(nn.Module):
  """`stations` forecasters side by side: history (B, S, L, 1) -> forecast (B, S, H, 1)."""

  forecaster: str
  sizes: tuple
  stations: int

  @nn.compact
  def __call__(self, history, history_time, future_time, *, train: bool = False):
    mapped = nn.vmap(
      _StationForecaster,
      in_axes=(1, None, None),
      out_axes=1,
      variable_axes={"params": 0, "batch_stats": 0},
      split_rngs={"params": True, "dropout": True},
      axis_size=self.stations,
    )
    return mapped(self.forecaster, self.sizes, train, name="stations")(
      history, history_time, future_time
    )


@dataclasses.dataclass(frozen=True)
class WindowPlan:
  """Window geometry in samples."""

  history: int
  horizon: int
  stride: int

  @classmethod
  def from_config(cls, forecaster: Any, interval_seconds: int) -> WindowPlan:
    per_hour = SECONDS_PER_HOUR / interval_seconds
    values = [round(h * per_hour) for h in (forecaster.history_hours, forecaster.horizon_hours)]
    stride = max(1, round(forecaster.train_stride_hours * per_hour))
    if min(values) < 1:
      raise ValueError(
        f"forecaster history_hours={forecaster.history_hours} / horizon_hours="
        f"{forecaster.horizon_hours} is less than one sample of {interval_seconds} s"
      )
    return cls(values[0], values[1], stride)


@dataclasses.dataclass(frozen=True)
class Segmented:
  """A signal as one or more decompositions: a window reads all its samples from one of them.

  segments (n, length) hold the kept signal of n decompositions, segment i covering global
  samples [starts[i], starts[i] + length); of_time (T,) names the segment that owns each global
  sample (-1: none). Whole-record VMD is one segment owning everything; causal VMD one segment per
  day (its trailing window), owning that day. A window whose history and target do not both lie in
  the segment that owns its first target sample gets no weight, so no window mixes two
  decompositions (their end effects would make a jump at every day boundary).
  """

  segments: np.ndarray
  starts: np.ndarray
  of_time: np.ndarray

  @classmethod
  def continuous(cls, signal: np.ndarray) -> Segmented:
    return cls(np.asarray(signal)[None], np.zeros(1, np.int64), np.zeros(len(signal), np.int64))


@dataclasses.dataclass(frozen=True)
class Standardised:
  """Signals of a group, standardised with their background statistics."""

  rows: list  # [Segmented], standardised, NaN set to 0
  real: np.ndarray  # (S, T) bool: a real observation (a target may be scored)
  history_ok: np.ndarray  # (S, T) bool: may appear in a history (real, or a short filled gap)
  features: np.ndarray  # (T, 4) time features
  mean: np.ndarray  # (S,)
  std: np.ndarray  # (S,)


def standardise(rows, observed, real, history_ok, times, background) -> Standardised:
  """Standardise each row by the mean and std of its observed (S, T) signal over the real
  background samples."""
  observed = np.asarray(observed, np.float64)
  use = real & background[None, :]
  if np.any(use.sum(axis=1) < 2):
    raise ValueError("a station has fewer than two real samples in the background period")
  mean = np.array([observed[s, use[s]].mean() for s in range(len(observed))])
  std = np.array([observed[s, use[s]].std() for s in range(len(observed))])
  std = np.where(std > 0, std, 1.0)
  scaled = [
    dataclasses.replace(r, segments=np.nan_to_num((r.segments - m) / d).astype(np.float32))
    for r, m, d in zip(rows, mean, std, strict=True)
  ]
  return Standardised(scaled, real, history_ok, time_features(times), mean, std)


def _row_windows(row, starts: np.ndarray, offsets: np.ndarray):
  """(values (N, len(offsets)), inside (N,)) of one row for windows at global `starts`."""
  segment = row.of_time[starts]
  position = starts - row.starts[np.maximum(segment, 0)]
  local = position[:, None] + offsets[None, :]
  length = row.segments.shape[1]
  inside = (segment >= 0) & (local.min(axis=1) >= 0) & (local.max(axis=1) < length)
  values = row.segments[np.maximum(segment, 0)[:, None], np.clip(local, 0, length - 1)]
  return np.where(inside[:, None], values, 0.0), inside


def windows(data: Standardised, starts: np.ndarray, plan: WindowPlan) -> Arrays:
  """The windows that predict [t0, t0 + horizon) from [t0 - history, t0), for each start t0,
  every sample of a window from one decomposition (Segmented)."""
  starts = np.asarray(starts, np.int64)
  offsets = np.arange(-plan.history, plan.horizon)
  past = starts[:, None] + offsets[None, : plan.history]
  future = starts[:, None] + offsets[None, plan.history :]
  histories, futures, inside = [], [], []
  for row in data.rows:
    values, ok = _row_windows(row, starts, offsets)
    histories.append(values[:, : plan.history])
    futures.append(values[:, plan.history :])
    inside.append(ok)
  history_ok = data.history_ok[:, past].all(axis=-1) & np.stack(inside)  # (S, N)
  weight = data.real[:, future] & history_ok[:, :, None]  # (S, N, H)
  return {
    "history": np.stack(histories, axis=1)[..., None].astype(np.float32),
    "history_time": data.features[past],
    "future_time": data.features[future],
    "future": np.stack(futures, axis=1)[..., None].astype(np.float32),
    "weight": np.moveaxis(weight, 0, 1).astype(np.float32),
  }


def day_aligned_starts(plan: WindowPlan, first: int, end: int, samples_per_day: int, step: int):
  """Window starts every `step` samples within each day (the record starts at a day boundary),
  targets inside the day and inside [first, end): blocks never cross midnight, so a causal
  decomposition (one per day) serves each whole window. With step = horizon these are the
  prediction blocks: back to back through each day, the last one of a day ending at midnight."""
  within = np.arange(0, samples_per_day - plan.horizon + 1, step)
  if len(within) == 0 or within[-1] + plan.horizon < samples_per_day:
    within = np.append(within, samples_per_day - plan.horizon)
  days = np.arange(0, end, samples_per_day)
  starts = (days[:, None] + within[None, :]).reshape(-1)
  keep = (starts >= max(first, plan.history)) & (starts + plan.horizon <= end)
  return np.unique(starts[keep])


def training_starts_per_day(plan: WindowPlan, samples_per_day: int) -> int:
  """How many training windows a day yields: targets stay inside one day (day_aligned_starts),
  so a horizon of a whole day leaves one, whatever train_stride_hours says."""
  days = plan.history // samples_per_day + 2  # the last day is clear of the first history
  end = days * samples_per_day
  starts = day_aligned_starts(plan, 0, end, samples_per_day, plan.stride)
  return int(np.sum(starts >= end - samples_per_day))


def make_loss_fn(model):
  """The sum over stations of each station's weighted MSE (standardised units)."""

  def loss_fn(params, batch_stats, batch, key, train):
    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    forecast, updates = model.apply(
      variables,
      batch["history"],
      batch["history_time"],
      batch["future_time"],
      train=train,
      rngs={"dropout": key},
      mutable=["batch_stats"],
    )
    weight = batch["weight"][..., None]
    squared = weight * jnp.square(forecast - batch["future"])
    per_station = jnp.sum(squared, axis=(0, 2, 3)) / jnp.maximum(
      jnp.sum(weight, axis=(0, 2, 3)), 1.0
    )
    return jnp.sum(per_station), ({}, updates.get("batch_stats", {}))

  return loss_fn


def make_predict_fn(model):
  def predict(state, batch):
    variables = {
      "params": state.params,
      **({"batch_stats": state.batch_stats} if state.batch_stats else {}),
    }
    forecast = model.apply(
      variables, batch["history"], batch["history_time"], batch["future_time"], train=False
    )
    return {"forecast": forecast[..., 0]}

  return predict


def validation_mse(outputs: dict[str, np.ndarray], arrays: Arrays) -> dict[str, float]:
  """The per-epoch check: weighted MSE over every held-back target of every station."""
  weight = arrays["weight"]
  error = np.square(outputs["forecast"] - arrays["future"][..., 0])
  return {"mse": float(np.sum(weight * error) / max(float(np.sum(weight)), 1.0))}


def build_stack(forecaster: Any, name: str, plan: WindowPlan, stations: int) -> StationStack:
  sizes = registry.block_kwargs(forecaster, registry.FORECASTERS, name)
  sizes.update(history_len=plan.history, horizon=plan.horizon, channels=1)
  return StationStack(name, tuple(sorted(sizes.items())), stations)


def make_init(model, example: Arrays):
  def init(key):
    init_key, dropout_key, rng_key = jax.random.split(key, 3)
    variables = model.init(
      {"params": init_key, "dropout": dropout_key},
      example["history"],
      example["history_time"],
      example["future_time"],
      train=False,
    )
    return dict(variables), rng_key

  return init


@dataclasses.dataclass(frozen=True)
class ForecastResult:
  """What the stage hands on: forecasts of every sample (physical units) and Table 2 metrics."""

  forecast: np.ndarray  # (S, T), NaN where no prediction could be made
  metrics: list[dict[str, float]]  # per station, held-back background, physical units
  plan: WindowPlan
  workdir: str
  train_seconds: float
  held_back: tuple[int, int]  # sample range of the held-back background (out of sample)
  held_back_mse: float  # standardised MSE over every station's held-back targets (unit-free)
  training_windows: int  # windows the stack trained on (each holds every station of the stack)


def table2_metrics(outputs, arrays, data: Standardised) -> list[dict[str, float]]:
  """MSE, MAE, RMSE, sMAPE per station on the held-back windows, in the signal's own units."""
  forecast = outputs["forecast"] * data.std[None, :, None] + data.mean[None, :, None]
  truth = arrays["future"][..., 0] * data.std[None, :, None] + data.mean[None, :, None]
  weight = arrays["weight"]
  rows = []
  for s in range(forecast.shape[1]):
    w = weight[:, s].reshape(-1)
    if w.sum() == 0:
      rows.append({m: float("nan") for m in ("mse", "mae", "rmse", "smape")})
      continue
    y, f = truth[:, s].reshape(-1), forecast[:, s].reshape(-1)
    values = metric_fns.forecast_metrics(jnp.asarray(y), jnp.asarray(f), jnp.asarray(w))
    rows.append({k: float(v) for k, v in values.items()})
  return rows


def train_and_forecast(
  forecaster: Any,
  name: str,
  data: Standardised,
  background: tuple[int, int],
  plan: WindowPlan,
  samples_per_day: int,
  root: pathlib.Path,
  *,
  force_resume: bool = False,
) -> ForecastResult:
  """Trains the stack `name` on the background samples [start, end) and predicts every block."""
  forecaster = copy.deepcopy(forecaster)
  forecaster.name = name  # the run's config.json names the model it trained
  rows, length = data.real.shape
  start, end = background
  held_back_start = start + int(round((end - start) * (1.0 - forecaster.validation_fraction)))
  held_back_start -= held_back_start % samples_per_day  # held back from a day boundary
  starts = lambda a, b, step: day_aligned_starts(plan, a, b, samples_per_day, step)
  train_arrays = windows(data, starts(start, held_back_start, plan.stride), plan)
  held_back = windows(data, starts(held_back_start, end, plan.stride), plan)
  if len(train_arrays["history"]) < forecaster.batch_size:
    raise ValueError(
      f"only {len(train_arrays['history'])} training windows of {plan.history} + {plan.horizon} "
      f"samples in the background (batch {forecaster.batch_size}): lengthen the background, or "
      "shorten forecaster.history_hours / horizon_hours / train_stride_hours"
    )
  if len(held_back["history"]) == 0:
    raise ValueError(
      "no held-back background window: raise background.fraction or validation_fraction"
    )
  model = build_stack(forecaster, name, plan, rows)
  fingerprint = runs.fingerprint_arrays(train_arrays)
  identity = runs.override_hash(
    {"name": name, "plan": dataclasses.asdict(plan), "data": fingerprint}
  )
  run_dir = root / f"{name}-{identity}"
  run = wiring.start_run(
    forecaster,
    run_dir,
    (forecaster.batch_size, wiring.eval_batch_size(forecaster)),
    force_resume=force_resume,
  )
  problem = wiring.Problem(
    init=make_init(model, {k: v[:1] for k, v in train_arrays.items()}),
    loss_fn=make_loss_fn(model),
    predict_fn=make_predict_fn(model),
    score_fn=validation_mse,
    train_arrays=train_arrays,
    eval_splits={"val": held_back},
    batch_keys=BATCH_KEYS,
    fingerprints={"train_windows": fingerprint},
  )
  trained = wiring.train(forecaster, run, problem)
  batch = wiring.eval_batch_size(forecaster)
  held_back_outputs = trained.predict_split(held_back, batch)
  metrics = table2_metrics(held_back_outputs, held_back, data)
  block_starts = starts(plan.history, length, plan.horizon)
  blocks = windows(data, block_starts, plan)
  predicted = trained.predict_split(blocks, batch)["forecast"]  # (N, S, H), standardised
  usable = blocks["weight"] > 0  # real target and an admissible history
  forecast = np.full((rows, length), np.nan)
  physical = predicted * data.std[None, :, None] + data.mean[None, :, None]
  for row, t0 in enumerate(block_starts):
    cells = slice(t0, t0 + plan.horizon)
    new = np.where(usable[row], physical[row], np.nan)
    current = forecast[:, cells]
    forecast[:, cells] = np.where(np.isnan(current), new, current)  # overlap: the earlier block
  return ForecastResult(
    forecast,
    metrics,
    plan,
    str(run_dir),
    trained.train_seconds,
    (held_back_start, end),
    validation_mse(held_back_outputs, held_back)["mse"],
    len(train_arrays["history"]),
  )

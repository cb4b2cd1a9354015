"""Sweeps of method 1's settings, from `python -m precursor_jax.sweep --config configs/detect_*.py`.

  --sweep threshold.k=2,2.5,3 --sweep threshold.strain_day_fraction=0.0174,0.0347

Threshold fields (THRESHOLD_FIELDS) need no retraining. The trials of a group recount the stored
residuals: one jax.vmap over the trials gives each trial's point threshold and its per-day counts
of anomalous points, on the judged days and on the held-back background; each trial's day
verdicts, Boltzmann fit and significance tests then come from the functions a single detect run
uses, so a trial's numbers are those of `python -m precursor_jax.detect ... --config.threshold.k=K`.
Any other field (forecaster size, learning rate, window, VMD) changes the residuals: trials are
grouped by those fields and each group is one detect run in `<workdir>/group_<g>` (stages and
forecasters cached there, so a rerun resumes).

Ranking never looks at the pre-event window. Trials are ordered first by the forecaster stack's
standardised MSE on its held-back background (equal within a group), then by how far the share
of anomalous days on that held-back background (out of sample and before the judged period) is
from threshold.sweep_quiet_day_rate: a stated false-alarm rate of days. Every trial's pre-event
p-values are listed beside, with the multiple-testing bound: the smallest of N p-values is not a
p-value (Bonferroni: N * p_min). The chosen trial is a normal detect workdir in `<workdir>/best`,
reported with settings_tried = N x the base config's.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
import math
import pathlib
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.anomaly import residuals as res
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import sweeps
from precursor_jax.tasks.detect import pipeline, statistics
from precursor_jax.training import runs
from precursor_jax.training.writer import to_python

THRESHOLD_FIELDS = frozenset(
  {
    "threshold.mode",
    "threshold.k",
    "threshold.false_alarm_rate",
    "threshold.geomagnetic_day_fraction",
    "threshold.strain_day_fraction",
    "threshold.min_valid_fraction",
  }
)
CRITERION = "threshold.sweep_quiet_day_rate"


@functools.partial(jax.jit, static_argnames=("n_days",))
def trial_day_counts(e, day_index, reference, k, rate, quantile, *, n_days: int):
  """Point thresholds (T,) and anomalous points per day (T, D) of one residual series `e` (N,)
  for T trials at once: threshold k * mean(reference), or the (1 - rate) quantile of the
  reference where `quantile`; `day_index` (N,) is each sample's day."""
  mean = jnp.mean(reference)

  def one(k, rate, quantile):
    threshold = jnp.where(quantile, jnp.quantile(reference, 1.0 - rate), k * mean)
    hits = (jnp.isfinite(e) & (e > threshold)).astype(jnp.int32)
    return threshold, jax.ops.segment_sum(hits, day_index, num_segments=n_days)

  return jax.vmap(one)(k, rate, quantile)


def _counts_of_trials(e, mask, times, offset, reference, configs) -> tuple[np.ndarray, list]:
  """(thresholds, [DailyCounts per trial]) of the samples `mask` of one series."""
  index, days, per_day = res.day_labels(times[mask] + offset, None)
  values = e[mask]
  valid = np.bincount(index, weights=np.isfinite(values), minlength=len(days)).astype(np.int32)
  k = np.array([c.threshold.k for c in configs], np.float64)
  rate = np.array([c.threshold.false_alarm_rate for c in configs], np.float64)
  quantile = np.array([c.threshold.mode == "quantile" for c in configs])
  with jax.enable_x64(True):  # the single run's thresholds are float64 NumPy
    thresholds, counts = trial_day_counts(
      jnp.asarray(values),
      jnp.asarray(index),
      jnp.asarray(reference),
      jnp.asarray(k),
      jnp.asarray(rate),
      jnp.asarray(quantile),
      n_days=len(days),
    )
  counts = np.asarray(counts)
  return np.asarray(thresholds), [res.DailyCounts(days, c, valid, per_day) for c in counts]


def recount(series_entry: dict, configs: Sequence[Any], storm_days, event_time) -> list[dict]:
  """Every trial's numbers for one station and VMD mode of a finished study (module doc)."""
  e, times = series_entry["residual"], series_entry["times"]
  calibration, judged = series_entry["calibration"], series_entry["judged"]
  reference = e[calibration & np.isfinite(e)]
  if len(reference) < 10:
    raise ValueError(f"only {len(reference)} held-back residuals: the threshold needs a background")
  offset = series_entry["day_offset"]
  thresholds, judged_counts = _counts_of_trials(e, judged, times, offset, reference, configs)
  _, quiet_counts = _counts_of_trials(e, calibration, times, offset, reference, configs)
  verdict_args = (
    series_entry["samples_per_day"],
    series_entry["kind"],
    series_entry["artefact_days"],
    storm_days,
  )
  out = []
  for config, threshold, counts, quiet in zip(
    configs, thresholds, judged_counts, quiet_counts, strict=True
  ):
    verdicts = statistics.verdicts_from_counts(counts, *verdict_args, config)
    background = statistics.verdicts_from_counts(quiet, *verdict_args, config)
    usable = int(background["usable"].sum())
    fit = statistics.fit_curve(verdicts, event_time, config, config.seed)
    test = statistics.significance_tests(verdicts, event_time, config, config.seed)
    out.append(
      {
        "point_threshold": float(threshold),
        "quiet_days": usable,
        "quiet_day_rate": float(background["anomalous"].sum() / usable) if usable else math.nan,
        "judged_usable_days": int(verdicts["usable"].sum()),
        "anomalous_days": int(verdicts["anomalous"].sum()),
        "p_circular": test.get("p_value"),
        "p_block": test.get("block_bootstrap_p_value"),
        "p_acceleration": (test.get("acceleration") or {}).get("p_value"),
        "x0_date": fit.get("x0_date") if fit.get("usable_result") else None,
      }
    )
  return out


def _group_dir_config(config: Any, static: Mapping) -> Any:
  group = sweeps.trial_config(config, static)
  group.figures = False  # a group is a cache of residuals; the chosen trial is drawn in best/
  return group


def _held_back_mse(document: dict) -> float:
  """The mean standardised held-back MSE of the study's forecaster stacks (one per grid)."""
  values = {
    s["forecaster"]["workdir"]: s["forecaster"]["held_back_mse_standardised"]
    for s in document["stations"].values()
  }
  return float(np.mean(list(values.values())))


def run_sweep(
  task,
  config: Any,
  trials: Sequence[Mapping[str, Any]],
  workdir: str | pathlib.Path,
  *,
  force_resume: bool = False,
  base_command: str | None = None,
) -> dict:
  """Runs every group's study once, recounts every trial, ranks them and writes the results."""
  del task
  trials = [dict(t) for t in trials]
  if any(CRITERION in t for t in trials):
    raise ConfigError(f"{CRITERION} is the sweep's selection criterion: it cannot be swept")
  configs = [sweeps.trial_config(config, t) for t in trials]  # each checked as a single run
  workdir = sweeps.check_sweep_dir(workdir, config, trials, force=force_resume)
  workdir.mkdir(parents=True, exist_ok=True)
  identity = {"config": runs.as_json(config), "trials": trials}
  (workdir / sweeps.SWEEP_FILE).write_text(json.dumps(to_python(identity), indent=2, default=str))

  by_group = _groups(trials)
  print(f"sweep of {len(trials)} trials in {len(by_group)} detect run(s) -> {workdir}", flush=True)
  results: list[dict] = [{} for _ in trials]
  group_dirs = {}
  for number, (static, indices) in enumerate(by_group):
    group_dir = workdir / f"group_{number}"
    group_dirs[number] = group_dir
    study = pipeline.run_study(
      _group_dir_config(config, static), group_dir, force_resume=force_resume
    )
    mse = _held_back_mse(study.document)
    event_time = study.study.event_time
    per_trial = [{} for _ in indices]
    for name, modes in study.series.items():
      for mode, entry in modes.items():
        numbers = recount(entry, [configs[i] for i in indices], study.storm_days, event_time)
        for row, values in zip(per_trial, numbers, strict=True):
          row.update({f"{name}/{mode}/{key}": value for key, value in values.items()})
    for index, row in zip(indices, per_trial, strict=True):
      rates = [v for k, v in row.items() if k.endswith("/quiet_day_rate")]
      target = configs[index].threshold.sweep_quiet_day_rate
      results[index] = {
        **trials[index],
        "held_back_mse": mse,
        "quiet_day_rate": float(np.mean(rates)),
        "selection_error": float(np.mean([abs(r - target) for r in rates])),
        "group": number,
        **row,
      }
  order = rank(results)
  ranked = [results[i] for i in order]
  best = order[0]
  warnings = multiple_testing(ranked, len(trials))
  command = None
  if base_command is not None:
    overrides = " ".join(f"--config.{k}={v}" for k, v in trials[best].items())
    command = f"{base_command} {overrides} --workdir {workdir / 'best'}"
  write_results(workdir, ranked, trials, warnings, command)
  best_config = copy.deepcopy(configs[best])
  best_config.significance.settings_tried = config.significance.settings_tried * len(trials)
  export_best(best_config, group_dirs[results[best]["group"]], workdir / "best")
  identity.update(ranked=ranked, best=best, multiple_testing=warnings)
  (workdir / sweeps.SWEEP_FILE).write_text(json.dumps(to_python(identity), indent=2, default=str))
  return {"results": ranked, "best": results[best], "workdir": str(workdir)}


def _groups(trials: Sequence[Mapping]) -> list[tuple[dict, list[int]]]:
  """[(fields that need a detect run of their own, trial indices)]."""
  out: dict[str, tuple[dict, list[int]]] = {}
  for index, trial in enumerate(trials):
    static = {k: v for k, v in trial.items() if k not in THRESHOLD_FIELDS}
    key = json.dumps(to_python(static), sort_keys=True)
    out.setdefault(key, (static, []))[1].append(index)
  return list(out.values())


def rank(results: Sequence[Mapping]) -> list[int]:
  """Trial indices best first: held-back MSE, then distance from the stated quiet-day rate."""

  def score(i):
    mse, error = results[i]["held_back_mse"], results[i]["selection_error"]
    bad = not (math.isfinite(mse) and math.isfinite(error))
    return (bad, mse if not bad else 0.0, error if not bad else 0.0, i)

  return sorted(range(len(results)), key=score)


def multiple_testing(ranked: Sequence[Mapping], tried: int) -> list[dict]:
  """Per station and mode: the smallest pre-event p over the trials and its Bonferroni bound."""
  out = []
  for key in [k for k in ranked[0] if k.endswith("/p_circular")]:
    values = [row[key] for row in ranked if row.get(key) is not None]
    if not values:
      continue
    smallest = float(min(values))
    out.append(
      {
        "series": key.rsplit("/", 1)[0],
        "settings_tried": tried,
        "smallest_p": smallest,
        "bonferroni_bound": float(min(1.0, tried * smallest)),
      }
    )
  return out


def export_best(config: Any, group_dir: pathlib.Path, target: pathlib.Path) -> None:
  """The chosen trial as a normal detect workdir: the group's cached stages and forecasters
  copied, then the study reported (figures included) with the trial's thresholds."""
  if target.exists():  # derived output: written afresh from the group every time
    shutil.rmtree(target)
  shutil.copytree(group_dir, target, ignore=shutil.ignore_patterns("report*"))
  pipeline.run_study(config, target, force_resume=True)


def write_results(workdir, ranked, trials, warnings, command) -> None:
  """sweep.csv (every column), sweep.md (the main columns, the multiple-testing bound), sweep.png."""
  fields = sorted({k for t in trials for k in t})
  summary = ["held_back_mse", "quiet_day_rate", "selection_error", "group"]
  per_series = [k for k in ranked[0] if "/" in k]
  columns = fields + summary + per_series
  with open(workdir / "sweep.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, columns, extrasaction="ignore")
    writer.writeheader()
    for row in ranked:
      writer.writerow({k: to_python(row.get(k)) for k in columns})
  shown = (
    fields
    + summary
    + [k for k in per_series if k.endswith(("/anomalous_days", "/p_circular", "/x0_date"))]
  )
  lines = [
    "Trials ranked without the pre-event window: by the forecaster's standardised held-back MSE,",
    "then by |quiet_day_rate - threshold.sweep_quiet_day_rate| (the share of anomalous days on",
    "the held-back background). Pre-event p-values are listed, never used to rank.",
    "",
    "| rank | " + " | ".join(shown) + " |",
    "|---" * (len(shown) + 1) + "|",
  ]
  for position, row in enumerate(ranked, 1):
    lines.append(f"| {position} | " + " | ".join(sweeps.cell(row.get(k)) for k in shown) + " |")
  lines += ["", "## Multiple testing", ""]
  for w in warnings:
    lines.append(
      f"- {w['series']}: {w['settings_tried']} settings tried; the smallest pre-event p, "
      f"{w['smallest_p']:.3g}, is not a p-value: its Bonferroni bound is "
      f"{w['bonferroni_bound']:.3g}."
    )
  if command:
    lines += [
      "",
      f"The chosen trial is a normal detect run in {workdir / 'best'} (its report states the "
      "settings tried); re-report it with:",
      "",
      f"    {command}",
    ]
  (workdir / "sweep.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines), flush=True)
  label = "|quiet-day rate - target|"
  sweeps.plot_results(workdir / "sweep.png", ranked, fields, "selection_error", label)

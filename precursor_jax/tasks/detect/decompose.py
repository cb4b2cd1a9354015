"""The VMD stage of detect: decompose, choose the modes to keep, say which band went where.

Two modes of decomposition (config.vmd.mode):

  whole    the paper's: one VMD of the whole record (every station of one length in one vmapped
           call). Samples after a day, the earthquake included, shape that day's modes: a
           look-ahead that a forecaster then learns from.
  causal   each day's kept signal comes from a VMD of the trailing `causal_window_days` days that
           end with it (its last day is kept); all days' windows go through one batched VMD call
           (vmd vmaps them). No sample after a day touches it. The record is read from
           window.start - causal_window_days so the first judged days have full windows.

Which modes are kept (config.vmd.select_by):

  number   the paper's 1-based mode numbers in ascending centre frequency (geomagnetic k4 + k5,
           strain k2..k5);
  band     the modes whose centre period (interval / omega) lies inside the kind's band in hours.
           Mode numbers are not stable (which band mode 2 holds changes between windows and when
           a disturbance enters), a band is.

For the report: each kept mode's centre period in hours, and for every band of interest (the
diurnal line, M2) the mode nearest to it and whether it was kept: "the 24 h line falls in mode 1,
not kept" is worth knowing before reading residuals.

VMD wants float64 (vmdpy's numbers, the absolute stopping test: signal/vmd.py): precision
"float64" runs it under a scoped jax.enable_x64, so the float32 forecaster in the same process is
unaffected; "float32" runs it in float32 (with stopping="relative" advised).
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import jax
import numpy as np

from precursor_jax.signal import vmd as vmd_lib

SECONDS_PER_HOUR = 3600.0
CAUSAL_BATCH = 16  # trailing windows per VMD call: bounds memory for 1-minute records


class Decomposition(NamedTuple):
  """The kept signal of one record and what was kept."""

  kept: np.ndarray  # (T,) float64; NaN where no decomposition exists (causal: before a full window)
  kept_modes: list[list[int]]  # 1-based kept mode numbers (per window: one entry for whole)
  periods_hours: np.ndarray  # (W, K) centre periods of every window's modes
  iterations: np.ndarray  # (W,) ADMM updates
  modes: np.ndarray | None  # (K, T) the modes of the whole record (for the figure), else None
  segments: np.ndarray | None = (
    None  # causal: (D, window) kept signal of each day's trailing window
  )
  segment_starts: np.ndarray | None = (
    None  # causal: (D,) global index of each window's first sample
  )


def vmd_options(config: Any) -> dict:
  return dict(
    num_modes=config.vmd.num_modes,
    alpha=config.vmd.alpha,
    tol=config.vmd.tol,
    stopping=config.vmd.stopping,
  )


@contextlib.contextmanager
def _precision(name: str):
  if name not in ("float64", "float32"):
    raise ValueError(f"config.vmd.precision={name!r}: expected float64 or float32")
  with jax.enable_x64(name == "float64"):
    yield


def periods_hours(omega: np.ndarray, interval_seconds: float) -> np.ndarray:
  """Centre periods in hours of centre frequencies in cycles per sample (inf for omega 0)."""
  omega = np.asarray(omega, np.float64)
  with np.errstate(divide="ignore"):
    return np.where(omega > 0, interval_seconds / SECONDS_PER_HOUR / omega, np.inf)


def selected(kind: str, periods: np.ndarray, config: Any) -> list[int]:
  """0-based indices of the modes to keep for a station of `kind` (module doc)."""
  if config.vmd.select_by == "number":
    numbers = config.vmd.geomagnetic_modes if kind == "geomagnetic" else config.vmd.strain_modes
    bad = [n for n in numbers if not 1 <= n <= len(periods)]
    if bad:
      raise ValueError(f"config.vmd.{kind}_modes: {bad} outside 1..{len(periods)} (1-based)")
    return [n - 1 for n in numbers]
  if config.vmd.select_by == "band":
    low, high = (
      config.vmd.geomagnetic_band_hours if kind == "geomagnetic" else config.vmd.strain_band_hours
    )
    return [i for i, p in enumerate(periods) if low <= p <= high]
  raise ValueError(f"config.vmd.select_by={config.vmd.select_by!r}: expected number or band")


def band_report(periods: np.ndarray, kept: list[int], bands_hours) -> list[dict]:
  """For each band of interest: the mode whose centre is nearest in (linear) frequency, i.e. the
  mode whose Wiener filter 1 / (1 + alpha (f - omega_k)^2) passes most of that line."""
  rows = []
  with np.errstate(divide="ignore"):
    frequency = np.where(np.isfinite(periods), 1.0 / periods, 0.0)
  for band in bands_hours:
    nearest = int(np.argmin(np.abs(frequency - 1.0 / band)))
    rows.append(
      {
        "period_hours": float(band),
        "mode": nearest + 1,
        "mode_period_hours": float(periods[nearest]),
        "kept": nearest in kept,
      }
    )
  return rows


def decompose_whole(signals: np.ndarray, kinds: list[str], interval_seconds: int, config: Any):
  """One VMD per (S, T) row, all rows in one vmapped call; the kept part of each."""
  with _precision(config.vmd.precision):
    result = vmd_lib.vmd(np.asarray(signals, np.float64), **vmd_options(config))
    modes = np.asarray(jax.device_get(result.modes), np.float64)
    omega = np.asarray(jax.device_get(result.omega), np.float64)
    iterations = np.asarray(jax.device_get(result.num_iterations))
  out = []
  for s, kind in enumerate(kinds):
    periods = periods_hours(omega[s], interval_seconds)
    keep = selected(kind, periods, config)
    kept = modes[s][keep].sum(axis=0) if keep else np.zeros(signals.shape[1])
    out.append(
      Decomposition(kept, [[k + 1 for k in keep]], periods[None], iterations[s : s + 1], modes[s])
    )
  return out


def decompose_causal(
  signal: np.ndarray,
  kind: str,
  samples_per_day: int,
  first_day_sample: int,
  interval_seconds: int,
  config: Any,
) -> Decomposition:
  """Each day from `first_day_sample` on from its own trailing window (module doc)."""
  signal = np.asarray(signal, np.float64)
  length = len(signal)
  window = config.vmd.causal_window_days * samples_per_day
  first_day_sample -= first_day_sample % samples_per_day  # sample 0 is a midnight (UTC)
  day_starts = np.arange(first_day_sample, length - samples_per_day + 1, samples_per_day)
  day_starts = day_starts[day_starts + samples_per_day - window >= 0]
  kept = np.full(length, np.nan)
  if len(day_starts) == 0:
    return Decomposition(kept, [], np.zeros((0, config.vmd.num_modes)), np.zeros(0, int), None)
  all_periods, all_kept, all_iterations, segments = [], [], [], []
  with _precision(config.vmd.precision):
    for chunk in range(0, len(day_starts), CAUSAL_BATCH):
      starts = day_starts[chunk : chunk + CAUSAL_BATCH]
      ends = starts + samples_per_day
      batch = np.stack([signal[end - window : end] for end in ends])
      result = vmd_lib.vmd(batch, **vmd_options(config))
      modes = np.asarray(jax.device_get(result.modes), np.float64)
      omega = np.asarray(jax.device_get(result.omega), np.float64)
      all_iterations.append(np.asarray(jax.device_get(result.num_iterations)))
      for row, start in enumerate(starts):
        periods = periods_hours(omega[row], interval_seconds)
        keep = selected(kind, periods, config)
        segment = modes[row][keep].sum(axis=0) if keep else np.zeros(window)
        segments.append(segment)
        kept[start : start + samples_per_day] = segment[-samples_per_day:]
        all_periods.append(periods)
        all_kept.append([k + 1 for k in keep])
  return Decomposition(
    kept,
    all_kept,
    np.stack(all_periods),
    np.concatenate(all_iterations),
    None,
    np.stack(segments),
    day_starts + samples_per_day - window,
  )


def summary(decomposition: Decomposition, config: Any) -> dict:
  """What the report says about a decomposition: kept modes, their centre periods, the bands."""
  periods = decomposition.periods_hours
  if len(periods) == 0:
    return {"windows": 0}
  kept_sets = {tuple(k) for k in decomposition.kept_modes}
  median_periods = np.median(periods, axis=0)
  typical = decomposition.kept_modes[len(decomposition.kept_modes) // 2]
  return {
    "windows": int(len(periods)),
    "kept_modes": typical,
    "kept_modes_vary": len(kept_sets) > 1,
    "centre_periods_hours": [None if not np.isfinite(p) else float(p) for p in median_periods],
    "kept_centre_periods_hours": [float(median_periods[k - 1]) for k in typical],
    "bands": band_report(
      median_periods, [k - 1 for k in typical], config.vmd.bands_of_interest_hours
    ),
    "iterations_median": int(np.median(decomposition.iterations)),
  }

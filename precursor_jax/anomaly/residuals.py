"""From forecast residuals to anomalous points, anomalous days and the cumulative anomaly curve.

The seed paper's anomaly statistics (its section 5.2, eqs. 7-8):

  e_t = |y_t - yhat_t|                          absolute forecast residual
  point t is anomalous  <=>  e_t > k * mean(e)   k in [2, 3] ("empirically optimal")
  day d is anomalous    <=>  #{anomalous points in d} > threshold
  cumulative curve      C_d = sum_{d' <= d} [day d' is anomalous]

What mean(e) is taken over: the paper says only "the mean of the absolute residual sequence", i.e.
one mean over the whole analysed residual series (for Lushan: 1 Jan - 30 Apr 2013 geomagnetic,
1 May 2012 - 30 Apr 2013 strain), which includes the pre-earthquake period under test. That is the
default here (`reference=None`); pass a boolean `reference` mask (a calm window, e.g. a quiet
year before the study period) to take the mean there instead, so that the anomalies being sought
cannot raise their own threshold.

Day threshold: the paper uses "approximately 40-50" anomalous points a day for 1-minute
geomagnetic data and "approximately 20-30" for 1-minute borehole strain, and calls a day anomalous
when the count EXCEEDS it (strict >). The defaults below are the midpoints, 45 and 25, for 1440
samples a day; scale them with the sampling rate. A calibration caveat the paper does not mention:
for Gaussian residuals mean(e) = 0.798 sigma, so a calm 1-minute day has 1440 * P(|Z| > 0.798 k)
exceedances on average, i.e. 159 at k = 2, 66 at k = 2.5 and 24 at k = 3; only k >= 2.70 (2.98 for
strain's 25, 3.08 for its 20) keeps such a day under the threshold.

Missing data are explicit at every stage: a NaN observation or forecast gives a NaN residual, which
is never a calm point; a day with too few valid points is `unknown` unless its count already
exceeds the threshold (more data could only add anomalous points). Storm days (anomaly/storms.py)
are marked, and a day whose storm status is unknown stays unknown. Both kinds are left out of the
cumulative count (the paper's curve) and counted in its upper bound (`include_unknown=True`) where
they could have been anomalous.

Which functions are JAX: `residuals`, `point_threshold`, `anomalous_points`, `daily_counts` with
`samples_per_day`, `anomalous_days`, `usable_days` and `cumulative_anomalous_days` are jax.numpy
(jit- and vmap-able over stations or k; they accept NumPy arrays too). `daily_counts` with `times`,
`screen_storm_days` and `julian_day` work on datetime64 day labels and are host-side NumPy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from precursor_jax.anomaly.storms import StormDays
from precursor_jax.core.timeseries import infer_interval

DAY = np.timedelta64(1, "D")
K_RANGE = (2.0, 3.0)  # the paper's range for k
# The paper's day thresholds (anomalous points a day, 1-minute data); we default to the midpoints.
PAPER_DAY_THRESHOLD_RANGES = {"geomagnetic": (40, 50), "strain": (20, 30)}
GEOMAGNETIC_DAY_THRESHOLD = 45
STRAIN_DAY_THRESHOLD = 25
MIN_VALID_FRACTION = 0.9
UNIX_EPOCH_JULIAN_DAY = 2440587.5  # JD of 1970-01-01T00:00 UTC


class PointFlags(NamedTuple):
  """Per-sample verdicts, (..., T) each, and the threshold used, (...)."""

  anomalous: Any  # bool: e_t > threshold (False where the residual is missing)
  valid: Any  # bool: the residual and the threshold are finite
  threshold: Any  # k * mean(e) over the reference samples


class DailyCounts(NamedTuple):
  """Per-UTC-day counts, (..., D) each."""

  days: Any  # (D,) datetime64[D] labels, or None when counted by samples_per_day without first_day
  anomalous: Any  # int: anomalous points in the day
  valid: Any  # int: valid points in the day
  expected: Any  # int: points a full day has


class DayFlags(NamedTuple):
  """Per-UTC-day verdicts, (..., D) bool each (all False in `storm*` until screened)."""

  days: Any  # (D,) datetime64[D] labels, or None
  anomalous: Any  # more than `threshold` anomalous points
  unknown: Any  # not anomalous, and too few valid points to call the day calm
  storm: Any  # a storm day (Dst <= -50 nT or Kp >= 5): left out of the counts
  storm_unknown: Any  # storm status unknown (missing index samples, or outside the index record)


def residuals(y, y_hat):
  """Absolute forecast residual e_t = |y_t - yhat_t| (paper eq. 7); NaN where either is NaN.

  y, y_hat: matching (..., T) arrays.
  """
  y, y_hat = jnp.asarray(y), jnp.asarray(y_hat)
  if y.shape != y_hat.shape:
    raise ValueError(f"observations {y.shape} and forecasts {y_hat.shape} must have the same shape")
  return jnp.abs(y - y_hat)


def point_threshold(e, k, reference=None):
  """k * mean(e) over the valid samples of `reference` ((..., T) bool; None: the whole series).

  e: (..., T) residuals, NaN where missing; k: scalar or (...). Returns (...); NaN when the
  reference has no valid sample.
  """
  e = jnp.asarray(e)
  use = jnp.isfinite(e)
  if reference is not None:
    reference = jnp.asarray(reference, dtype=bool)
    if reference.shape[-1] != e.shape[-1]:
      raise ValueError(f"reference mask has {reference.shape[-1]} samples, residuals {e.shape[-1]}")
    use = use & reference
  total = jnp.sum(jnp.where(use, e, 0.0), axis=-1)
  count = jnp.sum(use, axis=-1)
  mean = jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
  return jnp.asarray(k) * mean


def anomalous_points(e, k, reference=None) -> PointFlags:
  """Point verdicts e_t > k * mean(e) (paper eq. 8); see `point_threshold` for `reference`.

  e: (..., T). A NaN residual (or a NaN threshold) gives valid=False, never a calm point.
  """
  e = jnp.asarray(e)
  threshold = point_threshold(e, k, reference)
  valid = jnp.isfinite(e) & jnp.isfinite(threshold)[..., None]
  anomalous = valid & (e > threshold[..., None])
  return PointFlags(anomalous, valid, threshold)


def day_labels(times, interval) -> tuple[np.ndarray, np.ndarray, int]:
  """(T,) day index of each sample, (D,) UTC day labels, and samples per full day."""
  times = np.asarray(times, dtype="datetime64[s]")
  if times.ndim != 1 or len(times) == 0:
    raise ValueError(f"times must be a non-empty (T,) array, got shape {times.shape}")
  if np.any(np.diff(times) <= np.timedelta64(0, "s")):
    raise ValueError("times must be strictly increasing")
  interval = infer_interval(times) if interval is None else np.timedelta64(interval, "s")
  if DAY % interval != np.timedelta64(0, "s"):
    raise ValueError(f"sampling interval {interval} does not divide a day")
  day_of_sample = times.astype("datetime64[D]")
  days = np.arange(day_of_sample[0], day_of_sample[-1] + DAY, DAY)
  index = ((day_of_sample - days[0]) // DAY).astype(np.int64)
  return index, days, int(DAY // interval)


def daily_counts(
  points: PointFlags,
  *,
  samples_per_day: int | None = None,
  times=None,
  interval=None,
  first_day=None,
) -> DailyCounts:
  """Anomalous and valid points per UTC day.

  Give exactly one of
  - `samples_per_day` (jax.numpy, jit/vmap-able): the (..., T) flags start at 00:00 UTC and T is a
    whole number of days; `first_day` (host-side) optionally labels the days;
  - `times` (host-side NumPy, (T,) datetime64 on a regular grid, `interval` inferred if None): days
    run from the first to the last sample's UTC day; samples absent from a day count as missing.
  """
  anomalous, valid = jnp.asarray(points.anomalous), jnp.asarray(points.valid)
  if (samples_per_day is None) == (times is None):
    raise ValueError("give exactly one of samples_per_day and times")
  if times is not None:
    index, days, per_day = day_labels(times, interval)
    if anomalous.shape != (len(index),):
      raise ValueError(f"flags have shape {anomalous.shape}, times ({len(index)},)")
    count = np.bincount(index, weights=np.asarray(anomalous & valid), minlength=len(days))
    n_valid = np.bincount(index, weights=np.asarray(valid), minlength=len(days))
    return DailyCounts(
      days, jnp.asarray(count.astype(np.int32)), jnp.asarray(n_valid.astype(np.int32)), per_day
    )
  n = anomalous.shape[-1]
  if samples_per_day <= 0 or n % samples_per_day:
    raise ValueError(f"{n} samples are not a whole number of days of {samples_per_day} samples")
  shape = anomalous.shape[:-1] + (n // samples_per_day, samples_per_day)
  count = jnp.sum((anomalous & valid).reshape(shape), axis=-1, dtype=jnp.int32)
  n_valid = jnp.sum(valid.reshape(shape), axis=-1, dtype=jnp.int32)
  days = None
  if first_day is not None:
    days = np.arange(shape[-2]) * DAY + np.datetime64(first_day, "D")
  return DailyCounts(days, count, n_valid, samples_per_day)


def anomalous_days(
  counts: DailyCounts,
  threshold=GEOMAGNETIC_DAY_THRESHOLD,
  *,
  min_valid_fraction: float = MIN_VALID_FRACTION,
) -> DayFlags:
  """Day verdicts: anomalous when count > threshold; unknown when not, with valid < min * expected.

  `threshold` defaults to the paper's geomagnetic midpoint (45); use STRAIN_DAY_THRESHOLD (25) for
  1-minute borehole strain. Scalar or broadcasting with (..., D); jax.numpy.
  """
  count, valid = jnp.asarray(counts.anomalous), jnp.asarray(counts.valid)
  anomalous = count > threshold
  unknown = ~anomalous & (valid < min_valid_fraction * jnp.asarray(counts.expected))
  no = jnp.zeros_like(anomalous)
  return DayFlags(counts.days, anomalous, unknown, no, no)


def screen_storm_days(day_flags: DayFlags, storms: StormDays) -> DayFlags:
  """Marks storm days and days of unknown storm status from `storm_days` output (host NumPy).

  Days outside the storm table's span get storm_unknown=True. Needs day labels.
  """
  if day_flags.days is None:
    raise ValueError("day_flags has no day labels: count with times= or first_day=")
  days = np.asarray(day_flags.days, dtype="datetime64[D]")
  index = ((days - storms.days[0]) // DAY).astype(np.int64)
  inside = (index >= 0) & (index < len(storms.days))
  safe = np.where(inside, index, 0)
  storm = inside & np.asarray(storms.storm)[safe]
  storm_unknown = ~inside | (inside & np.asarray(storms.unknown)[safe])
  shape = jnp.shape(day_flags.anomalous)
  return day_flags._replace(
    storm=jnp.broadcast_to(jnp.asarray(storm), shape),
    storm_unknown=jnp.broadcast_to(jnp.asarray(storm_unknown), shape),
  )


def usable_days(day_flags: DayFlags):
  """(..., D) bool: the day's verdict is known and it is not (possibly) a storm day."""
  return ~day_flags.unknown & ~day_flags.storm & ~day_flags.storm_unknown


def cumulative_anomalous_days(day_flags: DayFlags, *, include_unknown: bool = False):
  """(..., D) running count of anomalous usable days (the paper's cumulative anomaly curve).

  include_unknown=True gives the upper bound: days of unknown verdict or unknown storm status count
  as anomalous (known storm days never count).
  """
  counted = day_flags.anomalous & usable_days(day_flags)
  if include_unknown:
    counted = (day_flags.anomalous | day_flags.unknown) & ~day_flags.storm
  return jnp.cumsum(counted.astype(jnp.int32), axis=-1)


def julian_day(days) -> np.ndarray:
  """Julian Day of datetime64 instants (the x axis of the paper's Origin fits): float64, any shape.

  2000-01-01T12:00 -> 2451545.0. Fit in days relative to the event, not in JD: float32 resolves JD
  only to 0.25 d.
  """
  seconds = np.asarray(days).astype("datetime64[s]").astype(np.float64)
  return UNIX_EPOCH_JULIAN_DAY + seconds / 86400.0

"""Geomagnetic-storm screening: which UTC days had Dst <= -50 nT or Kp >= 5.

The thresholds are the usual storm criteria (the seed paper screens its anomaly days with
Dst <= -50 nT and Kp >= 5); Kp 5- (= 4 2/3) is below 5. A day is a storm day when any valid sample
of either index reaches its threshold; a day without a storm sample but with a missing sample in an
index that was given is `unknown` (a storm might hide in the missing hours), never quietly calm.
Pure NumPy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from precursor_jax.core.timeseries import TimeSeries

DAY = np.timedelta64(1, "D")


class StormDays(NamedTuple):
  """Per UTC day (D,) arrays."""

  days: np.ndarray  # datetime64[D]
  storm: np.ndarray  # bool: Dst <= dst_threshold or Kp >= kp_threshold at some sample that day
  unknown: np.ndarray  # bool: not a storm day, but some sample of a given index is missing
  dst_min: np.ndarray  # nT, NaN where the day has no valid Dst
  kp_max: np.ndarray  # NaN where the day has no valid Kp


def _daily(ts: TimeSeries, channel: str, days: np.ndarray, reduce) -> tuple[np.ndarray, np.ndarray]:
  """Per-day reduction of a channel's valid samples, and whether the day is fully observed."""
  day_of_sample = ts.times.astype("datetime64[D]")
  expected = DAY // ts.interval
  index = ((day_of_sample - days[0]) // DAY).astype(np.int64)
  values = ts.column(channel)
  valid = ~np.isnan(values)
  out = np.full(len(days), np.nan)
  reduce.at(out, index[valid], values[valid])  # fmin/fmax ignore the NaN start value
  complete = np.bincount(index[valid], minlength=len(days)) == expected
  return out, complete


def storm_days(
  dst: TimeSeries | None = None,
  kp: TimeSeries | None = None,
  *,
  dst_threshold: float = -50.0,
  kp_threshold: float = 5.0,
) -> StormDays:
  """Storm days over the UTC days covered by the given Dst ("dst") and/or Kp ("kp") series."""
  given = [s for s in (dst, kp) if s is not None]
  if not given:
    raise ValueError("give a Dst and/or a Kp series")
  for s in given:
    if DAY % s.interval != np.timedelta64(0):
      raise ValueError(f"interval {s.interval} does not divide a day")
  first = min(s.times[0] for s in given).astype("datetime64[D]")
  last = max(s.times[-1] for s in given).astype("datetime64[D]")
  days = np.arange(first, last + DAY, DAY)
  storm = np.zeros(len(days), dtype=bool)
  complete = np.ones(len(days), dtype=bool)
  dst_min, kp_max = np.full(len(days), np.nan), np.full(len(days), np.nan)
  if dst is not None:
    dst_min, dst_complete = _daily(dst, "dst", days, np.fmin)
    storm |= dst_min <= dst_threshold
    complete &= dst_complete
  if kp is not None:
    kp_max, kp_complete = _daily(kp, "kp", days, np.fmax)
    storm |= kp_max >= kp_threshold
    complete &= kp_complete
  return StormDays(days, storm, ~storm & ~complete, dst_min, kp_max)


def is_storm_day(when, storms: StormDays) -> np.ndarray:
  """(N,) bool for datetimes or days; ValueError for a day outside the record or unknown."""
  days = np.atleast_1d(np.asarray(when, dtype="datetime64[D]"))
  index = ((days - storms.days[0]) // DAY).astype(np.int64)
  outside = (index < 0) | (index >= len(storms.days))
  if outside.any():
    raise ValueError(
      f"day {days[outside][0]} is outside the storm record {storms.days[0]} .. {storms.days[-1]}"
    )
  if storms.unknown[index].any():
    raise ValueError(
      f"day {days[storms.unknown[index]][0]} has missing index samples and no storm "
      "sample: its storm status is unknown"
    )
  return storms.storm[index]

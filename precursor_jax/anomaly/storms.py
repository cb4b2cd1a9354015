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


def with_recovery(storms: StormDays, recovery_days: int) -> StormDays:
  """Storm days extended by the `recovery_days` days after each one (the recovery phase, when
  geomagnetic residuals stay raised while the indices are already back under their thresholds).
  A recovery day counts as a storm day; its unknown flag is cleared (its storm status is known)."""
  if recovery_days < 0:
    raise ValueError(f"recovery_days must be >= 0, got {recovery_days}")
  storm = storms.storm.copy()
  for lag in range(1, recovery_days + 1):
    storm[lag:] |= storms.storm[:-lag]
  return storms._replace(storm=storm, unknown=storms.unknown & ~storm)


def combine(dst_storms: StormDays | None, kp_storms: StormDays | None, criterion: str) -> StormDays:
  """Storm days by one index, the other, either ("Dst <= -50 nT or Kp >= 5", the default of the
  seed paper's screening) or both (a stricter screen). The given indices' days must agree."""
  if criterion not in ("either", "both", "dst", "kp"):
    raise ValueError(f"storm criterion {criterion!r}: expected either, both, dst or kp")
  if criterion == "dst" or kp_storms is None:
    if dst_storms is None:
      raise ValueError(f"storm criterion {criterion!r} needs a Dst series")
    return dst_storms
  if criterion == "kp" or dst_storms is None:
    return kp_storms
  start = max(dst_storms.days[0], kp_storms.days[0])
  end = min(dst_storms.days[-1], kp_storms.days[-1])
  if end < start:
    raise ValueError("the Dst and Kp records do not overlap")
  cut = lambda s: s._replace(
    **{f: getattr(s, f)[(s.days >= start) & (s.days <= end)] for f in s._fields}
  )
  a, b = cut(dst_storms), cut(kp_storms)
  storm = (a.storm | b.storm) if criterion == "either" else (a.storm & b.storm)
  unknown = ~storm & (a.unknown | b.unknown)
  return StormDays(a.days, storm, unknown, a.dst_min, b.kp_max)

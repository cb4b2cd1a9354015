"""One time-series type for every real-data reader: regular UTC grid, NaN-masked values, metadata.

A `TimeSeries` always sits on a regular grid, `times[i] == times[0] + i * interval`: a reader that
meets a skipped timestamp inserts a missing sample there (it never closes the gap up), so a gap is
always visible as a run of missing samples. Missing samples are NaN in `values`, so they can never
be used as numbers by accident; `missing` is the same information as a boolean mask.

Gaps are only filled on request (`fill_gaps`, linear interpolation up to a maximum length, else a
`GapTooLongError` naming the longest gap). Host-side NumPy only: JAX is for the compute.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from precursor_jax.core.errors import DataFormatError, GapTooLongError

SECOND = np.timedelta64(1, "s")


def as_seconds(interval) -> np.timedelta64:
  """Converts a timedelta64, datetime.timedelta or a number of seconds to timedelta64[s]."""
  if isinstance(interval, (int, np.integer)) and not isinstance(interval, np.timedelta64):
    return np.timedelta64(int(interval), "s")
  delta = np.timedelta64(interval)
  seconds = delta.astype("timedelta64[s]")
  if seconds != delta:
    raise ValueError(f"interval {interval!r} is not a whole number of seconds")
  return seconds


@dataclasses.dataclass(frozen=True, eq=False)
class TimeSeries:
  """Samples on a regular UTC grid; NaN marks a missing sample.

  Attributes:
    times: (T,) datetime64[s], UTC, `times[i] == times[0] + i * interval`.
    values: (T, C) float64 (a (T,) input becomes (T, 1)); NaN where missing. Read-only.
    channels: C channel names, e.g. ("H", "E", "Z", "F") or ("S1", "S2", "S3", "S4").
    interval: sampling interval, timedelta64[s].
    metadata: station code, name, latitude, longitude, elevation, data type, units, and
      "source_file" (one file) or "source_files" (joined files).
  """

  times: np.ndarray
  values: np.ndarray
  channels: tuple[str, ...]
  interval: np.timedelta64
  metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    times = np.array(self.times, dtype="datetime64[s]")
    values = np.array(self.values, dtype=np.float64)
    if values.ndim == 1:
      values = values[:, None]
    channels = tuple(str(c) for c in self.channels)
    interval = as_seconds(self.interval)
    if times.ndim != 1 or len(times) == 0:
      raise ValueError(f"times must be a non-empty 1-D array, got shape {times.shape}")
    if values.ndim != 2 or values.shape[0] != len(times):
      raise ValueError(f"values must have shape (T, C) with T={len(times)}, got {values.shape}")
    if len(channels) != values.shape[1] or len(set(channels)) != len(channels):
      raise ValueError(f"need {values.shape[1]} distinct channel names, got {channels}")
    if interval <= np.timedelta64(0, "s"):
      raise ValueError(f"interval must be positive, got {interval}")
    if np.any(np.isnat(times)):
      raise ValueError("times contain NaT")
    steps = np.diff(times)
    if np.any(steps != interval):
      bad = int(np.argmax(steps != interval))
      raise ValueError(
        f"times are not on a regular {interval} grid: {times[bad]} -> {times[bad + 1]}; "
        "build the series with to_regular_grid"
      )
    times.setflags(write=False)
    values.setflags(write=False)
    object.__setattr__(self, "times", times)
    object.__setattr__(self, "values", values)
    object.__setattr__(self, "channels", channels)
    object.__setattr__(self, "interval", interval)
    object.__setattr__(self, "metadata", dict(self.metadata))

  def __len__(self) -> int:
    return len(self.times)

  def __repr__(self) -> str:
    station = self.metadata.get("station_code") or self.metadata.get("station_name") or "?"
    return (
      f"TimeSeries(station={station}, channels={self.channels}, n={len(self)}, "
      f"{self.times[0]} .. {self.times[-1]}, interval={self.interval}, "
      f"missing={int(self.missing.sum())})"
    )

  @property
  def missing(self) -> np.ndarray:
    """(T, C) bool, True where a sample is missing."""
    return np.isnan(self.values)

  @property
  def interval_seconds(self) -> int:
    """The sampling interval in seconds."""
    return int(self.interval / SECOND)

  @property
  def end(self) -> np.datetime64:
    """The end of the last sample's interval, times[-1] + interval."""
    return self.times[-1] + self.interval

  def column(self, channel: str) -> np.ndarray:
    """(T,) values of one channel (read-only view)."""
    return self.values[:, self._index(channel)]

  def select(self, *channels: str) -> TimeSeries:
    """A series with only the named channels, in the order given."""
    idx = [self._index(c) for c in channels]
    return dataclasses.replace(self, values=self.values[:, idx], channels=channels)

  def slice_time(self, start=None, end=None) -> TimeSeries:
    """Samples with start <= time < end (None: unbounded)."""
    keep = np.ones(len(self), dtype=bool)
    if start is not None:
      keep &= self.times >= np.datetime64(start, "s")
    if end is not None:
      keep &= self.times < np.datetime64(end, "s")
    if not keep.any():
      raise ValueError(
        f"no samples in [{start}, {end}); series spans {self.times[0]} .. {self.times[-1]}"
      )
    return dataclasses.replace(self, times=self.times[keep], values=self.values[keep])

  def with_values(self, values, channels: Sequence[str] | None = None, **metadata) -> TimeSeries:
    """Same grid, new values (and channel names); extra keyword args update the metadata."""
    return dataclasses.replace(
      self,
      values=values,
      channels=self.channels if channels is None else tuple(channels),
      metadata={**self.metadata, **metadata},
    )

  def _index(self, channel: str) -> int:
    try:
      return self.channels.index(channel)
    except ValueError:
      raise KeyError(f"no channel {channel!r}; channels are {self.channels}") from None


class Gap(NamedTuple):
  """A run of consecutive missing samples in one channel (start and end are both missing)."""

  channel: str
  start: np.datetime64
  end: np.datetime64
  n_samples: int


def infer_interval(times) -> np.timedelta64:
  """The most common positive step between consecutive timestamps, timedelta64[s]."""
  times = np.asarray(times, dtype="datetime64[s]")
  steps = np.diff(times)
  steps = steps[steps > np.timedelta64(0, "s")]
  if len(steps) == 0:
    raise ValueError("need at least two increasing timestamps to infer the sampling interval")
  unique, counts = np.unique(steps, return_counts=True)
  return unique[np.argmax(counts)]  # ties: the shortest step


def to_regular_grid(
  times,
  values,
  *,
  channels: Sequence[str],
  interval=None,
  metadata: Mapping[str, Any] | None = None,
  path: str | os.PathLike | None = None,
  line_numbers: Sequence[int] | None = None,
) -> TimeSeries:
  """Puts samples at (N,) increasing `times` on a regular grid, missing where a time is absent.

  `interval` is inferred (the most common step) when None. Every step must be a positive whole
  multiple of the interval; a duplicate, a step backwards or an off-grid step raises a
  DataFormatError naming `path` and the line (from `line_numbers`, else the 0-based sample index).
  values: (N,) or (N, C).
  """
  times = np.asarray(times, dtype="datetime64[s]")
  values = np.asarray(values, dtype=np.float64)
  if values.ndim == 1:
    values = values[:, None]
  if len(times) == 0:
    raise DataFormatError(path, None, "no data samples")
  if values.shape[0] != len(times):
    raise ValueError(f"{len(times)} times but {values.shape[0]} rows of values")

  def where(i):
    return int(line_numbers[i]) if line_numbers is not None else None

  def name(i):
    return f"line {line_numbers[i]}" if line_numbers is not None else f"sample {i}"

  steps = np.diff(times)
  backwards = np.flatnonzero(steps <= np.timedelta64(0, "s"))
  if len(backwards):
    i = int(backwards[0]) + 1
    if steps[i - 1] == np.timedelta64(0, "s"):
      reason = f"duplicate timestamp {times[i]} (also at {name(i - 1)})"
    else:
      reason = f"timestamp {times[i]} is earlier than the previous one {times[i - 1]}"
    raise DataFormatError(path, where(i), reason)
  if interval is None:
    if len(times) < 2:
      raise DataFormatError(path, None, "a single sample: cannot infer the sampling interval")
    interval = infer_interval(times)
  interval = as_seconds(interval)
  off_grid = np.flatnonzero(steps % interval != np.timedelta64(0))
  if len(off_grid):
    i = int(off_grid[0]) + 1
    raise DataFormatError(
      path,
      where(i),
      f"timestamp {times[i]} is {steps[i - 1]} after the previous one "
      f"{times[i - 1]}, expected a whole multiple of the sampling interval {interval}",
    )
  index = ((times - times[0]) // interval).astype(np.int64)
  grid = times[0] + np.arange(index[-1] + 1) * interval
  full = np.full((len(grid), values.shape[1]), np.nan)
  full[index] = values
  return TimeSeries(grid, full, tuple(channels), interval, dict(metadata or {}))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Start and (exclusive) stop indices of the runs of True in a (T,) bool mask."""
  padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
  edges = np.diff(padded)
  return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def gap_report(ts: TimeSeries) -> list[Gap]:
  """Every run of missing samples, per channel (in channel order, then time order)."""
  gaps = []
  for c, channel in enumerate(ts.channels):
    starts, stops = _runs(ts.missing[:, c])
    for a, b in zip(starts, stops, strict=True):
      gaps.append(Gap(channel, ts.times[a], ts.times[b - 1], int(b - a)))
  return gaps


def fill_gaps(ts: TimeSeries, max_gap, method: str = "linear") -> TimeSeries:
  """Fills interior gaps of at most `max_gap` samples (int) or duration (timedelta) linearly.

  Raises GapTooLongError naming the longest gap when any gap is longer, and ValueError for a gap
  touching either end of the record (nothing to interpolate from: trim it with slice_time).
  The filled gaps are listed in metadata["filled_gaps"].
  """
  if method != "linear":
    raise ValueError(f"unknown fill method {method!r}; only 'linear' is implemented")
  if isinstance(max_gap, (int, np.integer)) and not isinstance(max_gap, np.timedelta64):
    max_samples = int(max_gap)
  else:
    max_samples = int(as_seconds(max_gap) // ts.interval)
  gaps = gap_report(ts)
  if not gaps:
    return ts
  edge = [g for g in gaps if g.start == ts.times[0] or g.end == ts.times[-1]]
  if edge:
    g = edge[0]
    raise ValueError(
      f"channel {g.channel}: gap {g.start} .. {g.end} ({g.n_samples} samples) "
      "touches the end of the record and cannot be interpolated; trim it with "
      "slice_time first"
    )
  longest = max(gaps, key=lambda g: g.n_samples)
  if longest.n_samples > max_samples:
    raise GapTooLongError(
      f"channel {longest.channel}: gap {longest.start} .. {longest.end} is "
      f"{longest.n_samples} samples ({longest.n_samples * ts.interval}) long, longer than "
      f"max_gap={max_samples} samples; {sum(g.n_samples > max_samples for g in gaps)} gap(s) "
      "exceed it"
    )
  values = np.array(ts.values)
  index = np.arange(len(ts))
  for c in range(values.shape[1]):
    bad = np.isnan(values[:, c])
    if bad.any():
      values[bad, c] = np.interp(index[bad], index[~bad], values[~bad, c])
  filled = tuple(ts.metadata.get("filled_gaps", ())) + tuple(gaps)
  return ts.with_values(values, filled_gaps=filled)


def resample(
  ts: TimeSeries, interval, how: str = "mean", min_valid_fraction: float = 1.0
) -> TimeSeries:
  """Aggregates into bins of `interval` aligned to the Unix epoch (days start at 00:00 UTC).

  how: "mean", "min", "max" or "sum" over the valid samples of a bin. A bin gets NaN when fewer
  than `min_valid_fraction` of its nominal samples (interval / ts.interval) are valid, so partly
  covered bins at either end are missing unless the fraction allows them.
  """
  reducers = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax, "sum": np.nansum}
  if how not in reducers:
    raise ValueError(f"how must be one of {sorted(reducers)}, got {how!r}")
  interval = as_seconds(interval)
  if interval % ts.interval != np.timedelta64(0) or interval < ts.interval:
    raise ValueError(f"new interval {interval} is not a whole multiple of {ts.interval}")
  per_bin = int(interval // ts.interval)
  epoch = np.datetime64(0, "s")
  bins = ((ts.times - epoch) // interval).astype(np.int64)
  first, last = bins[0], bins[-1]
  out = np.full((last - first + 1, ts.values.shape[1]), np.nan)
  valid = ~ts.missing
  counts = np.zeros_like(out)
  for c in range(ts.values.shape[1]):
    counts[:, c] = np.bincount(bins - first, weights=valid[:, c], minlength=len(out))
  # Bins hold consecutive samples: reduce each bin through a padded (n_bins, per_bin) view.
  offset = int((ts.times[0] - (epoch + first * interval)) // ts.interval)
  padded = np.full((len(out) * per_bin, ts.values.shape[1]), np.nan)
  padded[offset : offset + len(ts)] = ts.values
  blocks = padded.reshape(len(out), per_bin, -1)
  enough = counts >= max(min_valid_fraction * per_bin, 1)
  with warnings.catch_warnings():  # all-NaN bins warn; they are masked out just below
    warnings.simplefilter("ignore", RuntimeWarning)
    reduced = reducers[how](blocks, axis=1)
  out[enough] = reduced[enough]
  times = epoch + (first + np.arange(len(out))) * interval
  return TimeSeries(
    times, out, ts.channels, interval, {**ts.metadata, "resampled": f"{how} over {interval}"}
  )


def concatenate(series: Sequence[TimeSeries]) -> TimeSeries:
  """Joins series of the same channels and interval in time order; gaps between become missing.

  Overlapping or duplicate timestamps raise a DataFormatError naming the two source files
  (metadata["source_file"]).
  """
  if not series:
    raise ValueError("nothing to concatenate")
  ordered = sorted(series, key=lambda s: s.times[0])
  first = ordered[0]
  for prev, cur in itertools.pairwise(ordered):
    if cur.channels != first.channels or cur.interval != first.interval:
      raise DataFormatError(
        cur.metadata.get("source_file"),
        None,
        f"channels {cur.channels} / interval {cur.interval} differ from "
        f"{first.channels} / {first.interval} in {first.metadata.get('source_file')}",
      )
    if cur.times[0] < prev.end:
      raise DataFormatError(
        cur.metadata.get("source_file"),
        None,
        f"starts at {cur.times[0]}, overlapping {prev.metadata.get('source_file')} which ends "
        f"at {prev.times[-1]}",
      )
  times = np.concatenate([s.times for s in ordered])
  values = np.concatenate([s.values for s in ordered])
  sources = [
    f for s in ordered for f in s.metadata.get("source_files", [s.metadata.get("source_file")])
  ]
  metadata = {**first.metadata, "source_files": sources}
  metadata.pop("source_file", None)
  return to_regular_grid(
    times, values, channels=first.channels, interval=first.interval, metadata=metadata
  )


def merge_channels(
  series: Sequence[TimeSeries], metadata: Mapping[str, Any] | None = None
) -> TimeSeries:
  """Puts the channels of several series on one grid spanning them all (missing where absent)."""
  if not series:
    raise ValueError("nothing to merge")
  interval = series[0].interval
  start = min(s.times[0] for s in series)
  stop = max(s.times[-1] for s in series)
  for s in series:
    if s.interval != interval:
      raise DataFormatError(
        s.metadata.get("source_file"), None, f"interval {s.interval} differs from {interval}"
      )
    if (s.times[0] - start) % interval != np.timedelta64(0):
      raise DataFormatError(
        s.metadata.get("source_file"),
        None,
        f"samples at {s.times[0]} are off the common {interval} grid starting {start}",
      )
  grid = start + np.arange((stop - start) // interval + 1) * interval
  channels = [c for s in series for c in s.channels]
  values = np.full((len(grid), len(channels)), np.nan)
  col = 0
  for s in series:
    offset = int((s.times[0] - start) // interval)
    values[offset : offset + len(s), col : col + len(s.channels)] = s.values
    col += len(s.channels)
  return TimeSeries(grid, values, tuple(channels), interval, dict(metadata or {}))

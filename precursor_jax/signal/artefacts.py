"""Instrument artefacts in a raw record: offsets (steps), spikes and stuck readings, by stated rules.

A residual detector calls anything the forecaster cannot predict an anomaly, and real strain and
magnetometer records carry instrument artefacts that no forecaster predicts. They are found here
before any decomposition, listed with their times, and repaired (`repair`) so that they do not ring
through VMD; the caller labels the days that contain them, so an artefact is never reported as a
precursor without that label.

The rules, on one channel x (T,) with NaN where missing, all scales robust (MAD-based, so the
artefacts themselves do not inflate them):

  d_t = x_t - x_{t-1}, s = 1.4826 MAD(d) over the valid differences (the usual sample-to-sample
  change); the local slope = the median of d over the `window` samples around t (NaN-aware).

  spike  a jump of more than spike_factor * s (against the local slope) that a jump of the opposite
         sign undoes within `max_spike_samples` samples, back to within half the jump of the line
         through the sample before it. Its samples are removed (made missing).
  step   an offset: |median(x[t : t + window]) - median(x[t - window : t])| > step_factor * s, with
         the change concentrated at one sample (the jump d_t less the local slope is at least half
         the level change), and not a spike. That offset is removed from every later sample, so the
         record is continuous; the step sample itself is removed.
  stuck  the same value for `stuck_samples` or more consecutive samples (a frozen logger writes its
         last reading again and again): the run is removed.

Defaults suit hourly borehole strain and 1-minute magnetometer data alike because everything is in
units of the record's own sample-to-sample change s; `stuck_samples` is given in samples by the
caller (e.g. 6 hours of samples). Host-side NumPy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import NamedTuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArtefactRules:
  """Thresholds of the rules in the module doc (factors are in units of the robust change s)."""

  spike_factor: float = 12.0
  max_spike_samples: int = 3
  step_factor: float = 15.0
  window: int = 12
  stuck_samples: int = 6


class Artefact(NamedTuple):
  """One artefact: its kind ("spike", "step", "stuck"), first and last sample, and size."""

  kind: str
  start: int
  end: int  # inclusive
  size: float  # spike: largest departure; step: offset removed; stuck: the repeated value


class ArtefactReport(NamedTuple):
  """What `find_artefacts` found: the events and a (T,) mask of the samples they remove."""

  events: list[Artefact]
  removed: np.ndarray  # bool (T,)
  scale: float  # s, the robust sample-to-sample change


def robust_change_scale(x: np.ndarray) -> float:
  """1.4826 MAD of the valid first differences of x (NaN when fewer than 3)."""
  d = np.diff(np.asarray(x, dtype=np.float64))
  d = d[np.isfinite(d)]
  if len(d) < 3:
    return float("nan")
  scale = 1.4826 * np.median(np.abs(d - np.median(d)))
  if scale == 0:  # quantised or very smooth records: fall back to the mean absolute change
    scale = float(np.mean(np.abs(d - np.median(d))))
  return float(scale)


def _rolling_median(x: np.ndarray, half: int) -> np.ndarray:
  """NaN-aware median over [t - half, t + half] (clipped) at every t."""
  n = len(x)
  padded = np.concatenate([np.full(half, np.nan), x, np.full(half, np.nan)])
  windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
  with _quiet():
    return np.nanmedian(windows, axis=1)[:n]


@contextlib.contextmanager
def _quiet():
  """Silences numpy's all-NaN-slice warnings (those windows are NaN by design)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    yield


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
  """(first, last) of every run of True."""
  padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
  edges = np.diff(padded)
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def find_stuck(x: np.ndarray, min_samples: int) -> list[Artefact]:
  """Runs of `min_samples` or more identical valid values."""
  x = np.asarray(x, dtype=np.float64)
  same = np.zeros(len(x), dtype=bool)
  equal_next = np.isfinite(x[1:]) & (x[1:] == x[:-1])
  same[1:] |= equal_next
  same[:-1] |= equal_next
  events = []
  for first, last in _runs(same):
    # A run of equal neighbours can hold two different plateaus back to back: split them.
    start = first
    for t in range(first + 1, last + 2):
      if t > last or x[t] != x[start]:
        if t - start >= min_samples:
          events.append(Artefact("stuck", int(start), int(t - 1), float(x[start])))
        start = t
  return events


def find_spikes(x: np.ndarray, scale: float, rules: ArtefactRules) -> list[Artefact]:
  """Short excursions: a jump of more than spike_factor * s that comes back (module doc).

  A jump d_t is a spike's leading edge when, within `max_spike_samples` samples, a jump of the
  opposite sign brings the record back to within half the jump of where the line through the
  sample before it (at the local slope) would be; the samples in between are the spike. Working on
  differences keeps the rule blind to smooth variation (tides, the daily line) of any size.
  """
  x = np.asarray(x, dtype=np.float64)
  d = np.concatenate([[np.nan], np.diff(x)])
  slope = np.nan_to_num(_rolling_median(d, rules.window))  # the local change per sample
  with np.errstate(invalid="ignore"):
    big = np.abs(d - slope) > rules.spike_factor * scale
  events, t, n = [], 1, len(x)
  while t < n:
    found = None
    if big[t] and np.isfinite(x[t - 1]):
      jump = d[t] - slope[t]
      for k in range(1, rules.max_spike_samples + 1):
        end = t + k  # the first sample back on the line
        if end >= n or not np.isfinite(x[end]):
          break
        expected = x[t - 1] + k * slope[t]
        if np.sign(d[end] - slope[t]) == -np.sign(jump) and abs(x[end] - expected) < 0.5 * abs(
          jump
        ):
          segment = x[t:end] - (x[t - 1] + np.arange(1, k + 1) * slope[t])
          found = Artefact(
            "spike", int(t), int(end - 1), float(segment[np.argmax(np.abs(segment))])
          )
          break
    if found is None:
      t += 1
    else:
      events.append(found)
      t = found.end + 2
  return events


def find_steps(x: np.ndarray, scale: float, rules: ArtefactRules) -> list[Artefact]:
  """Level changes concentrated at one sample (module doc), on a record without its spikes."""
  n, w = len(x), rules.window
  if n < 2 * w + 1:
    return []
  d = np.concatenate([[np.nan], np.diff(x)])
  windows = np.lib.stride_tricks.sliding_window_view(x, w)
  with _quiet():
    medians = np.nanmedian(windows, axis=1)  # medians[i] = median(x[i : i + w])
  t = np.arange(w, n - w + 1)
  change = medians[t] - medians[t - w]
  # The offset is the jump less the local slope: window medians are biased by tides and daily lines.
  offset = d[t] - _rolling_median(d, w)[t]
  with np.errstate(invalid="ignore"):
    large = np.abs(change) > rules.step_factor * scale
    candidate = large & (np.abs(offset) >= 0.5 * np.abs(change))
  events = []
  taken = np.zeros(n, dtype=bool)
  for i in np.flatnonzero(candidate)[np.argsort(-np.abs(offset[candidate]), kind="stable")]:
    at = int(t[i])
    if taken[max(0, at - w) : at + w].any():
      continue  # one step per window: the largest jump wins
    taken[at] = True
    events.append(Artefact("step", at, at, float(offset[i])))
  return sorted(events, key=lambda e: e.start)


def find_artefacts(x: np.ndarray, rules: ArtefactRules = ArtefactRules()) -> ArtefactReport:
  """Spikes, steps and stuck runs of one channel (module doc); nothing is changed here."""
  x = np.asarray(x, dtype=np.float64)
  scale = robust_change_scale(x)
  removed = np.zeros(len(x), dtype=bool)
  if not np.isfinite(scale) or scale <= 0:
    return ArtefactReport([], removed, scale)
  events = find_stuck(x, rules.stuck_samples)
  for e in events:
    removed[e.start : e.end + 1] = True
  work = np.where(removed, np.nan, x)
  spikes = find_spikes(work, scale, rules)
  for e in spikes:
    removed[e.start : e.end + 1] = True
  work = np.where(removed, np.nan, x)
  steps = find_steps(work, scale, rules)
  for e in steps:
    removed[e.start] = True
  events = sorted(events + spikes + steps, key=lambda e: (e.start, e.kind))
  return ArtefactReport(events, removed, scale)


def repair(x: np.ndarray, report: ArtefactReport) -> np.ndarray:
  """x with every step's offset removed from the samples after it and the artefact samples made
  missing (NaN): the caller fills them like any gap."""
  out = np.asarray(x, dtype=np.float64).copy()
  for event in report.events:
    if event.kind == "step":
      out[event.start :] -= event.size
  out[report.removed] = np.nan
  return out

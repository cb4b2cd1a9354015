"""The quality stage of detect: a station's record on the study grid, its artefacts and gaps.

Rules (each listed in the report with its times):

  grid       the record's own sampling grid over [start, end) of the study (start includes the
             causal pre-roll); samples the record does not have are missing.
  artefacts  offsets, spikes and stuck readings by the rules of signal/artefacts.py, thresholds from
             config.quality (stuck_hours in hours of samples). Steps are levelled, artefact samples
             removed; with quality.artefacts = "mask" their days are left out of the counts, with
             "correct" they are counted (still labelled), with "off" nothing is looked for.
  gaps       a run of missing (or removed) samples of at most max_gap_hours is filled linearly and
             may appear in a forecaster's history; a longer run (or one at either end of the record)
             is also bridged linearly, but only so that VMD can run: its samples never enter a
             history, are never judged, and their days are unknown. Filled samples are never judged
             either: only real observations get residuals.
  too little a station whose study window is less than half real observations is refused.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from precursor_jax.signal import artefacts as artefacts_lib
from precursor_jax.tasks.detect.stations import StationError, StationRecord

MIN_REAL_FRACTION = 0.5


@dataclasses.dataclass(frozen=True)
class Prepared:
  """A station on the study grid, ready for VMD."""

  name: str
  kind: str
  interval_seconds: int
  times: np.ndarray  # (T,) datetime64[s], UTC
  raw: np.ndarray  # (T,) the component as read, NaN where missing
  filled: np.ndarray  # (T,) repaired and bridged: finite everywhere (the VMD input)
  real: np.ndarray  # (T,) bool: a real observation, not removed as an artefact
  history_ok: np.ndarray  # (T,) bool: real, or inside a short filled gap
  gaps: list[dict]
  artefacts: list[dict]
  artefact_days: frozenset  # datetime64[D] labels of days holding an artefact sample
  artefact_scale: float  # the record's robust sample-to-sample change (the rules' unit)
  start: np.datetime64  # the station's study window [start, end) and background end
  end: np.datetime64
  background_end: np.datetime64


def study_grid(record: StationRecord, start: np.datetime64, end: np.datetime64):
  """(times, values) of the record on its own grid over [start, end)."""
  ts = record.series
  interval = ts.interval
  offset = (ts.times[0] - start) % interval
  first = start + offset
  count = int((end - first + interval - np.timedelta64(1, "s")) // interval)
  if count <= 0:
    raise StationError(
      f"station {record.station.name!r}: no sample of its grid in {start} .. {end}"
    )
  times = first + np.arange(count) * interval
  index = ((times - ts.times[0]) // interval).astype(np.int64)
  inside = (index >= 0) & (index < len(ts))
  values = np.full(count, np.nan)
  values[inside] = ts.values[index[inside], 0]
  return times, values


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
  padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
  edges = np.diff(padded)
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def bridge(
  values: np.ndarray, max_gap: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, bool]]]:
  """(filled values, short-gap mask, [(first, stop, short?)]) for the NaN runs of `values`."""
  n = len(values)
  missing = ~np.isfinite(values)
  index = np.arange(n)
  filled = values.copy()
  if missing.all():
    raise ValueError("no real sample")
  filled[missing] = np.interp(index[missing], index[~missing], values[~missing])
  short = np.zeros(n, dtype=bool)
  runs = []
  for first, stop in _runs(missing):
    interior = first > 0 and stop < n
    is_short = interior and stop - first <= max_gap
    short[first:stop] = is_short
    runs.append((int(first), int(stop), bool(is_short)))
  return filled, short, runs


def prepare(record: StationRecord, dates, pre_roll, config: Any) -> Prepared:
  """The station's record on the study grid with its artefacts and gaps (module doc).

  dates: (start, end, background_end) of the station's study; the grid starts `pre_roll` before
  start (at a day boundary) for causal VMD.
  """
  station = record.station
  start, end, background_end = dates
  read_start = (start - pre_roll).astype("datetime64[D]").astype("datetime64[s]")
  times, raw = study_grid(record, read_start, end)
  interval = int(record.series.interval_seconds)
  per_hour = 3600.0 / interval
  if config.quality.artefacts not in ("mask", "correct", "off"):
    raise ValueError(
      f"config.quality.artefacts={config.quality.artefacts!r}: expected mask, correct or off"
    )
  if config.quality.artefacts == "off":
    report = artefacts_lib.ArtefactReport([], np.zeros(len(raw), bool), float("nan"))
  else:
    rules = artefacts_lib.ArtefactRules(
      spike_factor=config.quality.spike_factor,
      max_spike_samples=config.quality.max_spike_samples,
      step_factor=config.quality.step_factor,
      window=config.quality.artefact_window,
      stuck_samples=max(2, round(config.quality.stuck_hours * per_hour)),
    )
    report = artefacts_lib.find_artefacts(raw, rules)
  repaired = artefacts_lib.repair(raw, report)
  real = np.isfinite(repaired)
  in_study = times >= start
  if real[in_study].mean() < MIN_REAL_FRACTION:
    raise StationError(
      f"station {station.name!r}: only {100 * real[in_study].mean():.0f}% of {start} .. {times[-1]} are "
      f"real observations (at least {100 * MIN_REAL_FRACTION:.0f}% needed): the record is mostly gaps"
    )
  max_gap = int(config.quality.max_gap_hours * per_hour)
  filled, short, runs = bridge(repaired, max_gap)
  stamp = lambda i: str(times[i])
  gaps = [
    {"start": stamp(a), "end": stamp(b - 1), "samples": b - a, "filled": s}
    for a, b, s in runs
    if not report.removed[a:b].all()  # artefacts are listed as such, not as gaps
  ]
  events = [
    {"kind": e.kind, "start": stamp(e.start), "end": stamp(e.end), "size": e.size}
    for e in report.events
  ]
  artefact_days = frozenset(times[report.removed].astype("datetime64[D]").tolist())
  return Prepared(
    name=station.name,
    kind=station.kind,
    interval_seconds=interval,
    times=times,
    raw=raw,
    filled=filled,
    real=real,
    history_ok=real | short,
    gaps=gaps,
    artefacts=events,
    artefact_days=artefact_days,
    artefact_scale=report.scale,
    start=start,
    end=end,
    background_end=background_end,
  )

"""Alarm-based evaluation of method 1 over whole records: `train_and_evaluate(config, workdir)`.

1. Every station is read once over [window.start - training_days - causal pre-roll, window.end).
2. No look-ahead anywhere: VMD runs in its causal mode (each day from a trailing window ending
   with it), and the evaluated period is cut into segments of `segments.length_days`; segment
   k's forecaster (one per station, stacked: tasks/detect/forecasting.py) learns on the
   `segments.training_days` before the segment, its point threshold is calibrated on the last
   part of those days, and only the segment's own days are judged (tasks/detect/pipeline.
   daily_outputs). The report lists which days trained, calibrated and judged what.
3. The daily verdicts of all segments give one alarm function per station (alarms.py). A day is
   scored (observed, in Molchan's terms) when its alarm state was decided, i.e. the alarm function
   was known the day before (decided_days): not when the day's own data were usable, which would
   drop exactly the event days that a co-seismic step or a gap makes unusable.
4. Target earthquakes (anomaly/declustering.select_targets): magnitude >= targets.min_magnitude,
   epicentral distance within each event's Dobrovolsky radius (or targets.max_distance_km),
   depth limits, inside the evaluated period, declustered (Gardner-Knopoff windows by default)
   so that aftershocks are not separate successes.
5. The Molchan trajectory over every threshold for all stations in one vmapped computation,
   the area skill score (Zechar & Jordan 2008) with its random-guess p-value and bounds, the
   probability gain at chosen alarm fractions, and two Monte Carlo p-values: random alarms with
   the same alarm fraction (circular shifts, which keep the alarms' clustering) and shifted
   catalogues (the catalogue moved by whole years) (anomaly/molchan.py). Several stations are
   also pooled into one trajectory (their day sequences end to end, separated by an unobserved
   gap as long as an alarm, so no alarm crosses from one station to the next).
6. Outputs, whole or not at all (tasks/outputs.py), in <workdir>/evaluation/ with molchan.json and
   report.md copied to the workdir: molchan.json (schema precursor_jax.evaluate/1: at least
   area_skill_score, p_value, n_targets and trajectory, of the pooled evaluation, and the same per
   station), molchan.csv (the trajectories), molchan.png (the diagram with its random-guess
   bounds), alarms.csv and targets.csep.csv (for pyCSEP users: see report.py), report.md.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np

from precursor_jax.anomaly import declustering, molchan
from precursor_jax.data import catalogs
from precursor_jax.tasks.detect import pipeline as detect
from precursor_jax.tasks.detect import quality, statistics
from precursor_jax.tasks.detect.stations import StationError, load_stations, read_station
from precursor_jax.tasks.evaluate import alarms, report
from precursor_jax.training import runs

DAY = np.timedelta64(1, "D")
READERS = {
  "usgs_csv": catalogs.read_usgs_csv,
  "cenc_text": catalogs.read_cenc_text,
  "comcat_csv": catalogs.read_comcat_csv,
}


class EvaluationError(ValueError):
  """An evaluation that cannot run as configured."""


@dataclasses.dataclass(frozen=True)
class Segment:
  """One rolling segment: the forecaster learns on [train_start, start), days [start, end) are judged."""

  train_start: np.datetime64
  start: np.datetime64
  end: np.datetime64


def plan_segments(start, end, length_days: int, training_days: int) -> list[Segment]:
  """Consecutive segments of `length_days` over [start, end), each with its training days."""
  if length_days < 7 or training_days < 7:
    raise EvaluationError(
      f"config.segments: length_days={length_days} and training_days={training_days} must be >= 7"
    )
  segments, begin = [], start
  while begin < end:
    stop = min(begin + length_days * DAY, end)
    segments.append(Segment(begin - training_days * DAY, begin, stop))
    begin = stop
  return segments


def read_catalog(config: Any) -> catalogs.Catalog:
  if not config.catalog.path:
    raise EvaluationError("config.catalog.path is required (a USGS CSV, ComCat CSV or CENC list)")
  reader = READERS.get(config.catalog.format)
  if reader is None:
    raise EvaluationError(
      f"config.catalog.format={config.catalog.format!r}: expected one of {', '.join(READERS)}"
    )
  if not pathlib.Path(config.catalog.path).expanduser().is_file():
    raise EvaluationError(f"config.catalog.path: no file {config.catalog.path}")
  return reader(pathlib.Path(config.catalog.path).expanduser())


def select(config: Any, catalog, records, start, end) -> declustering.Targets:
  decluster = config.targets.decluster
  if decluster not in ("gardner_knopoff", "uhrhammer", "none"):
    raise EvaluationError(
      f"config.targets.decluster={decluster!r}: expected gardner_knopoff, uhrhammer or none"
    )
  return declustering.select_targets(
    catalog,
    np.array([r.latitude for r in records]),
    np.array([r.longitude for r in records]),
    min_magnitude=config.targets.min_magnitude,
    max_distance_km=config.targets.max_distance_km,
    min_depth_km=config.targets.min_depth_km,
    max_depth_km=config.targets.max_depth_km,
    start=start,
    end=end,
    declustering=None if decluster == "none" else decluster,
  )


def day_grid(start, end) -> np.ndarray:
  return np.arange(start.astype("datetime64[D]"), end.astype("datetime64[D]"), DAY)


def station_days(days: np.ndarray, pieces: list[dict]) -> dict[str, np.ndarray]:
  """The segments' verdicts of one station on the evaluated day grid (no verdict: unusable)."""
  anomalous = np.zeros(len(days), bool)
  usable = np.zeros(len(days), bool)
  for verdicts in pieces:
    index = ((verdicts["days"] - days[0]) // DAY).astype(np.int64)
    inside = (index >= 0) & (index < len(days))
    anomalous[index[inside]] = verdicts["anomalous"][inside]
    usable[index[inside]] = verdicts["usable"][inside]
  return {"anomalous": anomalous, "usable": usable}


def pooled(f: np.ndarray, observed: np.ndarray, events: np.ndarray, gap: int):
  """Stations end to end, separated by `gap` unobserved, unknown days; event indices shifted."""
  stations, length = f.shape
  stride = length + gap
  f_all = np.full(stations * stride, np.nan)
  observed_all = np.zeros(stations * stride, bool)
  events_all = []
  for s in range(stations):
    f_all[s * stride : s * stride + length] = f[s]
    observed_all[s * stride : s * stride + length] = observed[s]
    events_all += [e + s * stride for e in events[s] if e >= 0]
  return f_all, observed_all, np.asarray(events_all or [-1], np.int64)


def decided_days(f: np.ndarray) -> np.ndarray:
  """(..., D) days whose alarm state was decided: the alarm function was known at the end of the
  day before. The alarm on day d comes from days before d only, so day d's own data do not
  decide whether it is scored: an event day lost to its own co-seismic step (an artefact, hence
  no verdict) is still a target, which is the point of the exercise."""
  known = np.isfinite(f)
  decided = np.zeros_like(known)
  decided[..., 1:] = known[..., :-1]
  return decided


def target_status(events: np.ndarray, observed: np.ndarray) -> np.ndarray:
  """(S, E) why each target counts or not at each station: scored, out of range (or outside the
  days), or alarm state unknown (the alarm function unknown the day before: left out of the
  Molchan counts)."""
  inside = events >= 0
  seen = np.take_along_axis(observed, np.where(inside, events, 0), axis=1)
  return np.where(~inside, "out of range", np.where(seen, "scored", "alarm state unknown"))


def score(f, observed, events, config, seed) -> dict:
  """ASS, its p-values, bounds and gains of one alarm function (or a pooled one)."""
  duration = config.alarm.duration_days
  trajectory = molchan.molchan_trajectory(f, events, duration, observed)
  n_events = int(trajectory.n_events)
  out = {
    "n_targets": n_events,
    "n_excluded_targets": int(trajectory.n_excluded),
    "observed_days": int(trajectory.n_observed),
    "trajectory": {
      "tau": trajectory.tau[trajectory.distinct].tolist(),
      "nu": trajectory.nu[trajectory.distinct].tolist(),
      "threshold": [float(t) for t in trajectory.threshold[trajectory.distinct]],
    },
  }
  if n_events == 0:
    out.update(area_skill_score=None, p_value=None, reason="no target event on an observed day")
    return out
  ass = float(molchan.area_skill_score(trajectory))
  low, high = molchan.ass_bounds(n_events, config.evaluation.alpha)
  random_alarms = molchan.random_alarm_test(
    seed, f, events, duration, observed, method="circular", n_draws=config.evaluation.draws
  )
  try:
    shifted = molchan.shifted_catalog_test(seed + 1, f, events, duration, observed, method="years")
    shifted_p = float(shifted.p_value)
  except ValueError as error:  # a record too short for whole-year shifts
    shifted_p, shifted = None, str(error)
  tau_grid = np.linspace(0, 1, 101)
  nu_low, nu_high = molchan.molchan_bounds(tau_grid, n_events, config.evaluation.alpha)
  gains = molchan.probability_gain(trajectory, np.asarray(config.alarm.gain_at, float))
  out.update(
    area_skill_score=ass,
    p_value=float(random_alarms.p_value),
    p_value_method="random alarms with the same alarm fraction (circular shifts of the alarm days)",
    p_value_random_guess=float(molchan.ass_p_value(ass, n_events)),
    p_value_shifted_catalog=shifted_p,
    shifted_catalog_shifts=None
    if isinstance(shifted, str)
    else int(np.sum(np.isfinite(shifted.null))),
    ass_random_guess_bounds=[float(low), float(high)],
    probability_gain={
      f"{t:g}": float(g) for t, g in zip(config.alarm.gain_at, np.atleast_1d(gains), strict=True)
    },
    bounds={
      "alpha": config.evaluation.alpha,
      "tau": tau_grid.tolist(),
      "nu_lower": np.asarray(nu_low).tolist(),
      "nu_upper": np.asarray(nu_high).tolist(),
    },
  )
  return out


def train_and_evaluate(
  config: Any, workdir: str | pathlib.Path, *, force_resume: bool = False
) -> dict:
  """Runs the evaluation of `config` in `workdir`; returns molchan.json's document."""
  workdir = runs.check_workdir(workdir, config, force=force_resume)
  start = detect.parse_time(config.window.start, "window.start")
  end = detect.parse_time(config.window.end, "window.end")
  if end <= start:
    raise EvaluationError(f"config.window.end {end} is not after window.start {start}")
  if config.vmd.mode != "causal":
    raise EvaluationError("config.vmd.mode must be causal here: whole-record VMD would look ahead")
  segments = plan_segments(start, end, config.segments.length_days, config.segments.training_days)
  pre_roll = config.vmd.causal_window_days * DAY
  first_training = segments[0].train_start
  clock = detect.Stopwatch()
  stations = load_stations(config.stations_file, list(config.stations) or None)
  records, prepared, skipped = [], [], []
  with clock.stage("read_and_quality"):
    for station in stations:
      try:
        record = read_station(station)
        prepared.append(quality.prepare(record, (first_training, end, start), pre_roll, config))
        records.append(record)
      except (StationError, ValueError, OSError) as error:
        if config.on_station_error != "skip":
          raise
        skipped.append({"name": station.name, "reason": str(error)})
    if not prepared:
      raise EvaluationError("no station could be read: " + "; ".join(s["reason"] for s in skipped))
    catalog = read_catalog(config)
    targets = select(config, catalog, records, start, end)
    storm_days = statistics.read_storms(config)
  fingerprints = {p.name: runs.fingerprint_arrays({"raw": p.raw}) for p in prepared}
  fingerprints["catalog"] = runs.fingerprint_file(pathlib.Path(config.catalog.path).expanduser())
  runs.record_start(workdir, config, fingerprints=fingerprints, force=force_resume)

  days = day_grid(start, end)
  pieces: dict[str, list] = {p.name: [] for p in prepared}
  training: list[dict] = []
  for group in detect.group_by_grid(prepared):
    for number, segment in enumerate(segments):
      dated = [
        dataclasses.replace(
          p, start=segment.train_start, background_end=segment.start, end=segment.end
        )
        for p in group
      ]
      results, _ = detect.daily_outputs(
        dated, ["causal"], storm_days, config, workdir, force_resume, clock
      )
      for name, entry in results.items():
        pieces[name].append(entry["modes"]["causal"]["verdicts"])
        training.append(
          {
            "segment": number,
            "station": name,
            "trained_on": entry["forecaster"]["trained_on"],
            "calibrated_on": entry["modes"]["causal"]["threshold"]["calibrated_on"],
            "judged": [str(segment.start), str(segment.end - DAY)[:10]],
            "forecaster_workdir": entry["forecaster"]["workdir"],
          }
        )
  names = [p.name for p in prepared]
  flags = [station_days(days, pieces[n]) for n in names]
  f = np.stack(
    [
      alarms.alarm_function(
        d["anomalous"],
        d["usable"],
        config.alarm.function,
        config.alarm.window_days,
        config.alarm.min_usable_fraction,
      )
      for d in flags
    ]
  )
  observed = decided_days(f)
  event_index = molchan.event_day_index(targets.events.time, days)
  events = np.where(targets.in_range.T, event_index[None, :], -1)  # (S, E)
  with clock.stage("molchan"):
    per_station = {
      n: score(f[s], observed[s], events[s], config, config.seed + s) for s, n in enumerate(names)
    }
    f_all, observed_all, events_all = pooled(f, observed, events, config.alarm.duration_days)
    overall = score(f_all, observed_all, events_all, config, config.seed + 1000)
  document = report.build(
    config,
    names,
    records,
    targets,
    segments,
    training,
    per_station,
    overall,
    skipped,
    days,
    target_status(events, observed),
  )
  with clock.stage("report"):
    document["timings_seconds"] = clock.seconds
    report.write(workdir, document, days, names, f, observed, flags, targets, events)
  return document

"""Method 1 end to end: `train_and_evaluate(config, workdir)` runs every stage and writes the report.

  stations  read and quality-checked (stations.py, quality.py), each on its own grid in UTC
  event     from the config or looked up in a catalogue; the Dobrovolsky radius; distances
  VMD       whole (the paper) and/or causal, every station of one length in one call
            (decompose.py); cached in <workdir>/stages/vmd/
  forecast  one stack per sampling interval: every (station, VMD mode) pair a forecaster of its
            own, trained together through the shared wiring (forecasting.py), resumable
  anomalies residuals, points, days, storms, curves, fits, significance, lags (statistics.py)
  report    report.json, report.md and the figures (report.py, figures.py), whole or not at all

A station that cannot be used (missing file, wrong interval, mostly gaps, too short) stops the
run with a message naming it, or with on_station_error = "skip" is listed in the report as
skipped while the others go on. A station outside the Dobrovolsky radius is a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Any

import numpy as np

from precursor_jax.core.geodesy import dobrovolsky_radius_km, haversine_km
from precursor_jax.data import catalogs
from precursor_jax.tasks.detect import decompose, figures, quality, report, statistics
from precursor_jax.tasks.detect import forecasting as fc
from precursor_jax.tasks.detect.stations import StationError, load_stations, read_station
from precursor_jax.training import runs

DAY = np.timedelta64(1, "D")
MODES = ("whole", "causal")


class StudyError(ValueError):
  """A study (window, event, background) that cannot be run as configured."""


class Stopwatch:
  """Wall seconds per stage, summed over groups (report.json "timings_seconds")."""

  def __init__(self):
    self.seconds: dict[str, float] = {}

  @contextlib.contextmanager
  def stage(self, name: str):
    begin = time.perf_counter()
    try:
      yield
    finally:
      self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - begin


def parse_time(text: str | None, field: str) -> np.datetime64:
  """YYYY-MM-DD or an ISO 8601 time in UTC (a trailing Z allowed) -> datetime64[s]."""
  if not text:
    raise StudyError(f"config.{field} is required (YYYY-MM-DD or an ISO time in UTC)")
  value = str(text).strip()
  if value.endswith(("Z", "z")):
    value = value[:-1]
  if "+" in value[10:] or value[10:].count("-"):
    raise StudyError(
      f"config.{field}={text!r}: give the time in UTC (no offset), e.g. 2008-05-12T06:28:01Z"
    )
  try:
    return np.datetime64(value, "s")
  except ValueError:
    raise StudyError(f"config.{field}={text!r}: expected YYYY-MM-DD or an ISO 8601 time") from None


@dataclasses.dataclass(frozen=True)
class Study:
  """The dates of a study."""

  start: np.datetime64
  end: np.datetime64
  background_end: np.datetime64
  event_time: np.datetime64
  event: dict


def lookup_event(config: Any, start, end, first_station) -> dict:
  """The largest catalogue event in the window within max_distance_km of the first station."""
  path = config.event.catalog_path
  if not path:
    raise StudyError(
      "give config.event.time (with latitude, longitude, magnitude) or config.event.catalog_path"
    )
  readers = {
    "cenc_text": catalogs.read_cenc_text,
    "usgs_csv": catalogs.read_usgs_csv,
    "comcat_csv": getattr(catalogs, "read_comcat_csv", None),
  }
  reader = readers.get(config.event.catalog_format)
  if reader is None:
    raise StudyError(
      f"config.event.catalog_format={config.event.catalog_format!r}: expected {', '.join(readers)}"
    )
  catalog = reader(path).between(start, end).with_magnitude(config.event.min_magnitude)
  catalog = catalog.within_km(
    first_station.latitude, first_station.longitude, config.event.max_distance_km
  )
  if len(catalog) == 0:
    raise StudyError(
      f"{path}: no event of magnitude >= {config.event.min_magnitude} within "
      f"{config.event.max_distance_km} km of {first_station.station.name} in {start} .. {end}"
    )
  i = int(np.argmax(catalog.magnitude))
  return {
    "name": config.event.name or str(catalog.place[i]),
    "time": str(catalog.time[i].astype("datetime64[s]")),
    "latitude": float(catalog.latitude[i]),
    "longitude": float(catalog.longitude[i]),
    "magnitude": float(catalog.magnitude[i]),
    "source": f"{path} (largest event within {config.event.max_distance_km} km)",
  }


def study_dates(config: Any, station_window: dict | None = None):
  """(start, end, background_end) of the config's window, or of a station's own (stations.py)."""
  own = station_window or {}
  start = parse_time(own.get("start") or config.window.start, "window.start")
  end = parse_time(own.get("end") or config.window.end, "window.end")
  if end <= start:
    raise StudyError(f"the window end {end} is not after its start {start}")
  chosen = own.get("background_end") or (
    None if own.get("start") or own.get("end") else config.background.end
  )
  if chosen:
    background_end = parse_time(chosen, "background.end")
  else:
    if not 0 < config.background.fraction < 1:
      raise StudyError(f"config.background.fraction={config.background.fraction}: expected (0, 1)")
    span = (end - start).astype(np.int64)
    background_end = (
      (start + np.timedelta64(int(span * config.background.fraction), "s"))
      .astype("datetime64[D]")
      .astype("datetime64[s]")
    )
  if not start < background_end < end:
    raise StudyError(
      f"the background end {background_end} is not inside the window {start} .. {end}"
    )
  return start, end, background_end


def event_of(config: Any, start, end, records) -> dict:
  if config.event.time:
    missing = [f for f in ("latitude", "longitude", "magnitude") if config.event[f] is None]
    if missing:
      raise StudyError(f"config.event.time is given but not config.event.{', '.join(missing)}")
    event = {
      "name": config.event.name,
      "time": str(parse_time(config.event.time, "event.time")),
      "latitude": float(config.event.latitude),
      "longitude": float(config.event.longitude),
      "magnitude": float(config.event.magnitude),
      "source": "config.event",
    }
  else:
    event = lookup_event(config, start, end, records[0])
  event["dobrovolsky_radius_km"] = float(dobrovolsky_radius_km(event["magnitude"]))
  return event


def _cache_key(*parts) -> str:
  return runs.override_hash({"parts": [str(p) for p in parts]})


def decompose_group(
  group: list[quality.Prepared], mode, samples_per_day, config, cache_dir
) -> list[dict]:
  """Every station of a group in one VMD mode: {kept, summary, modes, segments, segment_starts}
  (cached in cache_dir under a key of the inputs and the VMD settings)."""
  signals = np.stack([p.filled for p in group])
  key = _cache_key(
    mode, runs.fingerprint_arrays({"x": signals}), config.vmd.to_json(), [p.kind for p in group]
  )
  path = cache_dir / f"{mode}-{key}.npz"
  if path.is_file():
    stored = np.load(path, allow_pickle=False)
    summaries = json.loads(str(stored["summaries"]))
    return [
      {
        "kept": stored["kept"][s],
        "summary": summaries[s],
        "modes": stored["modes"][s] if "modes" in stored else None,
        "segments": stored[f"segments_{s}"] if f"segments_{s}" in stored else None,
        "segment_starts": stored[f"segment_starts_{s}"]
        if f"segment_starts_{s}" in stored
        else None,
      }
      for s in range(len(group))
    ]
  if mode == "whole":
    parts = decompose.decompose_whole(
      signals, [p.kind for p in group], group[0].interval_seconds, config
    )
  else:
    parts = [
      decompose.decompose_causal(p.filled, p.kind, samples_per_day, 0, p.interval_seconds, config)
      for p in group
    ]
  arrays = {"kept": np.stack([d.kept for d in parts])}
  summaries = [decompose.summary(d, config) for d in parts]
  arrays["summaries"] = json.dumps(summaries)
  if mode == "whole":
    arrays["modes"] = np.stack([d.modes for d in parts])
  else:
    for s, d in enumerate(parts):
      arrays[f"segments_{s}"] = d.segments
      arrays[f"segment_starts_{s}"] = d.segment_starts
  cache_dir.mkdir(parents=True, exist_ok=True)
  np.savez(path, **arrays)
  return decompose_group(group, mode, samples_per_day, config, cache_dir)


def segmented(part: dict, length: int, samples_per_day: int) -> fc.Segmented:
  """The forecaster's view of a decomposition: one segment (whole) or one per day (causal)."""
  if part["segments"] is None:
    return fc.Segmented.continuous(np.nan_to_num(part["kept"]))
  starts = np.asarray(part["segment_starts"], np.int64)
  of_time = np.full(length, -1, np.int64)
  width = part["segments"].shape[1]
  for i, begin in enumerate(starts):
    day = begin + width - samples_per_day  # each segment owns its last day
    of_time[day : day + samples_per_day] = i
  return fc.Segmented(part["segments"], starts, of_time)


def group_by_grid(prepared: list[quality.Prepared]) -> list[list[quality.Prepared]]:
  groups: dict[tuple, list] = {}
  for p in prepared:
    groups.setdefault((p.interval_seconds, len(p.times), str(p.times[0])), []).append(p)
  return list(groups.values())


def read_all(config, stations, pre_roll):
  """Every station read and prepared; (records, prepared, skipped) per on_station_error."""
  records, prepared, skipped = [], [], []
  for station in stations:
    try:
      dates = study_dates(config, station.window)
      record = read_station(station)
      prepared.append(quality.prepare(record, dates, pre_roll, config))
      records.append(record)
    except (StationError, StudyError, ValueError, OSError) as error:
      if config.on_station_error != "skip":
        raise
      skipped.append({"name": station.name, "reason": str(error)})
      print(f"skipped station {station.name}: {error}", flush=True)
  if not prepared:
    raise StudyError("no station could be read: " + "; ".join(s["reason"] for s in skipped))
  return records, prepared, skipped


def check_event(event_time, prepared) -> None:
  for p in prepared:
    if not p.start <= event_time < p.end:
      raise StudyError(
        f"station {p.name}: the event at {event_time} is outside its window {p.start} .. {p.end}"
      )
    if event_time <= p.background_end:
      raise StudyError(
        f"station {p.name}: the event at {event_time} is inside its background period (ends {p.background_end})"
      )


def station_geometry(event, records) -> dict:
  """Epicentral distance of every station and whether it lies inside the Dobrovolsky radius."""
  geometry = {}
  for record in records:
    distance = float(
      haversine_km(event["latitude"], event["longitude"], record.latitude, record.longitude)
    )
    inside = distance <= event["dobrovolsky_radius_km"]
    geometry[record.station.name] = {"distance_km": distance, "inside_radius": bool(inside)}
    if not inside:
      print(
        f"warning: station {record.station.name} is {distance:.0f} km from the event, outside the "
        f"Dobrovolsky radius {event['dobrovolsky_radius_km']:.0f} km",
        flush=True,
      )
  return geometry


def daily_outputs(group, modes, storm_days, config, workdir, force_resume, clock):
  """VMD, forecasters and day verdicts of one group of stations sharing a grid and dates (no
  event needed: evaluate calls this for every rolling segment). Returns (results, series) per
  station and mode, without the fit and the significance tests."""
  interval = group[0].interval_seconds
  samples_per_day = 86400 // interval
  times = group[0].times
  start, end, background_end = group[0].start, group[0].end, group[0].background_end
  offset = np.timedelta64(int(config.days_utc_offset_hours * 3600), "s")
  first_study = int(np.searchsorted(times, start))
  parts = {}
  for mode in modes:
    with clock.stage(f"vmd_{mode}"):
      parts[mode] = decompose_group(
        group, mode, samples_per_day, config, workdir / "stages" / "vmd"
      )
  # One forecaster per (station, mode): all of them one stack.
  pairs = [(p, mode, s) for mode in modes for s, p in enumerate(group)]
  signals = np.stack([parts[mode][s]["kept"] for p, mode, s in pairs])
  rows = [segmented(parts[mode][s], len(times), samples_per_day) for p, mode, s in pairs]
  defined = np.isfinite(signals)
  in_window = (times >= start)[None, :]
  real = np.stack([p.real for p, _, _ in pairs]) & defined & in_window
  history_ok = np.stack([p.history_ok for p, _, _ in pairs]) & defined & in_window
  background = (times >= start) & (times < background_end)
  data = fc.standardise(rows, signals, real, history_ok, times, background)
  plan = fc.WindowPlan.from_config(config.forecaster, interval)
  per_day = fc.training_starts_per_day(plan, samples_per_day)
  if per_day == 1 and plan.stride < samples_per_day:
    print(
      f"note: forecaster.horizon_hours={config.forecaster.horizon_hours} fills the day, so "
      f"train_stride_hours={config.forecaster.train_stride_hours} gives one training window a "
      "day (targets never cross midnight); a shorter horizon gives more",
      flush=True,
    )
  background_range = (first_study, int(np.searchsorted(times, background_end)))
  names = ", ".join(p.name for p in group)
  models = {}
  for name in (config.forecaster.name, *config.forecaster.table2_baselines):
    try:
      with clock.stage(f"forecaster_{name}"):
        models[name] = fc.train_and_forecast(
          config.forecaster,
          name,
          data,
          background_range,
          plan,
          samples_per_day,
          workdir / "forecaster",
          force_resume=force_resume,
        )
    except ValueError as error:
      raise StationError(
        f"station(s) {names}: the {name} forecaster cannot be trained: {error}"
      ) from None
  forecast = models[config.forecaster.name]
  judged = (times >= background_end) & (times < end)
  # The threshold is calibrated out of sample: on the held-back background the forecaster never
  # trained on (in-sample residuals are smaller, and would flag the judged period too often).
  calibration = np.zeros(len(times), dtype=bool)
  calibration[slice(*forecast.held_back)] = True
  calibrated_on = [str(times[forecast.held_back[0]]), str(times[forecast.held_back[1] - 1])]
  results, series = {}, {}
  with clock.stage("statistics"):
    for row, (p, mode, s) in enumerate(pairs):
      e = np.where(real[row], np.abs(signals[row] - forecast.forecast[row]), np.nan)
      threshold = statistics.point_threshold(e, calibration & real[row], config)
      verdicts = statistics.day_verdicts(
        times[judged] + offset,
        e[judged],
        threshold,
        samples_per_day,
        p.kind,
        set(p.artefact_days),
        storm_days,
        config,
      )
      entry = results.setdefault(p.name, {"modes": {}})
      entry["modes"][mode] = {
        "vmd": parts[mode][s]["summary"],
        "threshold": {
          "mode": config.threshold.mode,
          "k": config.threshold.k,
          "point_threshold": threshold,
          "day_threshold_points": statistics.day_threshold(p.kind, samples_per_day, config),
          "samples_per_day": samples_per_day,
          "calibrated_on": calibrated_on,
        },
        "verdicts": verdicts,
        "table2": {name: model.metrics[row] for name, model in models.items()},
      }
      entry["forecaster"] = {
        "name": config.forecaster.name,
        "history_samples": plan.history,
        "horizon_samples": plan.horizon,
        "train_stride_samples": plan.stride,
        "training_windows": forecast.training_windows,
        "workdir": forecast.workdir,
        "held_back_mse_standardised": forecast.held_back_mse,
        "trained_on": [str(times[first_study]), calibrated_on[0]],
        "how": "each block of `horizon` samples is predicted from the `history` samples before it; "
        "blocks back to back; trained on the background period before its held-back last "
        f"{100 * config.forecaster.validation_fraction:.0f}%",
      }
      entry["window"] = {
        "start": str(start),
        "end": str(end),
        "background_end": str(background_end),
      }
      series.setdefault(p.name, {})[mode] = {
        "times": times,
        "observed": signals[row],
        "forecast": forecast.forecast[row],
        "residual": e,
        "threshold": threshold,
        "modes": parts[mode][s]["modes"],
        "raw": p.raw,
        "verdicts": verdicts,
        "kind": p.kind,
        "artefacts": p.artefacts,
        "background_end": background_end,
        "day_threshold": statistics.day_threshold(p.kind, samples_per_day, config),
        # What a threshold sweep needs to recount the days without the forecaster.
        "judged": judged,
        "calibration": calibration,
        "day_offset": offset,
        "samples_per_day": samples_per_day,
        "artefact_days": set(p.artefact_days),
      }
  return results, series


def event_statistics(results, series, event_time, config, clock) -> None:
  """The event-dependent numbers of every station and mode, added in place: the Boltzmann fit of
  the pre-event curve and the significance tests."""
  with clock.stage("statistics"):
    for name, entry in results.items():
      for mode, m in entry["modes"].items():
        m["fit"] = statistics.fit_curve(m["verdicts"], event_time, config, config.seed)
        m["significance"] = statistics.significance_tests(
          m["verdicts"], event_time, config, config.seed
        )
        series[name][mode]["fit"] = m["fit"]


def lag_table(results, prepared, mode, max_lag) -> list[dict]:
  """The strain-vs-geomagnetic lag of every (strain, geomagnetic) pair of stations."""
  rows = []
  strain = [n for n in results if prepared[n].kind == "strain"]
  geomagnetic = [n for n in results if prepared[n].kind == "geomagnetic"]
  for a in strain:
    for b in geomagnetic:
      ma, mb = results[a]["modes"][mode], results[b]["modes"][mode]
      row = statistics.lags(ma["verdicts"], mb["verdicts"], ma["fit"], mb["fit"], max_lag=max_lag)
      rows.append({"strain": a, "geomagnetic": b, **row})
  return rows


@dataclasses.dataclass
class StudyRun:
  """A finished study: the report document and, per station and VMD mode, the series behind it."""

  document: dict
  series: dict
  study: Study
  storm_days: Any


def train_and_evaluate(
  config: Any, workdir: str | pathlib.Path, *, force_resume: bool = False
) -> dict:
  """Runs the study of `config` in `workdir`; returns the report (also written there)."""
  return run_study(config, workdir, force_resume=force_resume).document


def run_study(config: Any, workdir: str | pathlib.Path, *, force_resume: bool = False) -> StudyRun:
  """train_and_evaluate, keeping the series (residuals, masks) a threshold sweep recounts."""
  workdir = runs.check_workdir(workdir, config, force=force_resume)
  start, end, background_end = study_dates(config)
  if config.vmd.mode not in MODES:
    raise StudyError(f"config.vmd.mode={config.vmd.mode!r}: expected whole or causal")
  modes = [config.vmd.mode] + (
    ["causal"] if config.vmd.mode == "whole" and config.vmd.compare_causal else []
  )
  pre_roll = config.vmd.causal_window_days * DAY if "causal" in modes else np.timedelta64(0, "D")
  clock = Stopwatch()
  stations = load_stations(config.stations_file, list(config.stations) or None)
  with clock.stage("read_and_quality"):
    records, prepared, skipped = read_all(config, stations, pre_roll)
  event = event_of(config, start, end, records)
  event_time = np.datetime64(event["time"], "s")
  check_event(event_time, prepared)
  study = Study(start, end, background_end, event_time, event)
  geometry = station_geometry(event, records)
  fingerprints = {p.name: runs.fingerprint_arrays({"raw": p.raw}) for p in prepared}
  runs.record_start(workdir, config, fingerprints=fingerprints, force=force_resume)

  with clock.stage("read_and_quality"):
    storm_days = statistics.read_storms(config)
  results, series = {}, {}
  for group in group_by_grid(prepared):
    group_results, group_series = daily_outputs(
      group, modes, storm_days, config, workdir, force_resume, clock
    )
    event_statistics(group_results, group_series, event_time, config, clock)
    results.update(group_results)
    series.update(group_series)
  by_name = {p.name: p for p in prepared}
  records_by_name = {r.station.name: r for r in records}
  lags = lag_table(results, by_name, modes[0], max_lag=min(30, config.significance.window_days))
  document = report.build(
    config, study, modes, by_name, records_by_name, geometry, results, lags, skipped, storm_days
  )
  draw = (
    (lambda target: figures.draw_all(target, document, series, study, storm_days))
    if config.figures
    else (lambda target: [])
  )
  with clock.stage("report_and_figures"):
    document["timings_seconds"] = clock.seconds  # the report's own stage is timed up to here
    report.write(workdir, document, draw)
  return StudyRun(document, series, study, storm_days)

"""Method 1 on ground truth: detect on synthetic records with injected precursor bursts.

COMMAND (quick, a few minutes: a handful of stations, Pyraformer only):
  python benchmarks/precursor_bench.py --quick
COMMAND (the full benchmark of benchmarks/RESULTS.md; 2 CPU cores, see there for the time):
  python benchmarks/precursor_bench.py
COMMAND (the paper-sized speed study: 5 stations x 4 months of 1-minute data, the fast preset):
  python benchmarks/precursor_bench.py --parts speed

Records (precursor_jax/synthetic/precursors.py documents the model): hourly geomagnetic-like Z
and strain-like records of 420 days from 2021-01-01, all stations of a run in ONE study (stacked
forecasters, one VMD call), written as point files with a station JSON and Kp/Dst CSVs for one
storm (2021-09-10, screened by the pipeline). The study: window 2021-02-01 .. 2022-02-25 (the
causal VMD pre-roll before it), background (training) until 2021-05-01, so 300 judged days
(the circular-shift p-value can reach 1/300); event 2021-12-20 06:00 UTC, M 6.5 at 30 N 103 E,
stations 20-120 km away. Injected precursors: the generator's defaults (x0 = -10 days, dx = 4,
14 expected burst days, one 6-18 h packet of 2.2-4 h periods per burst day).

The reference amplitude: the RMS of the forecaster's residual on the held-back background, i.e.
Table 2's RMSE of Pyraformer with whole-window VMD, the median over the null records of each kind
(part d runs first and measures it). Amplitudes are stated in those units (Precursor.reference_rms
carries it into the generator); the tables also give it in the generator's band-noise units.

Parts (--parts):
  d  null records (no injection, half of each kind): the calibration of the per-station p-values
     (report.json stations.<name>.modes.<mode>.significance.p_value, circular shifts): the fraction
     below 0.05 against the 95% binomial band; the null day false-alarm rate; the reference.
  a  records with anomalies at the reference amplitude, for Pyraformer and the baselines (lstm,
     gru, transformer as config.forecaster.name), whole and causal VMD (vmd.mode = whole with
     compare_causal runs both): day-level precision, recall, F1, onset error, p-values.
  b  the amplitude curve: the same records (same keys) at 0.25x .. 16x.
  c  artefacts (2 spikes, a step, a stuck run) beside anomalies: are they found, labelled and
     left out of the counts.
  speed  5 stations (3 geomagnetic, 2 strain) x 120 days of 1-minute data (172,800 samples in the
     window each, a 30-day causal pre-roll before it) with the fast preset: wall time per stage.

Scores: a day is anomalous when report.json lists it in days.anomalous_dates; the evaluated days
are the judged days (background end .. window end) less the unknown (gaps, artefacts) and storm
days; precision, recall and F1 count each evaluated day once (no point adjustment), pooled over
the stations of a row. Onset error: the fitted onset x0 - 2 dx minus the true one (both as numbers
of days from the event day, the fit's own parameters rather than the rounded onset_date; x0's
error beside it); only usable fits (converged, x0 inside the span) count.

Threshold settings. "defaults": the fast preset as documented (threshold.mode = mean, k = 2.5;
day fractions 45/1440 and 25/1440). "null-calibrated": threshold.mode = quantile, every
--candidates false_alarm_rate x every --day-points (a day is anomalous from that many anomalous
points on: day fractions (points - 0.5) / samples per day), and of those whose day false-alarm rate
on the NULL records (whole VMD, pooled over kinds) is at most --target-day-fa (1%) the one nearest
to it (else the lowest): chosen from part d's residuals alone (captured during its run and passed
through the pipeline's own point_threshold and day_verdicts), before any record with anomalies
is scored. Config fields changed from the fast preset: the study (stations, event, window,
background, storms), forecaster.name, forecaster.table2_baselines = () (not used for
residuals), figures = False, and threshold.* in the calibrated setting.

Timing: the pipeline reports no stage times, so `StageTimer` wraps the stage functions of
tasks/detect from outside while a run lasts (read + quality, VMD whole, VMD causal, each
forecaster, statistics, report) and the rest is "other". Reruns at another threshold reuse the
run's cached VMD and trained forecasters (force_resume: only prediction and statistics run again).

Writes <out>/precursor_bench.json and .md (device, date, command) and prints the Markdown.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime
import functools
import json
import math
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import time

import jax
import numpy as np

from precursor_jax import config_base
from precursor_jax.synthetic import precursors as pre
from precursor_jax.tasks import detect
from precursor_jax.tasks.detect import decompose, forecasting, pipeline, report, statistics

RECORD_START, RECORD_DAYS = "2021-01-01", 420
WINDOW = ("2021-02-01", "2022-02-25")
BACKGROUND_END = "2021-05-01"
EVENT = "2021-12-20T06:00:00"
EPICENTRE = (30.0, 103.0, 6.5)  # latitude, longitude, magnitude
STORM = pre.Storm("2021-09-10T06:00")
ARTEFACT_DAYS = ("2021-06-01", "2022-02-01")
KINDS = ("geomagnetic", "strain")
BASELINES = ("lstm", "gru", "transformer")
AMPLITUDES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # the issue asks 0.25-4; 8, 16 find the knee
CANDIDATES = (0.01, 0.005, 0.002, 0.001, 0.0005)
SPEED_DAYS, SPEED_PRE_ROLL = 120, 30
REPO = pathlib.Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Stations and studies.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Station:
  """One station of the benchmark: its part, its record spec and where it stands."""

  name: str
  part: str
  spec: pre.RecordSpec

  @property
  def amplitude(self) -> float:
    return 0.0 if self.spec.precursor is None else self.spec.precursor.amplitude


def position(number: int) -> tuple[float, float]:
  """A station position 20-120 km from the epicentre (a spiral, so no two coincide)."""
  distance_km = 20.0 + (37 * number) % 100
  bearing = math.radians((137.5 * number) % 360)
  latitude = EPICENTRE[0] + distance_km * math.cos(bearing) / 111.2
  longitude = EPICENTRE[1] + distance_km * math.sin(bearing) / (
    111.2 * math.cos(math.radians(EPICENTRE[0]))
  )
  return latitude, longitude


def spec_of(kind, key, seed, precursor=None, artefacts=None, interval=3600, start=None, days=None):
  return pre.RecordSpec(
    kind,
    start or RECORD_START,
    days or RECORD_DAYS,
    interval,
    seed=seed,
    station=key,
    storm=STORM,
    precursor=precursor,
    artefacts=artefacts,
  )


def precursor_at(amplitude: float, reference: float | None) -> pre.Precursor:
  return pre.Precursor(EVENT, amplitude=amplitude, reference_rms=reference)


def null_stations(count: int, seed: int) -> list[Station]:
  """Part d: `count` records without injection, alternating kinds."""
  return [
    Station(f"d_{KINDS[i % 2][:3]}_{i:03d}", "d", spec_of(KINDS[i % 2], 3000 + i, seed))
    for i in range(count)
  ]


def anomaly_stations(args, references: dict[str, float]) -> list[Station]:
  """Parts a, b and c (those selected) at amplitudes in units of `references` per kind."""
  out = []
  for kind in args.kinds:
    ref = references[kind]
    tag = kind[:3]
    if "a" in args.parts:
      for i in range(args.stations):
        out.append(
          Station(
            f"a_{tag}_{i}",
            "a",
            spec_of(kind, 100 * i + KINDS.index(kind), args.seed, precursor_at(1.0, ref)),
          )
        )
    if "b" in args.parts:
      for amplitude in args.amplitudes:
        for i in range(args.curve_stations):
          key = 1000 + 100 * i + KINDS.index(kind)  # the same key at every amplitude
          name = f"b_{tag}_x{amplitude:g}_{i}"
          out.append(
            Station(name, "b", spec_of(kind, key, args.seed, precursor_at(amplitude, ref)))
          )
    if "c" in args.parts:
      plan = pre.ArtefactPlan(*ARTEFACT_DAYS)
      for i in range(args.artefact_stations):
        key = 2000 + 100 * i + KINDS.index(kind)
        out.append(
          Station(f"c_{tag}_{i}", "c", spec_of(kind, key, args.seed, precursor_at(1.0, ref), plan))
        )
  return out


def write_study(root: pathlib.Path, stations: list[Station]) -> tuple[list[dict], dict]:
  """Writes every record and the Kp/Dst files; (station entries, truths by name)."""
  root.mkdir(parents=True, exist_ok=True)
  entries, truths = [], {}
  for number, station in enumerate(stations):
    record = pre.synthetic_record(station.spec)
    truths[station.name] = record.truth
    entries.append(pre.write_station(root / "records", station.name, record, *position(number)))
  first = np.datetime64(RECORD_START, "D") - 10
  kp_times, kp, dst_times, dst = pre.space_weather(STORM, str(first), RECORD_DAYS + 40)
  pre.write_kp_csv(root / "kp.csv", kp_times, kp)
  pre.write_dst_csv(root / "dst.csv", dst_times, dst)
  (root / "stations.json").write_text(json.dumps(entries, indent=1))
  return entries, truths


def study_config(root: pathlib.Path, forecaster: str, threshold: dict | None = None):
  """The fast preset with this benchmark's study (module doc lists every changed field)."""
  c = config_base.detect_config("fast")
  c.stations_file = str(root / "stations.json")
  c.event.name = "synthetic event"
  c.event.time = EVENT
  c.event.latitude, c.event.longitude, c.event.magnitude = EPICENTRE
  c.window.start, c.window.end = WINDOW
  c.background.end = BACKGROUND_END
  c.storms.kp_file = str(root / "kp.csv")
  c.storms.dst_file = str(root / "dst.csv")
  c.forecaster.name = forecaster
  c.forecaster.table2_baselines = ()
  c.vmd.mode, c.vmd.compare_causal = "whole", True
  c.figures = False
  for key, value in (threshold or {}).items():
    c.threshold[key] = value
  return c


# ---------------------------------------------------------------------------------------------
# Timing and residual capture, from outside the pipeline.
# ---------------------------------------------------------------------------------------------


class StageTimer:
  """Wall seconds per stage of a detect run, by wrapping its stage functions while active."""

  TARGETS = (
    (pipeline, "read_all", "read + quality"),
    (decompose, "decompose_whole", "VMD whole"),
    (decompose, "decompose_causal", "VMD causal"),
    (forecasting, "train_and_forecast", "forecaster"),
    (statistics, "day_verdicts", "statistics"),
    (statistics, "fit_curve", "statistics"),
    (statistics, "significance_tests", "statistics"),
    (report, "write", "report + figures"),
  )

  def __init__(self):
    self.seconds = collections.defaultdict(float)
    self.captured = []  # (point_threshold args, day_verdicts args) per (station, mode) pair

  def _wrap(self, function, label):
    @functools.wraps(function)
    def timed(*args, **kwargs):
      name = label
      if label == "forecaster":
        name = f"forecaster {args[1]} (train + predict)"
      start = time.perf_counter()
      try:
        return function(*args, **kwargs)
      finally:
        self.seconds[name] += time.perf_counter() - start

    return timed

  @contextlib.contextmanager
  def active(self, capture: bool = False):
    saved = [(module, name, getattr(module, name)) for module, name, _ in self.TARGETS]
    threshold_fn = statistics.point_threshold
    try:
      for module, name, label in self.TARGETS:
        setattr(module, name, self._wrap(getattr(module, name), label))
      if capture:
        verdicts_fn = statistics.day_verdicts
        pending = []

        def capture_threshold(e, background, config):
          pending.append((e, background))
          return threshold_fn(e, background, config)

        def capture_verdicts(*args):
          self.captured.append((pending.pop(0), args))
          return verdicts_fn(*args)

        statistics.point_threshold = capture_threshold
        statistics.day_verdicts = capture_verdicts
      yield self
    finally:
      statistics.point_threshold = threshold_fn
      for module, name, function in saved:
        setattr(module, name, function)


def run_study(root, workdir, forecaster, threshold=None, *, rerun=False, capture=False):
  """One detect run; (report, stage seconds, captured residuals, wall seconds)."""
  config = study_config(root, forecaster, threshold)
  timer = StageTimer()
  start = time.perf_counter()
  with timer.active(capture):
    document = detect.train_and_evaluate(config, workdir, force_resume=rerun)
  wall = time.perf_counter() - start
  stages = dict(timer.seconds)
  stages["other"] = wall - sum(stages.values())
  return document, stages, timer.captured, wall


# ---------------------------------------------------------------------------------------------
# Scoring a report against the truth.
# ---------------------------------------------------------------------------------------------


def judged_days(document: dict) -> np.ndarray:
  """The judged day labels [background end, window end) of a report."""
  first = np.datetime64(document["window"]["judged_start"], "D")
  end = np.datetime64(document["window"]["end"], "s")
  last = (end - np.timedelta64(1, "s")).astype("datetime64[D]")
  return np.arange(first, last + 1)


def evaluated_days(days_report: dict, judged: np.ndarray) -> np.ndarray:
  """Judged days less the unknown and the storm-screened ones (the usable days)."""
  dropped = set(days_report["unknown_dates"])
  if days_report["screened_for_storms"]:
    dropped |= set(days_report["storm_dates"])
  kept = judged[~np.isin(judged.astype(str), sorted(dropped))]
  if len(kept) != days_report["usable"]:
    raise AssertionError(
      f"{len(kept)} evaluated days but the report counts {days_report['usable']}"
    )
  return kept


def pre_event_window(document: dict) -> np.ndarray:
  window = document["settings"]["significance"]["window_days"]
  event_day = np.datetime64(document["event"]["time"], "D")
  return np.arange(event_day - window, event_day)


def score_station(document: dict, name: str, truth: pre.Truth, station: Station) -> list[dict]:
  """One row per VMD mode: day scores, fit errors, p-values, residual RMS."""
  rows = []
  entry = document["stations"][name]
  judged = judged_days(document)
  window = pre_event_window(document)
  for mode, m in entry["modes"].items():
    evaluated = evaluated_days(m["days"], judged)
    scores = pre.day_scores(m["days"]["anomalous_dates"], truth.burst_days, evaluated)
    anomalous = np.asarray(m["days"]["anomalous_dates"], "datetime64[D]")
    in_window = anomalous[np.isin(anomalous, window)]
    row = {
      "station": name,
      "part": station.part,
      "kind": station.spec.kind,
      "amplitude": station.amplitude,
      "mode": mode,
      **scores._asdict(),
      "pre_event_anomalous": int(len(in_window)),
      "pre_event_false": int(np.sum(~np.isin(in_window, truth.burst_days))),
      "null_day_fa": scores.false_positives
      / max(1, scores.evaluated - len(np.intersect1d(truth.burst_days, evaluated))),
      "p_value": m["significance"].get("p_value"),
      "block_p_value": m["significance"].get("block_bootstrap_p_value"),
      "acceleration_p_value": (m["significance"].get("acceleration") or {}).get("p_value"),
      "residual_rmse": next(iter(m["table2"].values()))["rmse"],
      "band_noise_rms": truth.band_noise_rms,
      "reference_rms": truth.reference_rms,
      "fit_usable": bool(m["fit"].get("usable_result")),
    }
    if row["fit_usable"] and truth.x0_days is not None:
      row.update(pre.onset_errors(m["fit"]["x0"][0], m["fit"]["dx"][0], truth))
    rows.append(row)
  return rows


def score_report(document, truths, stations) -> list[dict]:
  by_name = {s.name: s for s in stations}
  rows = []
  for name in document["stations"]:
    rows += score_station(document, name, truths[name], by_name[name])
  return rows


def artefact_rows(document, truths, stations) -> list[dict]:
  """Part c: every injected artefact found (same kind, start within a sample), its days labelled
  and none of them counted; and artefacts found where none was injected, on every station."""
  rows = []
  for station in stations:
    entry = document["stations"][station.name]
    found = entry["quality"]["artefacts"]
    truth = truths[station.name]
    labelled = set(entry["quality"]["artefact_days"])
    step = np.timedelta64(station.spec.interval_seconds, "s")
    matched = []
    for injected in truth.artefacts:
      hit = [
        f
        for f in found
        if f["kind"] == injected.kind
        and abs(np.datetime64(f["start"], "s") - injected.start) <= step
      ]
      days = {
        str(d)
        for d in np.arange(
          injected.start.astype("datetime64[D]"), injected.end.astype("datetime64[D]") + 1
        )
      }
      counted = any(
        day in m["days"]["anomalous_dates"] for m in entry["modes"].values() for day in days
      )
      matched.append(bool(hit))
      if station.part == "c":
        rows.append(
          {
            "station": station.name,
            "kind": injected.kind,
            "start": str(injected.start),
            "found": bool(hit),
            "labelled": days <= labelled,
            "counted_as_anomaly": counted,
          }
        )
    spurious = len(found) - sum(matched)
    rows.append(
      {"station": station.name, "spurious_artefacts": int(max(0, spurious)), "part": station.part}
    )
  return rows


def storm_screening(document, truths) -> dict:
  """The share of the truth's storm days each geomagnetic station's report screens out."""
  shares = []
  for name, entry in document["stations"].items():
    truth_days = {str(d) for d in truths[name].storm_days}
    if not truth_days:
      continue
    screened = set(entry["modes"]["whole"]["days"]["storm_dates"])
    shares.append(len(truth_days & screened) / len(truth_days))
  return {"stations": len(shares), "min_share_screened": min(shares) if shares else None}


# ---------------------------------------------------------------------------------------------
# Aggregates.
# ---------------------------------------------------------------------------------------------


def summarise(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
  """Pooled day scores and the medians of the fit errors per group of `keys`."""
  groups = collections.defaultdict(list)
  for row in rows:
    groups[tuple(row[k] for k in keys)].append(row)
  out = []
  for key, members in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
    scores = pre.pooled(pre.DayScores(*(r[f] for f in pre.DayScores._fields)) for r in members)
    onset = [r["onset_error_days"] for r in members if "onset_error_days" in r]
    x0 = [r["x0_error_days"] for r in members if "x0_error_days" in r]
    p = [r["p_value"] for r in members if r["p_value"] is not None]
    out.append(
      {
        **dict(zip(keys, key, strict=True)),
        "stations": len(members),
        **scores._asdict(),
        "fits_usable": len(onset),
        "median_abs_onset_error_days": float(np.median(np.abs(onset))) if onset else None,
        "onset_within_3_days": sum(abs(e) <= 3 for e in onset),
        "median_abs_x0_error_days": float(np.median(np.abs(x0))) if x0 else None,
        "median_p_value": float(np.median(p)) if p else None,
        "p_below_0.01": sum(v < 0.01 for v in p),
        "pre_event_anomalous": int(sum(r["pre_event_anomalous"] for r in members)),
        "pre_event_false": int(sum(r["pre_event_false"] for r in members)),
        "median_residual_rmse": float(np.median([r["residual_rmse"] for r in members])),
      }
    )
  return out


def calibration_rows(rows: list[dict]) -> list[dict]:
  """Per mode and kind (and all kinds): the null p-values against the binomial band, and the
  null day false-alarm rate."""
  out = []
  for mode in ("whole", "causal"):
    for kind in (*KINDS, "all"):
      members = [r for r in rows if r["mode"] == mode and kind in ("all", r["kind"])]
      if not members:
        continue
      p = [r["p_value"] for r in members]
      result = pre.calibration(p)
      fp = sum(r["false_positives"] for r in members)
      days = sum(r["evaluated"] for r in members)
      block = pre.calibration([r["block_p_value"] for r in members])
      out.append(
        {
          "mode": mode,
          "kind": kind,
          **result,
          "block_fraction": block["fraction"],
          "block_inside": block["inside"],
          "null_day_false_alarm_rate": fp / max(days, 1),
          "median_residual_rmse": float(np.median([r["residual_rmse"] for r in members])),
          "median_band_noise_rms": float(np.median([r["band_noise_rms"] for r in members])),
        }
      )
  return out


def candidate_threshold(rate: float, points: int, samples_per_day: int) -> dict:
  """threshold.* of a candidate: quantile `rate`, a day anomalous from `points` points on."""
  fraction = (points - 0.5) / samples_per_day
  return {
    "mode": "quantile",
    "false_alarm_rate": rate,
    "geomagnetic_day_fraction": fraction,
    "strain_day_fraction": fraction,
  }


def choose_threshold(captured, document, modes, args) -> tuple[dict, list[dict]]:
  """The calibrated setting from the null records' captured residuals (module doc), and the
  null day false-alarm rate of every candidate (whole VMD, pooled)."""
  names = list(document["stations"])
  if len(captured) != len(names) * len(modes):
    raise AssertionError(f"captured {len(captured)} residual sets for {len(names)} x {modes}")
  base = config_base.detect_config("fast")
  # A self-check that the captured pairs are the report's: the run's own setting reproduced.
  for k, (_, args_k) in enumerate(captured):
    name, mode = names[k % len(names)], modes[k // len(names)]
    verdicts = statistics.day_verdicts(*args_k[:7], base)
    listed = document["stations"][name]["modes"][mode]["days"]["anomalous_dates"]
    if [str(d) for d in verdicts["days"][verdicts["anomalous"]]] != listed:
      raise AssertionError(f"captured residuals of {name}/{mode} do not reproduce the report")
  samples_per_day = captured[0][1][3]
  table = []
  for points in args.day_points:
    for rate in args.candidates:
      values = candidate_threshold(rate, points, samples_per_day)
      config = config_base.detect_config("fast")
      config.threshold.update(values)
      anomalous, usable = collections.Counter(), collections.Counter()
      for k, ((e, background), call) in enumerate(captured):
        if modes[k // len(names)] != "whole":
          continue
        threshold = statistics.point_threshold(e, background, config)
        verdicts = statistics.day_verdicts(call[0], call[1], threshold, *call[3:7], config)
        anomalous[call[4]] += int(np.sum(verdicts["anomalous"]))
        usable[call[4]] += int(np.sum(verdicts["usable"]))
      row = {"false_alarm_rate": rate, "day_points": points, "threshold": values}
      row["null_day_fa"] = sum(anomalous.values()) / max(sum(usable.values()), 1)
      row.update({f"null_day_fa_{k}": anomalous[k] / max(usable[k], 1) for k in usable})
      table.append(row)
  fitting = [row for row in table if row["null_day_fa"] <= args.target_day_fa]
  chosen = (
    max(fitting, key=lambda r: r["null_day_fa"])
    if fitting
    else min(table, key=lambda r: r["null_day_fa"])
  )
  return chosen["threshold"], table


# ---------------------------------------------------------------------------------------------
# The parts.
# ---------------------------------------------------------------------------------------------


def run_null_part(args, results):
  """Part d (also the reference amplitude and the calibrated threshold)."""
  count = args.null_stations if "d" in args.parts else args.reference_stations
  stations = null_stations(count, args.seed)
  root = args.workroot / "null"
  shutil.rmtree(root, ignore_errors=True)
  _, truths = write_study(root, stations)
  document, stages, captured, wall = run_study(root, root / "work", "pyraformer", capture=True)
  modes = document["settings"]["vmd_modes_run"]
  threshold, candidates = choose_threshold(captured, document, modes, args)
  default_rows = score_report(document, truths, stations)
  tuned, tuned_stages, _, tuned_wall = run_study(
    root, root / "work", "pyraformer", threshold, rerun=True
  )
  tuned_rows = score_report(tuned, truths, stations)
  references = {}
  for kind in args.kinds:
    rmse = [r["residual_rmse"] for r in default_rows if r["kind"] == kind and r["mode"] == "whole"]
    references[kind] = float(np.median(rmse))
  results["null"] = {
    "stations": len(stations),
    "calibration": {
      "defaults": calibration_rows(default_rows),
      "null-calibrated": calibration_rows(tuned_rows),
    },
    "threshold_candidates": candidates,
    "chosen_threshold": threshold,
    "reference_rms": references,
    "storm_screening": storm_screening(document, truths),
    "spurious_artefacts": sum(
      r["spurious_artefacts"] for r in artefact_rows(document, truths, stations)
    ),
    "rows": {"defaults": default_rows, "null-calibrated": tuned_rows},
    "seconds": {"defaults": wall, "null-calibrated rerun": tuned_wall},
    "stages": {"defaults": stages, "null-calibrated rerun": tuned_stages},
  }
  return references, threshold


def run_anomaly_parts(args, results, references, threshold):
  """Parts a, b and c in one Pyraformer study; part a again for each baseline."""
  stations = anomaly_stations(args, references)
  if not stations:
    return
  root = args.workroot / "anomalies"
  shutil.rmtree(root, ignore_errors=True)
  _, truths = write_study(root, stations)
  rows, runs = [], {}
  artefacts = []
  for forecaster in args.forecasters:
    chosen = stations if forecaster == "pyraformer" else [s for s in stations if s.part == "a"]
    if not chosen:
      continue
    study_root = root if forecaster == "pyraformer" else args.workroot / f"anomalies_{forecaster}"
    if forecaster != "pyraformer":
      shutil.rmtree(study_root, ignore_errors=True)
      write_study(study_root, chosen)
    workdir = study_root / "work"
    for setting, values in (("defaults", None), ("null-calibrated", threshold)):
      document, stages, _, wall = run_study(
        study_root, workdir, forecaster, values, rerun=values is not None
      )
      for row in score_report(document, truths, chosen):
        rows.append({**row, "forecaster": forecaster, "setting": setting})
      if forecaster == "pyraformer":
        artefacts.append({"setting": setting, "rows": artefact_rows(document, truths, chosen)})
        results.setdefault("storm_screening", storm_screening(document, truths))
      runs[f"{forecaster} / {setting}"] = {
        "seconds": wall,
        "stages": stages,
        "stations": len(chosen),
      }
  results["anomalies"] = {"rows": rows, "runs": runs, "artefacts": artefacts}


def run_speed_part(args, results):
  """5 stations x 120 days of 1-minute data with the fast preset: seconds per stage."""
  root = args.workroot / "speed"
  shutil.rmtree(root, ignore_errors=True)
  start = np.datetime64("2021-01-01", "D")
  window_start = start + SPEED_PRE_ROLL
  window_end = window_start + SPEED_DAYS
  event = str((window_end - 20).astype("datetime64[s]") + np.timedelta64(6, "h"))
  kinds = ("geomagnetic", "geomagnetic", "geomagnetic", "strain", "strain")
  entries = []
  for i, kind in enumerate(kinds):
    spec = spec_of(
      kind,
      4000 + i,
      args.seed,
      pre.Precursor(event),
      interval=60,
      start=str(start),
      days=SPEED_PRE_ROLL + SPEED_DAYS,
    )
    record = pre.synthetic_record(spec)
    entries.append(pre.write_station(root / "records", f"s{i}_{kind[:3]}", record, *position(i)))
  (root / "stations.json").write_text(json.dumps(entries, indent=1))
  kp_times, kp, dst_times, dst = pre.space_weather(
    STORM, str(start - 10), SPEED_PRE_ROLL + SPEED_DAYS + 20
  )
  pre.write_kp_csv(root / "kp.csv", kp_times, kp)
  pre.write_dst_csv(root / "dst.csv", dst_times, dst)
  c = config_base.detect_config("fast")
  c.stations_file = str(root / "stations.json")
  c.event.name, c.event.time = "synthetic event", event
  c.event.latitude, c.event.longitude, c.event.magnitude = EPICENTRE
  c.window.start, c.window.end = str(window_start), str(window_end)
  c.storms.kp_file, c.storms.dst_file = str(root / "kp.csv"), str(root / "dst.csv")
  c.forecaster.table2_baselines = tuple(args.speed_baselines)
  timer = StageTimer()
  begin = time.perf_counter()
  with timer.active():
    document = detect.train_and_evaluate(c, root / "work")
  wall = time.perf_counter() - begin
  stages = dict(timer.seconds)
  stages["other"] = wall - sum(stages.values())
  samples = {name: s["quality"]["samples"] for name, s in document["stations"].items()}
  results["speed"] = {
    "wall_seconds": wall,
    "stages": stages,
    "samples_per_station": samples,
    "table2_baselines": list(args.speed_baselines),
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
  }


# ---------------------------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------------------------


def _f(value, digits=3) -> str:
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return "-"
  if isinstance(value, float):
    return f"{value:.{digits}g}"
  return str(value)


def _row(*cells) -> str:
  return "| " + " | ".join(str(c) for c in cells) + " |"


def _rule(*align) -> str:
  return "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"


SCORE_HEADER = (
  "setting",
  "forecaster",
  "mode",
  "kind",
  "amplitude",
  "stations",
  "TP",
  "FP",
  "FN",
  "precision",
  "recall",
  "F1",
  "usable fits",
  "median abs onset err (d)",
  "onset within 3 d",
  "median abs x0 err (d)",
  "median p",
  "p < 0.01",
  "pre-event anomalous (false)",
  "residual RMS",
)


def score_table(rows: list[dict], title: str) -> list[str]:
  """A Markdown table of pooled scores per setting, forecaster, mode, kind and amplitude."""
  out = ["", f"## {title}", "", _row(*SCORE_HEADER), _rule(*"llll" + "r" * 16)]
  for r in summarise(rows, ("setting", "forecaster", "mode", "kind", "amplitude")):
    out.append(
      _row(
        r["setting"],
        r["forecaster"],
        r["mode"],
        r["kind"],
        f"{r['amplitude']:g}",
        r["stations"],
        r["true_positives"],
        r["false_positives"],
        r["false_negatives"],
        _f(r["precision"]),
        _f(r["recall"]),
        _f(r["f1"]),
        r["fits_usable"],
        _f(r["median_abs_onset_error_days"]),
        r["onset_within_3_days"],
        _f(r["median_abs_x0_error_days"]),
        _f(r["median_p_value"]),
        r["p_below_0.01"],
        f"{r['pre_event_anomalous']} ({r['pre_event_false']})",
        _f(r["median_residual_rmse"]),
      )
    )
  return out


def null_tables(null: dict) -> list[str]:
  """The reference, the threshold candidates and the p-value calibration of part d."""
  refs = ", ".join(f"{k} {v:.3g}" for k, v in null["reference_rms"].items())
  lines = [
    "## Reference amplitude and threshold",
    "",
    "Reference (median whole-VMD Pyraformer residual RMS on the held-back background of the "
    f"{null['stations']} null records): {refs} (record units).",
    f"Null-calibrated threshold: {null['chosen_threshold']}.",
    "",
    _row("quantile false_alarm_rate", "points a day needs", "null day FA", "geomagnetic", "strain"),
    _rule(*"rrrrr"),
  ]
  for row in null["threshold_candidates"]:
    lines.append(
      _row(
        f"{row['false_alarm_rate']:g}",
        row["day_points"],
        _f(row["null_day_fa"]),
        _f(row.get("null_day_fa_geomagnetic")),
        _f(row.get("null_day_fa_strain")),
      )
    )
  lines += [
    "",
    "## Part d: null records, p-value calibration",
    "",
    _row(
      "setting",
      "mode",
      "kind",
      "n",
      "p < 0.05",
      "fraction",
      "95% band",
      "inside",
      "block-bootstrap fraction",
      "null day FA",
      "residual RMS",
      "band-noise RMS",
    ),
    _rule(*"lllrrrllrrrr"),
  ]
  for setting, rows in null["calibration"].items():
    for r in rows:
      lines.append(
        _row(
          setting,
          r["mode"],
          r["kind"],
          r["n"],
          r["below"],
          _f(r["fraction"]),
          f"{_f(r['band'][0])}-{_f(r['band'][1])}",
          "yes" if r["inside"] else "NO",
          _f(r["block_fraction"]),
          _f(r["null_day_false_alarm_rate"]),
          _f(r["median_residual_rmse"]),
          _f(r["median_band_noise_rms"]),
        )
      )
  lines += [
    "",
    f"Storm screening (truth storm days screened, worst station): {null['storm_screening']}; "
    f"artefacts found on null records (none injected): {null['spurious_artefacts']}.",
    "",
  ]
  return lines


def artefact_lines(anomalies: dict) -> list[str]:
  lines = []
  for block in anomalies["artefacts"]:
    injected = [r for r in block["rows"] if "found" in r]
    if injected:
      found = sum(r["found"] for r in injected)
      labelled = sum(r["labelled"] for r in injected)
      counted = sum(r["counted_as_anomaly"] for r in injected)
      spurious = sum(r.get("spurious_artefacts", 0) for r in block["rows"])
      lines.append(
        f"\nArtefacts ({block['setting']}): {len(injected)} injected, {found} found, "
        f"{labelled} labelled, {counted} counted as anomalous days; {spurious} found where none "
        "was injected."
      )
  return lines


def run_lines(results: dict) -> list[str]:
  lines = ["", "## Runs", "", _row("run", "stations", "wall (s)", "stages (s)"), _rule(*"lrrl")]
  stages_text = lambda stages: ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
  for name, run in results.get("anomalies", {}).get("runs", {}).items():
    lines.append(_row(name, run["stations"], f"{run['seconds']:.0f}", stages_text(run["stages"])))
  null = results.get("null")
  if null:
    for setting, seconds in null["seconds"].items():
      stages = stages_text(null["stages"][setting])
      lines.append(_row(f"null / {setting}", null["stations"], f"{seconds:.0f}", stages))
  return lines


def speed_lines(speed: dict) -> list[str]:
  lines = [
    "",
    "## Speed: 5 stations x 120 days of 1-minute data, fast preset",
    "",
    f"Samples per station in the window: {sorted(set(speed['samples_per_station'].values()))}; "
    f"Table 2 baselines trained: {speed['table2_baselines']}; "
    f"peak RSS {speed['peak_rss_mib']:.0f} MiB.",
    "",
    _row("stage", "wall (s)"),
    _rule(*"lr"),
  ]
  for stage, seconds in speed["stages"].items():
    lines.append(_row(stage, f"{seconds:.0f}"))
  lines.append(_row("**total**", f"**{speed['wall_seconds']:.0f}**"))
  return lines


def inflation_rows(results: dict) -> list[dict]:
  """Anomalous days in the pre-event window against the rest, whole vs causal VMD (Pyraformer):
  the look-ahead of whole-window VMD shows as more (false) anomalies next to the event."""
  sources = []
  for setting, rows in results.get("null", {}).get("rows", {}).items():
    sources += [{**r, "setting": setting} for r in rows]
  sources += [
    r
    for r in results.get("anomalies", {}).get("rows", [])
    if r["forecaster"] == "pyraformer" and r["part"] in ("a", "b")
  ]
  groups = collections.defaultdict(list)
  for r in sources:
    groups[(r["setting"], r["part"], r["kind"], r["mode"])].append(r)
  out = []
  for (setting, part, kind, mode), members in sorted(groups.items()):
    window = 30 * len(members)
    flagged = sum(r["true_positives"] + r["false_positives"] for r in members)
    inside = sum(r["pre_event_anomalous"] for r in members)
    outside_days = sum(r["evaluated"] for r in members) - window
    out.append(
      {
        "setting": setting,
        "part": part,
        "kind": kind,
        "mode": mode,
        "stations": len(members),
        "pre_event_anomalous": inside,
        "pre_event_false": sum(r["pre_event_false"] for r in members),
        "pre_event_rate": inside / window,
        "rate_elsewhere": (flagged - inside) / max(outside_days, 1),
      }
    )
  return out


def inflation_lines(results: dict) -> list[str]:
  lines = [
    "",
    "## Whole-window against causal VMD next to the event (Pyraformer; parts a, b, d)",
    "",
    _row(
      "setting",
      "part",
      "kind",
      "mode",
      "stations",
      "pre-event anomalous",
      "of them false",
      "pre-event rate / day",
      "rate elsewhere / day",
    ),
    _rule(*"llllrrrrr"),
  ]
  for r in inflation_rows(results):
    lines.append(
      _row(
        r["setting"],
        r["part"],
        r["kind"],
        r["mode"],
        r["stations"],
        r["pre_event_anomalous"],
        r["pre_event_false"],
        _f(r["pre_event_rate"]),
        _f(r["rate_elsewhere"]),
      )
    )
  return lines


def markdown(results: dict) -> str:
  """The tables of the benchmark."""
  meta = results["meta"]
  lines = [
    "# precursor_bench: method 1 on synthetic ground truth",
    "",
    f"{meta['date']}, {meta['device']}, commit {meta['commit']}; command `{meta['command']}`.",
    "",
  ]
  if results.get("null"):
    lines += null_tables(results["null"])
  anomalies = results.get("anomalies")
  if anomalies:
    rows = anomalies["rows"]
    lines += score_table([r for r in rows if r["part"] == "a"], "Part a: reference amplitude")
    lines += score_table([r for r in rows if r["part"] == "b"], "Part b: F1 against amplitude")
    lines += score_table(
      [r for r in rows if r["part"] == "c"], "Part c: artefacts beside anomalies"
    )
    lines += artefact_lines(anomalies)
  if results.get("anomalies") or results.get("null"):
    lines += inflation_lines(results)
    lines += run_lines(results)
  if results.get("speed"):
    lines += speed_lines(results["speed"])
  seconds = ", ".join(f"{k} {v:.0f}" for k, v in meta["part_seconds"].items())
  lines += ["", f"Part wall times (s): {seconds}"]
  return "\n".join(lines) + "\n"


def describe_device() -> str:
  devices = jax.devices()
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  return f"{len(devices)} x {devices[0].platform} ({cpu}, {os.cpu_count()} cores)"


def commit() -> str:
  try:
    return subprocess.run(
      ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--parts", default="a,b,c,d", help="comma list of a, b, c, d, speed")
  parser.add_argument("--quick", action="store_true", help="a few stations, Pyraformer only")
  parser.add_argument("--kinds", default="geomagnetic,strain")
  parser.add_argument("--forecasters", default="pyraformer," + ",".join(BASELINES))
  parser.add_argument("--stations", type=int, default=3, help="part a: stations per kind")
  parser.add_argument(
    "--curve-stations", type=int, default=2, help="part b: per kind and amplitude"
  )
  parser.add_argument("--amplitudes", default=",".join(f"{a:g}" for a in AMPLITUDES))
  parser.add_argument("--artefact-stations", type=int, default=1, help="part c: per kind")
  parser.add_argument("--null-stations", type=int, default=100, help="part d, both kinds")
  parser.add_argument("--reference-stations", type=int, default=4, help="nulls run without d")
  parser.add_argument("--candidates", default=",".join(f"{c:g}" for c in CANDIDATES))
  parser.add_argument("--day-points", default="1,2,3", help="candidate points a day needs")
  parser.add_argument("--target-day-fa", type=float, default=0.01)
  parser.add_argument("--speed-baselines", default="lstm,gru", help="Table 2 baselines of speed")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--workroot", default="/tmp/precursor_bench")
  parser.add_argument("--out", default=None, help="directory of the JSON and Markdown (workroot)")
  parser.add_argument("--render", default=None, help="only re-render the tables of this JSON")
  args = parser.parse_args(argv)
  if args.quick:
    args.stations, args.curve_stations, args.artefact_stations = 1, 1, 1
    args.null_stations, args.reference_stations = 8, 4
    args.forecasters = "pyraformer"
    args.amplitudes = "0.5,1,4"
  args.parts = set(args.parts.split(","))
  unknown = args.parts - {"a", "b", "c", "d", "speed"}
  if unknown:
    parser.error(f"unknown part(s) {sorted(unknown)}; the parts are a, b, c, d, speed")
  args.kinds = tuple(args.kinds.split(","))
  args.forecasters = tuple(args.forecasters.split(","))
  args.amplitudes = tuple(float(a) for a in args.amplitudes.split(","))
  args.candidates = tuple(float(c) for c in args.candidates.split(","))
  args.day_points = tuple(int(p) for p in args.day_points.split(","))
  args.speed_baselines = tuple(b for b in args.speed_baselines.split(",") if b)
  args.workroot = pathlib.Path(args.workroot)
  args.out = pathlib.Path(args.out) if args.out else args.workroot
  return args


def main(argv=None) -> dict:
  args = parse_args(argv)
  if args.render:
    results = json.loads(pathlib.Path(args.render).read_text())
    print(markdown(results))
    return results
  command = "python benchmarks/precursor_bench.py " + " ".join(
    sys.argv[1:] if argv is None else argv
  )
  results = {
    "meta": {
      "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
      "device": describe_device(),
      "commit": commit(),
      "command": command.strip(),
      "part_seconds": {},
    }
  }
  args.workroot.mkdir(parents=True, exist_ok=True)
  timing = results["meta"]["part_seconds"]
  if args.parts & {"a", "b", "c", "d"}:
    start = time.perf_counter()
    references, threshold = run_null_part(args, results)
    timing["d (null records, reference, threshold)"] = time.perf_counter() - start
    start = time.perf_counter()
    run_anomaly_parts(args, results, references, threshold)
    timing["a, b, c (anomalies, all forecasters)"] = time.perf_counter() - start
  if "speed" in args.parts:
    start = time.perf_counter()
    run_speed_part(args, results)
    timing["speed"] = time.perf_counter() - start
  text = markdown(results)
  args.out.mkdir(parents=True, exist_ok=True)
  (args.out / "precursor_bench.json").write_text(json.dumps(results, indent=1, default=str))
  (args.out / "precursor_bench.md").write_text(text)
  print(text)
  return results


if __name__ == "__main__":
  main()

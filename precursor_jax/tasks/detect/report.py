"""The detect report: report.json (a documented schema), report.md (the seed paper's tables), figures.

report.json, schema "precursor_jax.detect/1":

  event        {name, time (ISO UTC), latitude, longitude, magnitude, dobrovolsky_radius_km, source}
  window       {start, end, background_end, judged_start}: the forecaster learns on
               [start, background_end); days from background_end on are judged
  settings     {vmd_modes_run, vmd, threshold, storms, significance, forecaster, quality}: the config
               subtrees that decide the numbers; settings_tried: how many settings were tried
  stations     {name: station}, each
    station        {name, kind, format, path, component, latitude, longitude, utc_offset_hours}
    distance_km, inside_radius
    quality        {samples, real_fraction, gaps: [{start, end, samples, filled}], artefacts: [{kind,
                   start, end, size}], artefact_days: [dates], self_consistency: {months, k} or None}
    forecaster     {name, history_samples, horizon_samples, train_stride_samples, how, workdir,
                   trained_on, training_windows, held_back_mse_standardised (both of the stack the
                   station is in)}
    modes          {"whole" | "causal": mode}, each
      vmd            {kept_modes, centre_periods_hours, kept_centre_periods_hours, bands: [{period_hours,
                     mode, mode_period_hours, kept}], windows, iterations_median}
      threshold      {mode, k, point_threshold, day_threshold_points, samples_per_day}
      days           {judged, usable, anomalous, unknown, artefact, storm, anomalous_dates: [...],
                     storm_dates, unknown_dates, screened_for_storms}
      fit            {fitted, span, A1/A2/x0/dx: [value, printed error], reduced_chi2, r2, adj_r2,
                     converged, x0_inside_span, rise_resolved, usable_result, x0_date, onset_date,
                     bootstrap_spread,
                     span_sensitivity: [{span_start, x0_date, converged, x0_inside_span}]}
      significance   {window_days, window, observed, usable_days, p_value (circular shifts),
                     block_bootstrap_p_value, acceleration: {observed_rate_per_day, p_value}, ...}
      table2         {forecaster: {mse, mae, rmse, smape}}: held-back background, signal units
    causal_check   (both modes run) {pre_event_anomalous_days, p_values, x0_dates,
                   anomalies_survive, fit_survives}
  lags         [{strain, geomagnetic, common_days, cross_correlation_lag_days, cross_correlation,
               x0_difference_days, x0_difference_printed_error, x0_difference_bootstrap_spread}]
  skipped      [{name, reason}]
  figures      [file names]

Dates are ISO strings; a number that could not be computed is null. The report is written into
<workdir>/report.partial/, which replaces <workdir>/report/ in one rename only when every file is
written; report.json and report.md are then copied to the workdir's top level (report.json last).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from precursor_jax.tasks import outputs
from precursor_jax.training.writer import to_python

SCHEMA = "precursor_jax.detect/1"
SURVIVAL_DAYS = 7.0  # a causal x0 within this many days of the whole-window x0 "survives"


def _dates(days, mask) -> list[str]:
  return [str(d) for d in np.asarray(days)[np.asarray(mask, bool)]]


def fit_verdict(fit: dict) -> str:
  """ "usable", or why the fit is not a result."""
  if fit["usable_result"]:
    return "usable"
  if not fit["converged"]:
    return "NOT CONVERGED"
  if not fit["x0_inside_span"]:
    return "x0 OUTSIDE SPAN"
  return "RISE NOT RESOLVED (wider than the span: a constant rate)"


def day_summary(verdicts: dict) -> dict:
  return {
    "judged": int(len(verdicts["days"])),
    "usable": int(np.sum(verdicts["usable"])),
    "anomalous": int(np.sum(verdicts["anomalous"])),
    "unknown": int(np.sum(verdicts["unknown"])),
    "artefact": int(np.sum(verdicts["artefact"])),
    "storm": int(np.sum(verdicts["storm"])),
    "screened_for_storms": bool(verdicts["screened"]),
    "anomalous_dates": _dates(verdicts["days"], verdicts["anomalous"]),
    "storm_dates": _dates(verdicts["days"], verdicts["storm"]),
    "unknown_dates": _dates(verdicts["days"], verdicts["unknown"]),
    "artefact_dates": _dates(verdicts["days"], verdicts["artefact"]),
  }


def causal_check(modes: dict) -> dict | None:
  """Whether the whole-window findings survive the causal decomposition (module doc)."""
  if "whole" not in modes or "causal" not in modes:
    return None
  whole, causal = modes["whole"], modes["causal"]
  p = [m["significance"].get("p_value") for m in (whole, causal)]
  observed = [m["significance"].get("observed") for m in (whole, causal)]
  x0 = [
    m["fit"].get("x0", [None])[0] if m["fit"].get("usable_result") else None
    for m in (whole, causal)
  ]
  anomalies = None if p[0] is None or p[1] is None or p[0] >= 0.05 else bool(p[1] < 0.05)
  fit = None if x0[0] is None else bool(x0[1] is not None and abs(x0[1] - x0[0]) <= SURVIVAL_DAYS)
  return {
    "pre_event_anomalous_days": {"whole": observed[0], "causal": observed[1]},
    "p_values": {"whole": p[0], "causal": p[1]},
    "x0_dates": {"whole": whole["fit"].get("x0_date"), "causal": causal["fit"].get("x0_date")},
    "anomalies_survive": anomalies,
    "fit_survives": fit,
    "rule": "anomalies survive when the whole-window p < 0.05 and the causal p < 0.05 too; the fit "
    f"survives when the causal fit is usable and its x0 is within {SURVIVAL_DAYS:g} days",
  }


def build(
  config, study, modes, prepared, records, geometry, results, lags, skipped, storm_days
) -> dict:
  """The report.json document (module doc)."""
  stations = {}
  for name, result in results.items():
    p, record = prepared[name], records[name]
    window = p.times >= p.start
    station_modes = {}
    for mode, m in result["modes"].items():
      station_modes[mode] = {
        "vmd": m["vmd"],
        "threshold": m["threshold"],
        "days": day_summary(m["verdicts"]),
        "fit": {k: v for k, v in m["fit"].items() if k != "curve"},
        "significance": m["significance"],
        "table2": m["table2"],
      }
    stations[name] = {
      "station": record.station.describe()
      | {"latitude": record.latitude, "longitude": record.longitude},
      **geometry[name],
      "window": result["window"],
      "quality": {
        "samples": int(window.sum()),
        "interval_seconds": p.interval_seconds,
        "real_fraction": float(p.real[window].mean()),
        "gaps": p.gaps,
        "artefacts": p.artefacts,
        "artefact_days": sorted(str(d) for d in p.artefact_days),
        "self_consistency": record.self_consistency,
      },
      "forecaster": result["forecaster"],
      "modes": station_modes,
      "causal_check": causal_check(station_modes),
    }
  settings = {
    "vmd_modes_run": list(modes),
    **{
      name: config[name].to_dict()
      for name in ("vmd", "threshold", "storms", "significance", "quality", "fit")
    },
    "forecaster": {k: v for k, v in config.forecaster.to_dict().items() if not isinstance(v, dict)},
    "settings_tried": config.significance.settings_tried,
    "storm_record": None
    if storm_days is None
    else [str(storm_days.days[0]), str(storm_days.days[-1])],
  }
  return to_python(
    {
      "schema": SCHEMA,
      "event": study.event,
      "window": {
        "start": str(study.start),
        "end": str(study.end),
        "background_end": str(study.background_end),
        "judged_start": str(study.background_end),
      },
      "settings": settings,
      "stations": stations,
      "lags": lags,
      "skipped": skipped,
    }
  )


def _fmt(value, digits=4) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    if not np.isfinite(value):
      return "-"
    return f"{value:.{digits}g}"
  return str(value)


def _pm(pair) -> str:
  return "-" if not pair else f"{_fmt(pair[0])} ± {_fmt(pair[1], 2)}"


def markdown(document: dict) -> str:
  """report.md: the event, the paper's Table 1, Table 2 and Fig. 12 layouts, tests, checks."""
  event = document["event"]
  lines = [
    f"# Pre-event anomalies: {event.get('name') or 'event'} M{event['magnitude']:g}, {event['time']} UTC",
    "",
    f"Epicentre {event['latitude']:.3f} N, {event['longitude']:.3f} E; Dobrovolsky radius "
    f"{event['dobrovolsky_radius_km']:.0f} km (D = 10^(0.43 M)). Window {document['window']['start']} .. "
    f"{document['window']['end']}; the forecasters learn on the background before "
    f"{document['window']['background_end']}, later days are judged. VMD modes run: "
    f"{', '.join(document['settings']['vmd_modes_run'])}. Settings tried before these: "
    f"{document['settings']['settings_tried']}.",
    "",
    "## Table 1: stations",
    "",
    "| station | kind | longitude | latitude | distance (km) | sampling | inside radius |",
    "|---|---|---:|---:|---:|---|---|",
  ]
  for name, s in document["stations"].items():
    st = s["station"]
    lines.append(
      f"| {name} | {st['kind']} | {st['longitude']:.3f} | {st['latitude']:.3f} | "
      f"{s['distance_km']:.2f} | {s['quality']['interval_seconds']} s | {'yes' if s['inside_radius'] else 'NO'} |"
    )
  lines += [
    "",
    "## Table 2: forecasters on held-back background data (signal units)",
    "",
    "| station | VMD | model | MSE | MAE | RMSE | sMAPE % |",
    "|---|---|---|---:|---:|---:|---:|",
  ]
  for name, s in document["stations"].items():
    for mode, m in s["modes"].items():
      for model, metric in m["table2"].items():
        lines.append(
          f"| {name} | {mode} | {model} | {_fmt(metric['mse'])} | {_fmt(metric['mae'])} | "
          f"{_fmt(metric['rmse'])} | {_fmt(metric['smape'])} |"
        )
  lines += [
    "",
    "## Anomalous days",
    "",
    "| station | VMD | kept modes (centre periods, h) | point threshold | day threshold (points) | judged | usable | anomalous | unknown | artefact | storm |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ]
  for name, s in document["stations"].items():
    for mode, m in s["modes"].items():
      v, d, t = m["vmd"], m["days"], m["threshold"]
      periods = ", ".join(_fmt(p, 3) for p in v.get("kept_centre_periods_hours", []))
      lines.append(
        f"| {name} | {mode} | {v.get('kept_modes')} ({periods}) | {_fmt(t['point_threshold'])} | "
        f"{_fmt(t['day_threshold_points'], 3)} | {d['judged']} | {d['usable']} | {d['anomalous']} | "
        f"{d['unknown']} | {d['artefact']} | {d['storm']} |"
      )
      for band in v.get("bands", []):
        if not band["kept"]:
          lines.append(
            f"|  | | the {band['period_hours']:g} h line falls in mode {band['mode']} "
            f"({_fmt(band['mode_period_hours'], 3)} h), not kept | | | | | | | | |"
          )
  lines += [
    "",
    "## Fig. 12 table: Boltzmann fits of the cumulative anomalous days",
    "",
    "x in days relative to the event; printed errors as Origin prints them (about 10x too small for a",
    "running count), bootstrap spreads beside them. A fit that did not converge, whose x0 lies",
    "outside the fitted span, or whose rise x0 +- 2 dx is longer than the span is not a result.",
    "",
    "| station | VMD | span | A1 | A2 | x0 | dx | red. chi2 | R^2 | adj. R^2 | x0 date | onset | bootstrap x0 spread | result |",
    "|---|---|---|---|---|---|---|---:|---:|---:|---|---|---:|---|",
  ]
  for name, s in document["stations"].items():
    for mode, m in s["modes"].items():
      f = m["fit"]
      if not f.get("fitted") or "A1" not in f:
        lines.append(
          f"| {name} | {mode} | - | | | | | | | | | | | not fitted: {f.get('reason', '')} |"
        )
        continue
      verdict = fit_verdict(f)
      spread = f.get("bootstrap_spread", {}).get("x0")
      lines.append(
        f"| {name} | {mode} | {f['span'][0]} .. {f['span'][1]} | {_pm(f['A1'])} | {_pm(f['A2'])} | "
        f"{_pm(f['x0'])} | {_pm(f['dx'])} | {_fmt(f['reduced_chi2'])} | {_fmt(f['r2'])} | "
        f"{_fmt(f['adj_r2'])} | {f['x0_date']} | {f['onset_date']} | {_fmt(spread)} | {verdict} |"
      )
      for shift in f.get("span_sensitivity", []):
        lines.append(
          f"|  | span from {shift['span_start']} | | | | | | | | | {shift['x0_date']} | | | "
          f"{'converged' if shift['converged'] else 'not converged'} |"
        )
  lines += [
    "",
    "## Significance (the paper gives none)",
    "",
    "Pre-event window: the days before the event's day. p: the count against every circular shift of",
    "the day labels; block: a moving-block bootstrap; acceleration: surrogate labels refitted.",
    "",
    "| station | VMD | window | anomalous / usable days | p (circular) | p (block) | p (acceleration) |",
    "|---|---|---|---:|---:|---:|---:|",
  ]
  for name, s in document["stations"].items():
    for mode, m in s["modes"].items():
      g = m["significance"]
      if g.get("p_value") is None:
        lines.append(f"| {name} | {mode} | - | - | - | - | - ({g.get('reason', '')}) |")
        continue
      lines.append(
        f"| {name} | {mode} | {g['window'][0]} .. {g['window'][1]} | {g['observed']} / {g['usable_days']} | "
        f"{_fmt(g['p_value'], 3)} | {_fmt(g['block_bootstrap_p_value'], 3)} | "
        f"{_fmt(g['acceleration'].get('p_value'), 3)} |"
      )
  checks = [(n, s["causal_check"]) for n, s in document["stations"].items() if s["causal_check"]]
  if checks:
    lines += [
      "",
      "## Does it survive the causal VMD?",
      "",
      "| station | pre-event anomalous days (whole / causal) | p (whole / causal) | x0 (whole / causal) | anomalies survive | fit survives |",
      "|---|---|---|---|---|---|",
    ]
    for name, c in checks:
      lines.append(
        f"| {name} | {c['pre_event_anomalous_days']['whole']} / {c['pre_event_anomalous_days']['causal']} | "
        f"{_fmt(c['p_values']['whole'], 3)} / {_fmt(c['p_values']['causal'], 3)} | "
        f"{c['x0_dates']['whole']} / {c['x0_dates']['causal']} | {_fmt(c['anomalies_survive'])} | "
        f"{_fmt(c['fit_survives'])} |"
      )
    lines += ["", checks[0][1]["rule"] + "."]
  if document["lags"]:
    lines += [
      "",
      "## Strain vs geomagnetic lag (positive = strain leads)",
      "",
      "| strain | geomagnetic | cross-correlation lag (days) | r | x0 difference (days) | printed error | bootstrap spread |",
      "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in document["lags"]:
      lines.append(
        f"| {row['strain']} | {row['geomagnetic']} | {_fmt(row.get('cross_correlation_lag_days'))} | "
        f"{_fmt(row.get('cross_correlation'), 3)} | {_fmt(row.get('x0_difference_days'))} | "
        f"{_fmt(row.get('x0_difference_printed_error'), 2)} | {_fmt(row.get('x0_difference_bootstrap_spread'), 2)} |"
      )
  lines += ["", "## Data quality", ""]
  for name, s in document["stations"].items():
    q = s["quality"]
    long_gaps = [g for g in q["gaps"] if not g["filled"]]
    lines.append(
      f"- {name}: {q['samples']} samples, {100 * q['real_fraction']:.1f}% real; {len(q['gaps'])} gap(s) "
      f"({len(long_gaps)} longer than max_gap: their days are unknown); {len(q['artefacts'])} artefact(s)"
      + (
        f", e.g. {', '.join(a['kind'] + ' at ' + a['start'] for a in q['artefacts'][:5])}"
        if q["artefacts"]
        else ""
      )
      + "."
    )
    consistency = q.get("self_consistency")
    if consistency:
      k = [v for v in consistency["k"] if v is not None]
      low = [
        m
        for m, v in zip(consistency["months"], consistency["k"], strict=True)
        if v is not None and v < 0.95
      ]
      lines.append(
        f"  four-gauge self-consistency k per month: median {np.median(k):.3f}; months with k < 0.95: "
        f"{', '.join(low) if low else 'none'}."
      )
  if document["skipped"]:
    lines += ["", "## Skipped stations", ""]
    lines += [f"- {s['name']}: {s['reason']}" for s in document["skipped"]]
  if document.get("figures"):
    lines += ["", "## Figures", ""] + [f"- [{f}]({f})" for f in document["figures"]]
  return "\n".join(lines) + "\n"


def write(workdir: pathlib.Path, document: dict, draw: Callable[[pathlib.Path], list[str]]) -> None:
  """Writes the whole report or nothing (module doc; tasks/outputs.py)."""

  def files(staging: pathlib.Path) -> None:
    document["figures"] = draw(staging)
    (staging / "report.md").write_text(markdown(document))
    text = json.dumps(finite(document), indent=2, allow_nan=False, default=_json_default)
    (staging / "report.json").write_text(text)

  outputs.publish(workdir, "report", files, ("report.md", "report.json"))


def finite(value: Any) -> Any:
  """NaN and infinities as null (JSON has no NaN), recursively."""
  if isinstance(value, float):
    return value if np.isfinite(value) else None
  if isinstance(value, dict):
    return {k: finite(v) for k, v in value.items()}
  if isinstance(value, list | tuple):
    return [finite(v) for v in value]
  return value


def _json_default(value: Any):
  if isinstance(value, np.datetime64):
    return str(value)
  raise TypeError(f"cannot write {type(value).__name__} to report.json")

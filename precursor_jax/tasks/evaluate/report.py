"""The evaluation's outputs: molchan.json / .csv / .png, report.md, alarms.csv, targets.csep.csv.

molchan.json, schema "precursor_jax.evaluate/1":
  area_skill_score, p_value (random alarms with the same alarm fraction, circular shifts),
  p_value_random_guess (Irwin-Hall: events uniform in time), p_value_shifted_catalog (the catalogue
  moved by whole years), ass_random_guess_bounds, n_targets, n_excluded_targets (on days whose
  alarm state is unknown), observed_days, probability_gain {alarm fraction: G}, trajectory {tau, nu, threshold} and
  bounds {alpha, tau, nu_lower, nu_upper}: of the POOLED evaluation (all stations end to end; for
  one station, that station's); stations {name: the same per station};
  targets [{time, latitude, longitude, depth_km, magnitude, place, distance_km {station: km},
  in_range {station: bool}, status {station: scored | out of range | alarm state unknown}}]: every
  selected target, and why it was or was not scored at each station; dependents_removed (declustering);
  alarm {function, window_days, duration_days, min_usable_fraction};
  training [{segment, station, trained_on, calibrated_on, judged, forecaster_workdir}]: which days
  trained, calibrated and judged what; skipped; timings_seconds.

pyCSEP: its gridded forecasts and Molchan tools do not fit a per-station daily alarm, and it has no
stable temporal-alarm format, so the mapping is written out instead. targets.csep.csv is a catalogue
in pyCSEP's CSEP ASCII format (`lon,lat,mag,time_string,depth,catalog_id,event_id`, read by
`csep.load_catalog(path, type='csep-csv')`); alarms.csv has one row per station and day
(`date,station,alarm_function,scored,usable,anomalous`; scored: the alarm state was decided,
usable: the day itself had a verdict): a station is one spatial cell and a day one time bin, an alarm of duration L triggered at level h covers the L days after each day whose
alarm_function >= h, which is the alarm sequence `anomaly/molchan.alarm_days` computes.
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np

from precursor_jax.tasks import outputs
from precursor_jax.tasks.detect.report import finite
from precursor_jax.training.writer import to_python

SCHEMA = "precursor_jax.evaluate/1"


def build(
  config, names, records, targets, segments, training, per_station, overall, skipped, days, status
) -> dict:
  events = []
  for i in range(len(targets.events)):
    e = targets.events
    events.append(
      {
        "time": str(e.time[i].astype("datetime64[s]")),
        "latitude": float(e.latitude[i]),
        "longitude": float(e.longitude[i]),
        "depth_km": float(e.depth_km[i]),
        "magnitude": float(e.magnitude[i]),
        "magnitude_type": str(e.magnitude_type[i]),
        "place": str(e.place[i]),
        "distance_km": {n: float(targets.distance_km[i, s]) for s, n in enumerate(names)},
        "in_range": {n: bool(targets.in_range[i, s]) for s, n in enumerate(names)},
        "status": {n: str(status[s, i]) for s, n in enumerate(names)},
        "radius_km": float(targets.radius_km[i]),
      }
    )
  return to_python(
    {
      "schema": SCHEMA,
      **overall,
      "stations": per_station,
      "window": {"start": str(days[0]), "end": str(days[-1])},
      "targets": events,
      "target_selection": {
        "min_magnitude": config.targets.min_magnitude,
        "max_distance_km": config.targets.max_distance_km or "Dobrovolsky radius 10^(0.43 M) km",
        "min_depth_km": config.targets.min_depth_km,
        "max_depth_km": config.targets.max_depth_km,
        "decluster": config.targets.decluster,
        "dependents_removed": int(targets.n_dependent),
        "catalog": {"path": config.catalog.path, "format": config.catalog.format},
      },
      "alarm": config.alarm.to_dict(),
      "segments": [
        {"train_start": str(s.train_start), "start": str(s.start), "end": str(s.end)}
        for s in segments
      ],
      "training": training,
      "station_positions": {r.station.name: [r.latitude, r.longitude] for r in records},
      "skipped": skipped,
      "figures_enabled": bool(config.figures),
    }
  )


def _fmt(value, digits=3) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    return f"{value:.{digits}g}" if np.isfinite(value) else "-"
  return str(value)


def markdown(document: dict) -> str:
  alarm, selection = document["alarm"], document["target_selection"]
  lines = [
    f"# Alarm-based evaluation, {document['window']['start']} .. {document['window']['end']}",
    "",
    f"Alarm function: {alarm['function']} over {alarm['window_days']} days (unknown below "
    f"{100 * alarm['min_usable_fraction']:.0f}% usable days); an alarm covers the "
    f"{alarm['duration_days']} days after its trigger day. Targets: magnitude >= "
    f"{selection['min_magnitude']}, distance within {selection['max_distance_km']}, declustered "
    f"({selection['decluster']}, {selection['dependents_removed']} dependent events removed), from "
    f"{selection['catalog']['path']}.",
    "",
    "## Skill",
    "",
    "| | targets | ASS | random-guess 95% band | p (random alarms) | p (random guess) | p (shifted catalogue) | gain "
    + " / ".join(f"tau={t}" for t in alarm["gain_at"])
    + " |",
    "|---|---:|---:|---|---:|---:|---:|---|",
  ]
  rows = [("pooled", document)] + list(document["stations"].items())
  for name, s in rows:
    band = s.get("ass_random_guess_bounds")
    gains = " / ".join(_fmt(v) for v in (s.get("probability_gain") or {}).values())
    lines.append(
      f"| {name} | {s['n_targets']} | {_fmt(s.get('area_skill_score'))} | "
      f"{_fmt(band[0]) + ' .. ' + _fmt(band[1]) if band else '-'} | {_fmt(s.get('p_value'))} | "
      f"{_fmt(s.get('p_value_random_guess'))} | {_fmt(s.get('p_value_shifted_catalog'))} | {gains or '-'} |"
    )
  lines += [
    "",
    "ASS = 1 - the area under the Molchan trajectory (Zechar & Jordan 2008): 0.5 for random",
    "guessing, 1 for a perfect alarm. p (random alarms): circular shifts of the alarm days keep",
    "their clustering; p (random guess): events uniform in time (Irwin-Hall); p (shifted",
    "catalogue): the catalogue moved by whole years.",
    "",
    "## Target events",
    "",
    "| time (UTC) | magnitude | latitude | longitude | depth (km) | place | "
    + " | ".join(f"{n} (km)" for n in document["stations"])
    + " |",
    "|---|---:|---:|---:|---:|---|" + "---:|" * len(document["stations"]),
  ]
  for e in document["targets"]:
    distances = " | ".join(
      f"{e['distance_km'][n]:.0f}"
      + ("" if e["status"][n] == "scored" else f" (not scored: {e['status'][n]})")
      for n in document["stations"]
    )
    lines.append(
      f"| {e['time']} | {e['magnitude_type']}{e['magnitude']:g} | {e['latitude']:.2f} | "
      f"{e['longitude']:.2f} | {e['depth_km']:g} | {e['place']} | {distances} |"
    )
  lines += [
    "",
    "## Which days trained what (no look-ahead)",
    "",
    "| segment | station | trained on | threshold calibrated on | judged |",
    "|---:|---|---|---|---|",
  ]
  for t in document["training"]:
    lines.append(
      f"| {t['segment']} | {t['station']} | {t['trained_on'][0][:10]} .. {t['trained_on'][1][:10]} | "
      f"{t['calibrated_on'][0][:10]} .. {t['calibrated_on'][1][:10]} | {t['judged'][0][:10]} .. {t['judged'][1][:10]} |"
    )
  if document["skipped"]:
    lines += ["", "## Skipped stations", ""] + [
      f"- {s['name']}: {s['reason']}" for s in document["skipped"]
    ]
  lines += [
    "",
    "## Files",
    "",
    "molchan.json (all numbers), molchan.csv (trajectories), molchan.png (the diagram), alarms.csv and",
    "targets.csep.csv (pyCSEP's CSEP ASCII catalogue; the mapping of alarms to pyCSEP's terms is in",
    "precursor_jax/tasks/evaluate/report.py).",
  ]
  return "\n".join(lines) + "\n"


def figure(path: pathlib.Path, document: dict) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rows = [("pooled", document)] + (
    list(document["stations"].items()) if len(document["stations"]) > 1 else []
  )
  fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 5), squeeze=False)
  for ax, (name, s) in zip(axes[0], rows, strict=True):
    ax.plot([0, 1], [1, 0], color="0.6", ls="--", lw=1, label="random guess")
    if s.get("bounds"):
      b = s["bounds"]
      ax.step(
        b["tau"],
        np.clip(b["nu_lower"], 0, 1),
        where="post",
        color="tab:green",
        lw=1,
        label=f"{100 * (1 - b['alpha']):.0f}% bounds",
      )
      ax.step(b["tau"], np.clip(b["nu_upper"], 0, 1), where="post", color="tab:green", lw=1)
    trajectory = s["trajectory"]
    ax.plot(
      trajectory["tau"],
      trajectory["nu"],
      color="k",
      lw=1.4,
      marker=".",
      ms=3,
      label="Molchan trajectory",
    )
    title = f"{name}: N={s['n_targets']}"
    if s.get("area_skill_score") is not None:
      title += f", ASS={s['area_skill_score']:.3f}, p={s['p_value']:.3g}"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("fraction of time under alarm (tau)")
    ax.set_ylabel("miss rate (nu)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write(workdir, document, days, names, f, observed, flags, targets, events) -> None:
  """Every output file, whole or not at all (tasks/outputs.py)."""

  def files(staging: pathlib.Path) -> None:
    with open(staging / "molchan.csv", "w", newline="") as handle:
      writer = csv.writer(handle)
      writer.writerow(["station", "threshold", "tau", "nu"])
      for name, s in [("pooled", document)] + list(document["stations"].items()):
        t = s["trajectory"]
        for threshold, tau, nu in zip(t["threshold"], t["tau"], t["nu"], strict=True):
          writer.writerow([name, threshold, tau, nu])
    with open(staging / "alarms.csv", "w", newline="") as handle:
      writer = csv.writer(handle)
      writer.writerow(["date", "station", "alarm_function", "scored", "usable", "anomalous"])
      for s, name in enumerate(names):
        for d, day in enumerate(days):
          value = "" if not np.isfinite(f[s, d]) else f"{f[s, d]:g}"
          usable, anomalous = flags[s]["usable"][d], flags[s]["anomalous"][d]
          writer.writerow([str(day), name, value, int(observed[s, d]), int(usable), int(anomalous)])
    with open(staging / "targets.csep.csv", "w", newline="") as handle:
      writer = csv.writer(handle)
      writer.writerow(["lon", "lat", "mag", "time_string", "depth", "catalog_id", "event_id"])
      e = targets.events
      for i in range(len(e)):
        stamp = str(e.time[i].astype("datetime64[ms]"))
        writer.writerow(
          [
            f"{e.longitude[i]:.4f}",
            f"{e.latitude[i]:.4f}",
            f"{e.magnitude[i]:g}",
            stamp,
            f"{e.depth_km[i]:g}",
            0,
            str(e.event_id[i]) or f"target{i}",
          ]
        )
    if document.get("figures_enabled", True):
      figure(staging / "molchan.png", document)
    (staging / "report.md").write_text(markdown(document))
    (staging / "molchan.json").write_text(json.dumps(finite(document), indent=2, allow_nan=False))

  del events  # the event days are in the document's targets
  outputs.publish(workdir, "evaluation", files, ("report.md", "molchan.json"))

"""The detect figures (matplotlib, Agg): what a seismologist looks at before believing a number.

forecast_<station>.png    observed vs predicted kept signal over the judged period, the residuals
                          with the point threshold, artefacts marked
days_<station>.png        anomalous points per day with the day threshold; storm, artefact and
                          unknown days shaded; the event
cumulative.png            the running count of anomalous days per station and mode, the Boltzmann
                          fit, its x0 and onset, the event line (the paper's Figs. 11-12)
modes_<station>.png       the VMD modes of the whole record with their centre periods
map.png                   stations, epicentre, distances and the Dobrovolsky circle
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from precursor_jax.anomaly.sigmoid import boltzmann
from precursor_jax.core.geodesy import EARTH_RADIUS_KM

DAY = np.timedelta64(1, "D")


def _safe(name: str) -> str:
  return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def forecast_figure(path, name, mode, s, study) -> None:
  times, judged = s["times"], s["times"] >= s["background_end"]
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
  top.plot(
    times[judged], s["observed"][judged], color="k", lw=0.6, label="observed (kept VMD signal)"
  )
  top.plot(times[judged], s["forecast"][judged], color="tab:red", lw=0.6, label="predicted")
  top.legend(loc="upper left", fontsize=8)
  top.set_title(f"{name}: {mode} VMD, judged period")
  bottom.plot(times[judged], s["residual"][judged], color="0.3", lw=0.5, label="|residual|")
  bottom.axhline(s["threshold"], color="tab:orange", lw=1, label="point threshold")
  for artefact in s["artefacts"]:
    at = np.datetime64(artefact["start"])
    if at >= s["background_end"]:
      bottom.axvline(at, color="tab:purple", lw=0.8, alpha=0.6)
  for ax in (top, bottom):
    ax.axvline(study.event_time, color="tab:blue", lw=1.2)
  bottom.legend(loc="upper left", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def days_figure(path, name, mode, s, study) -> None:
  v = s["verdicts"]
  event_day = np.datetime64(study.event_time, "D")
  x = ((v["days"] - event_day) / DAY).astype(float)  # days relative to the event's day
  fig, ax = plt.subplots(figsize=(11, 3.2))
  for mask, colour in (
    (v["storm"], "tab:cyan"),
    (v["artefact"], "tab:purple"),
    (v["unknown"] & ~v["artefact"], "0.8"),
  ):
    for day in x[np.asarray(mask, bool)]:
      ax.axvspan(day - 0.5, day + 0.5, color=colour, alpha=0.35, lw=0)
  colours = np.where(v["anomalous"], "tab:red", "0.45")
  ax.bar(x, v["count"], width=0.85, color=colours)
  threshold = s.get("day_threshold")
  if threshold is not None:
    ax.axhline(threshold, color="tab:orange", lw=1)
  ax.axvline(0, color="tab:blue", lw=1.2)
  handles = [
    Patch(color="tab:red", label="anomalous day"),
    Patch(color="0.45", label="calm day"),
    Patch(color="tab:cyan", alpha=0.35, label="storm (screened)"),
    Patch(color="tab:purple", alpha=0.35, label="artefact"),
    Patch(color="0.8", alpha=0.35, label="unknown"),
    Line2D([0], [0], color="tab:orange", label="day threshold"),
    Line2D([0], [0], color="tab:blue", label=f"event {event_day}"),
  ]
  ax.legend(handles=handles, loc="upper left", fontsize=7, ncol=4)
  ax.set_xlabel("days relative to the event")
  ax.set_ylabel("anomalous points / day")
  ax.set_title(f"{name}: {mode} VMD, judged days")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def cumulative_figure(path, series, study) -> None:
  panels = [(n, m, s) for n, modes in series.items() for m, s in modes.items()]
  fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), squeeze=False)
  event_day = np.datetime64(study.event_time, "D")
  for ax, (name, mode, s) in zip(axes[:, 0], panels, strict=True):
    fit = s["fit"]
    ax.axvline(0, color="tab:blue", lw=1.2, label="event")
    if fit.get("fitted") and "curve" in fit:
      x0, x1 = fit["x_days_to_event"]
      x = np.arange(x0, x1 + 1)
      ax.step(x, fit["curve"], where="post", color="k", lw=1, label="anomalous days (cumulative)")
      if "A1" in fit:
        params = [fit[k][0] for k in ("A1", "A2", "x0", "dx")]
        smooth = np.linspace(x0, x1, 300)
        label = "Boltzmann fit" + ("" if fit["usable_result"] else " (not a result)")
        ax.plot(
          smooth, np.asarray(boltzmann(smooth, *params)), color="tab:red", lw=1.2, label=label
        )
        ax.axvline(params[2], color="tab:red", ls="--", lw=0.8)
        ax.axvline(
          params[2] - 2 * params[3], color="tab:orange", ls=":", lw=0.8, label="onset x0 - 2dx"
        )
    ax.set_title(f"{name} ({s['kind']}), {mode} VMD: days relative to {event_day}", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def modes_figure(path, name, s) -> None:
  modes = s["modes"]
  fig, axes = plt.subplots(len(modes) + 1, 1, figsize=(11, 1.5 * (len(modes) + 1)), sharex=True)
  axes[0].plot(s["times"], s["raw"], color="k", lw=0.5)
  axes[0].set_ylabel("raw", fontsize=8)
  for k, (ax, mode) in enumerate(zip(axes[1:], modes, strict=True), 1):
    ax.plot(s["times"], mode, lw=0.5)
    ax.set_ylabel(f"k{k}", fontsize=8)
  axes[0].set_title(f"{name}: VMD modes of the whole record (ascending centre frequency)")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def map_figure(path, document) -> None:
  event = document["event"]
  lat0, lon0 = np.radians(event["latitude"]), np.radians(event["longitude"])
  angular = event["dobrovolsky_radius_km"] / EARTH_RADIUS_KM
  bearing = np.linspace(0, 2 * np.pi, 361)
  lat = np.arcsin(np.sin(lat0) * np.cos(angular) + np.cos(lat0) * np.sin(angular) * np.cos(bearing))
  lon = lon0 + np.arctan2(
    np.sin(bearing) * np.sin(angular) * np.cos(lat0), np.cos(angular) - np.sin(lat0) * np.sin(lat)
  )
  fig, ax = plt.subplots(figsize=(6.5, 6))
  ax.plot(np.degrees(lon), np.degrees(lat), color="tab:blue", lw=1, label="Dobrovolsky radius")
  ax.plot(event["longitude"], event["latitude"], "*", color="tab:red", ms=14, label="epicentre")
  for name, s in document["stations"].items():
    st = s["station"]
    marker = "^" if st["kind"] == "geomagnetic" else "s"
    ax.plot(st["longitude"], st["latitude"], marker, color="k")
    ax.annotate(
      f"{name}\n{s['distance_km']:.0f} km",
      (st["longitude"], st["latitude"]),
      fontsize=8,
      xytext=(4, 4),
      textcoords="offset points",
    )
  ax.set_xlabel("longitude (deg E)")
  ax.set_ylabel("latitude (deg N)")
  ax.set_title(f"M{event['magnitude']:g}: D = {event['dobrovolsky_radius_km']:.0f} km")
  ax.legend(loc="lower left", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def draw_all(target: pathlib.Path, document, series, study, storm_days) -> list[str]:
  """Every figure of the module doc into `target`; returns their file names."""
  del storm_days  # drawn from the day verdicts
  names = []
  for name, modes in series.items():
    for mode, s in modes.items():
      file = f"forecast_{_safe(name)}_{mode}.png"
      forecast_figure(target / file, name, mode, s, study)
      names.append(file)
      file = f"days_{_safe(name)}_{mode}.png"
      days_figure(target / file, name, mode, s, study)
      names.append(file)
      if s["modes"] is not None:
        file = f"modes_{_safe(name)}.png"
        modes_figure(target / file, name, s)
        names.append(file)
  cumulative_figure(target / "cumulative.png", series, study)
  map_figure(target / "map.png", document)
  return names + ["cumulative.png", "map.png"]

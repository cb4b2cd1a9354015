"""Figures a user reads after a run (matplotlib, written as PNG; no display needed)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from precursor_jax.anomaly.ses import CATEGORY_NAMES, score_detections
from precursor_jax.core.constants import GEOELECTRIC_HOUR_SAMPLES


def ses_detections(
  path: pathlib.Path,
  arrays: Mapping[str, np.ndarray],
  outputs: np.ndarray,
  predictions: Mapping[str, np.ndarray],
  count: int = 4,
) -> None:
  """Input, target and network output of `count` test days, true SES (grey) and detected interval (red)."""
  count = min(count, len(outputs))
  fig, axes = plt.subplots(count, 1, figsize=(11, 2.4 * count), sharex=True, squeeze=False)
  hours = np.arange(arrays["input"].shape[-1]) / GEOELECTRIC_HOUR_SAMPLES
  categories = score_detections(
    predictions["start"][:count],
    predictions["end"][:count],
    arrays["ses_start"][:count],
    arrays["ses_duration"][:count],
  )
  for i, ax in enumerate(axes[:, 0]):
    ax.plot(hours, arrays["input"][i], lw=0.5, color="0.6", label="input (observed + SES)")
    ax.plot(hours, arrays["target"][i], lw=0.8, color="tab:blue", label="target (cleaned + SES)")
    ax.plot(hours, outputs[i], lw=0.8, color="tab:orange", label="network output")
    start, duration = arrays["ses_start"][i], arrays["ses_duration"][i]
    ax.axvspan(
      start / GEOELECTRIC_HOUR_SAMPLES,
      (start + duration) / GEOELECTRIC_HOUR_SAMPLES,
      color="0.85",
      zorder=0,
    )
    ax.axvspan(
      predictions["start"][i] / GEOELECTRIC_HOUR_SAMPLES,
      predictions["end"][i] / GEOELECTRIC_HOUR_SAMPLES,
      ymin=0.9,
      ymax=1.0,
      color="tab:red",
      alpha=0.7,
    )
    ax.set_ylabel("mV/km")
    ax.set_title(
      f"day {int(arrays['day_id'][i])}: SES {arrays['ses_amplitude'][i]:+.1f} mV/km, "
      f"{duration / 6:.0f} min -> {CATEGORY_NAMES[int(categories[i])]}",
      fontsize=9,
    )
  axes[0, 0].legend(loc="upper right", fontsize=7)
  axes[-1, 0].set_xlabel("hour of day")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def ses_sweeps(path: pathlib.Path, studies: Mapping[str, Mapping[str, float]]) -> None:
  """Success rate against SES amplitude and against duration (the paper's Fig. 8), one panel each."""
  groups = {"amplitude_mV_km": [], "duration_min": []}
  for name, scores in studies.items():
    key = "amplitude_mV_km" if name.startswith("amp") else "duration_min"
    groups[key].append((scores[key], scores["success"], scores["count"]))
  panels = [(k, sorted(v)) for k, v in groups.items() if v]
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
  for ax, (key, points) in zip(axes[0], panels, strict=True):
    x, rate, count = (np.array(c) for c in zip(*points, strict=True))
    ax.bar(
      x,
      rate * count,
      width=0.6 * np.min(np.diff(x)) if len(x) > 1 else 1,
      color="0.7",
      label="detected",
    )
    ax2 = ax.twinx()
    ax2.plot(x, 100 * rate, "o-", color="tab:red")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("success rate %")
    ax.set_ylabel("successful detections")
    ax.set_xlabel("SES amplitude (mV/km)" if key.startswith("amp") else "SES duration (min)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)

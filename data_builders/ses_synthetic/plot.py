"""Figure of the synthetic background model: one day per station with SESs at night and by day.

  python -m data_builders.ses_synthetic.plot --out=/tmp/ses_synthetic_days.png [--day=3]

Top three panels: observed day + four 27-min, 12 mV/km SESs (shaded) and the cleaned day + the
same SESs (the network's input and target). Bottom: the HKB day's components (offset removed).
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from precursor_jax.core import constants
from precursor_jax.signal import filters
from precursor_jax.synthetic import geoelectric as background_model
from precursor_jax.synthetic import ses as synthetic_ses

SES_STARTS_H = (2.5, 10.0, 15.0, 19.5)
SES_MINUTES = 27
SES_MV_KM = 12.0


def plot_days(out: str, day_index: int = 3, seed: int = 0) -> None:
  """Writes the figure to `out`."""
  hours = np.arange(constants.GEOELECTRIC_DAY_SAMPLES) / 360
  duration = SES_MINUTES * constants.GEOELECTRIC_MINUTE_SAMPLES
  ses = sum(
    synthetic_ses.ses_waveform(synthetic_ses.SesDraw(int(h * 360), duration, SES_MV_KM))
    for h in SES_STARTS_H
  )
  fig, axes = plt.subplots(4, 1, figsize=(14, 13), sharex=True)
  for ax, station in zip(axes[:3], ("hkb", "mts", "ota"), strict=True):
    day = background_model.synthetic_day(station, day_index, seed)
    ax.plot(hours, day + ses, lw=0.5, label="input: observed + SES")
    ax.plot(hours, filters.clean_day(day) + ses, lw=0.9, label="target: cleaned + SES")
    for h in SES_STARTS_H:
      ax.axvspan(h, h + SES_MINUTES / 60, color="r", alpha=0.15)
    ax.set_title(
      f"{station.upper()} synthetic day {day_index}: SES {SES_MV_KM:g} mV/km, "
      f"{SES_MINUTES} min at {', '.join(f'{h:g} h' for h in SES_STARTS_H)}"
    )
    ax.set_ylabel("mV/km")
    ax.legend(loc="upper left")
  parts = background_model.synthetic_day_components("hkb", day_index, seed)
  for name, values in parts.items():
    if name != "offset":
      axes[3].plot(hours, values, lw=0.6, label=name)
  axes[3].set_title(f"HKB components (offset {parts['offset'][0]:.1f} mV/km not shown)")
  axes[3].set_ylabel("mV/km")
  axes[3].set_xlabel("local time (h)")
  axes[3].set_xlim(0, 24)
  axes[3].legend(loc="upper left", ncol=5)
  fig.tight_layout()
  fig.savefig(out, dpi=80)
  plt.close(fig)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="/tmp/ses_synthetic_days.png")
  parser.add_argument("--day", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  plot_days(args.out, args.day, args.seed)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()

"""Small synthetic records shared by the detect and evaluate tests (written as point files)."""

import numpy as np

HOUR = np.timedelta64(1, "h")


def write_point_file(path, times, values):
  with open(path, "w") as handle:
    for t, v in zip(times, values, strict=True):
      stamp = str(t.astype("datetime64[m]")).replace("-", "").replace("T", "").replace(":", "")
      handle.write(f"{stamp} {99999 if not np.isfinite(v) else v:.3f}\n")


def synthetic_strain(start="2008-01-01", days=120, seed=0, burst_from=None, burst_to=None):
  """(times, values): hourly tides, drift and AR(1) noise; bursts of extra noise between two dates."""
  rng = np.random.default_rng(seed)
  times = np.datetime64(start, "s") + np.arange(days * 24) * HOUR
  t = np.arange(days * 24, dtype=float)
  noise = np.zeros(len(t))
  for i in range(1, len(t)):
    noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 1.0)
  values = (
    40 * np.sin(2 * np.pi * t / 12.42) + 25 * np.sin(2 * np.pi * t / 23.93) + 0.05 * t + noise
  )
  if burst_from is not None:
    inside = (times >= np.datetime64(burst_from)) & (times < np.datetime64(burst_to))
    values[inside] += rng.normal(0, 6.0, inside.sum())
  return times, values

"""Four-gauge borehole strain (YRY-4 type): self-consistency, shear strains, areal strain.

The four gauges of a four-gauge borehole strainmeter lie 45 degrees apart in sequence, so gauges 1
and 3 are orthogonal, and so are 2 and 4. In plane strain the sum of two orthogonal linear strains
is the areal strain whatever the azimuth, which gives the self-consistency equation and the three
independent combinations used in the seed paper (its eq. 4, after Qiu et al. 2009; Chi 2020):

  S1 + S3 = k (S2 + S4)        (k = 1 for a perfect instrument)
  S13 = S1 - S3,  S24 = S2 - S4,  Sa = (S1 + S2 + S3 + S4) / 2.

The seed paper prints the self-consistency equation as S1 + S2 = k (S3 + S4) (its eq. 3). That
pairs non-orthogonal gauges and contradicts its own eq. 4 (which treats 1-3 and 2-4 as the
orthogonal pairs); on the real Guzan record 2006-2010 the printed pairing gives a median monthly k
of about 0.69 and the orthogonal one 0.995 (tests/test_strain.py checks this). We take eq. 3 as a
misprint and use the orthogonal pairs; `pairing="as_printed"` reproduces the printed form.

How k is computed (`self_consistency`): the seed paper gives only the threshold (k >= 0.95 means
reliable data), not the estimator. Per window we take k as the correlation coefficient between
(S1 + S3) and (S2 + S4): the form used in practice for this check (Kong, Su & Fujinawa 2018, OJER,
use the correlation coefficient of the orthogonal-pair data; YRY-4 reliability studies in Sichuan
report the self-consistency test as correlation coefficients), and the only form for which a fixed
0.95 threshold does not depend on the gauges' gains. It is computed on the raw readings after
removing, per window, each sum's least-squares straight line (`preprocess="detrend"`): arbitrary
offsets and linear instrument drift would otherwise make any two drifting series look consistent,
while tides, steps and non-linear drift remain and must agree. `"difference"` (hourly increments,
tidal band) and `"none"` (mean removed only) are the alternatives. The least-squares slope of
(S1 + S3) on (S2 + S4), the literal gain ratio of the equation, is reported as `slope` but not
thresholded: raw gauges are not relatively calibrated (on Guzan the monthly slope wanders between
0.9 and 1.25), so the slope measures calibration rather than consistency.

Missing samples are explicit: a window with fewer than `min_valid_fraction` of its samples valid in
all four gauges gets NaN k and is flagged, never computed from the few samples it has.

`self_consistency` is host-side NumPy in float64 (raw readings of ~1e5 with 0.1 resolution lose
their tidal signal in float32 sums); the strain combinations are plain array arithmetic and work on
NumPy or jax.numpy arrays alike (NaN stays NaN).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from precursor_jax.core.timeseries import TimeSeries

K_THRESHOLD = 0.95
GAUGES = ("S1", "S2", "S3", "S4")
# Index pairs (gauges summed on the left, gauges summed on the right) of S_a + S_b = k (S_c + S_d).
PAIRINGS = {"orthogonal": ((0, 2), (1, 3)), "as_printed": ((0, 1), (2, 3))}


def shear_strains(s1, s2, s3, s4):
  """(S13, S24) = (S1 - S3, S2 - S4); any matching shapes, NumPy or JAX."""
  return s1 - s3, s2 - s4


def areal_strain(s1, s2, s3, s4):
  """Sa = (S1 + S2 + S3 + S4) / 2; any matching shapes, NumPy or JAX."""
  return (s1 + s2 + s3 + s4) / 2


class SelfConsistency(NamedTuple):
  """Per-window results, all (W,)."""

  label: np.ndarray  # the window's label (window index for fixed windows)
  start: np.ndarray  # index of the window's first sample
  k: np.ndarray  # correlation coefficient of the two pair sums; NaN when too few samples
  slope: np.ndarray  # least-squares slope of the left sum on the right sum; NaN likewise
  n_valid: np.ndarray  # samples (or differences) with all four gauges valid
  n_expected: np.ndarray  # samples (or differences) the window should have
  flagged: np.ndarray  # k < threshold, or k is NaN


def _window_ids(windows, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Window id per sample (T,), label per window, first index per window, samples per window."""
  if np.ndim(windows) == 0:
    size = int(windows)
    if size < 3:
      raise ValueError(f"a window needs at least 3 samples, got {size}")
    ids = np.arange(n) // size
    count = -(-n // size)
    return ids, np.arange(count), np.arange(count) * size, np.full(count, size)
  labels = np.asarray(windows)
  if labels.shape != (n,):
    raise ValueError(f"window labels must have shape ({n},), got {labels.shape}")
  change = np.concatenate([[True], labels[1:] != labels[:-1]])
  starts = np.flatnonzero(change)
  if len(np.unique(labels[starts])) != len(starts):
    raise ValueError("window labels must be contiguous (each label in one run, e.g. sorted months)")
  ids = np.cumsum(change) - 1
  return ids, labels[starts], starts, np.diff(np.append(starts, n))


def self_consistency(
  s1,
  s2,
  s3,
  s4,
  windows,
  *,
  preprocess: str = "detrend",
  pairing: str = "orthogonal",
  min_valid_fraction: float = 0.9,
  threshold: float = K_THRESHOLD,
) -> SelfConsistency:
  """Self-consistency coefficient k of S1 + S3 = k (S2 + S4) per window (see the module doc).

  s1..s4: (T,) gauge readings, NaN where missing. windows: an int (consecutive windows of that many
  samples, the last one possibly short and then usually NaN) or (T,) contiguous labels such as
  `times.astype("datetime64[M]")` for calendar months.
  """
  if preprocess not in ("detrend", "difference", "none"):
    raise ValueError(f"preprocess must be 'detrend', 'difference' or 'none', got {preprocess!r}")
  gauges = [np.asarray(s, dtype=np.float64) for s in (s1, s2, s3, s4)]
  if any(g.shape != gauges[0].shape or g.ndim != 1 for g in gauges):
    raise ValueError(f"need four (T,) gauges, got shapes {[g.shape for g in gauges]}")
  (a, b), (c, d) = PAIRINGS[pairing]
  y, x = gauges[a] + gauges[b], gauges[c] + gauges[d]
  n = len(x)
  ids, labels, starts, n_expected = _window_ids(windows, n)
  t = np.arange(n, dtype=np.float64)
  valid = np.isfinite(x) & np.isfinite(y)
  if preprocess == "difference":
    same_window = ids[1:] == ids[:-1]
    x, y, t = np.diff(x), np.diff(y), t[1:]
    valid = valid[1:] & valid[:-1] & same_window
    ids = ids[1:]
    n_expected = n_expected - 1
  count = len(labels)
  x, y, t = (np.where(valid, v, 0.0) for v in (x, y, t))
  n_valid = np.bincount(ids, weights=valid, minlength=count)

  def window_sum(v):
    return np.bincount(ids, weights=v, minlength=count)

  with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)
    # Two-pass: centre within each window before the products (float64 cancellation otherwise).
    xc, yc, tc = ((v - (window_sum(v) / n_valid)[ids]) * valid for v in (x, y, t))
    sxx, syy, sxy = window_sum(xc * xc), window_sum(yc * yc), window_sum(xc * yc)
    if preprocess == "detrend":
      stt, stx, sty = window_sum(tc * tc), window_sum(tc * xc), window_sum(tc * yc)
      # Frisch-Waugh: sums of the residuals after regressing each series on time.
      sxx, syy, sxy = sxx - stx**2 / stt, syy - sty**2 / stt, sxy - stx * sty / stt
    k = sxy / np.sqrt(sxx * syy)
    slope = sxy / sxx
  minimum = 3 if preprocess == "detrend" else 2
  enough = (n_valid >= min_valid_fraction * n_expected) & (n_valid >= minimum)
  k = np.where(enough, k, np.nan)
  slope = np.where(enough, slope, np.nan)
  return SelfConsistency(
    labels,
    starts,
    k,
    slope,
    n_valid.astype(np.int64),
    n_expected.astype(np.int64),
    ~(k >= threshold),
  )


def strain_series(ts: TimeSeries) -> TimeSeries:
  """Sa, S13, S24 of a four-gauge series with channels S1..S4 (same grid, NaN where missing)."""
  s1, s2, s3, s4 = (ts.column(g) for g in GAUGES)
  s13, s24 = shear_strains(s1, s2, s3, s4)
  return ts.with_values(
    np.stack([areal_strain(s1, s2, s3, s4), s13, s24], axis=1),
    ("Sa", "S13", "S24"),
    derived="Sa=(S1+S2+S3+S4)/2, S13=S1-S3, S24=S2-S4",
  )


def monthly_report(
  ts: TimeSeries, *, preprocess: str = "detrend", threshold: float = K_THRESHOLD
) -> str:
  """Markdown report of a four-gauge record: k per month, pass shares, ranges of Sa/S13/S24."""
  gauges = [ts.column(g) for g in GAUGES]
  months = ts.times.astype("datetime64[M]")
  days = ts.times.astype("datetime64[D]")
  monthly = self_consistency(*gauges, months, preprocess=preprocess, threshold=threshold)
  printed = self_consistency(
    *gauges, months, preprocess=preprocess, pairing="as_printed", threshold=threshold
  )
  daily = self_consistency(*gauges, days, preprocess=preprocess, threshold=threshold)
  derived = strain_series(ts)

  def share(result):
    ok = np.isfinite(result.k)
    return f"{int((result.k[ok] >= threshold).sum())}/{int(ok.sum())}"

  name = ts.metadata.get("station_name", "four-gauge station")
  lines = [
    f"Four-gauge self-consistency, {name}: {ts.times[0]} .. {ts.times[-1]}, "
    f"{len(ts)} samples every {ts.interval_seconds} s, "
    f"{int(ts.missing.any(axis=1).sum())} with a gauge missing.",
    f"k = correlation of (S1+S3) and (S2+S4) per window, preprocess={preprocess!r}; "
    f"flag k < {threshold}.",
    "",
    f"- months with k >= {threshold}: {share(monthly)} "
    f"(median k {np.nanmedian(monthly.k):.4f}, min {np.nanmin(monthly.k):.4f}); "
    f"{int(np.isnan(monthly.k).sum())} month(s) with too few samples",
    f"- days with k >= {threshold}: {share(daily)} (median k {np.nanmedian(daily.k):.4f}); "
    f"{int(np.isnan(daily.k).sum())} day(s) with too few samples",
    f"- the seed paper's printed pairing (S1+S2) vs (S3+S4): months with k >= {threshold}: "
    f"{share(printed)} (median k {np.nanmedian(printed.k):.4f})",
  ]
  for channel in derived.channels:
    v = derived.column(channel)
    lines.append(
      f"- {channel}: min {np.nanmin(v):.1f}, max {np.nanmax(v):.1f}, "
      f"first valid {v[np.isfinite(v)][0]:.1f}, last valid {v[np.isfinite(v)][-1]:.1f} "
      "(raw reading units)"
    )
  lines += ["", "| month | k | slope | valid / expected | flag |", "|---|---|---|---|---|"]
  for m in range(len(monthly.label)):
    lines.append(
      f"| {monthly.label[m]} | {monthly.k[m]:.4f} | {monthly.slope[m]:.3f} | "
      f"{monthly.n_valid[m]} / {monthly.n_expected[m]} | "
      f"{'k < ' + str(threshold) if monthly.flagged[m] else ''} |"
    )
  return "\n".join(lines)

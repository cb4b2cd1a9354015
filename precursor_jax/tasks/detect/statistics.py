"""From forecast residuals to the numbers of the report: anomalous days, fits, significance, lags.

Per station (anomaly/residuals.py does the arithmetic):

  residuals   e_t = |y_t - yhat_t| where both exist; a sample is background (in-sample: the
              forecaster learned there) or judged (after background.end). Only judged days enter
              counts, fits and tests.
  point       anomalous when e_t > threshold: mode "mean" takes k * mean(e) with the mean over the
              BACKGROUND residuals (the part being judged cannot raise its own threshold); mode
              "quantile" takes the (1 - false_alarm_rate) quantile of the background residuals,
              i.e. a stated false-alarm rate on quiet data.
  day         anomalous when its count of anomalous points exceeds day_fraction x the samples a
              day has (the paper's 45 and 25 of 1440 as fractions, so hourly and 1-minute records
              both work: on hourly data a strain day with one anomalous hour is anomalous); a day
              with fewer than min_valid_fraction of its samples judged is unknown, never normal.
              Days holding an instrument artefact (quality stage) are labelled; with
              quality.artefacts = "mask" they are left out of the counts.
  storms      geomagnetic days with Dst <= -50 nT and/or Kp >= 5 (storms.criterion), extended by
              storms.recovery_days, are excluded (or only flagged) per storms.action.
  curve       the running count of anomalous usable judged days, and its Boltzmann fit over the
              span [fit.span_start (default: the judged start), event day): A1, A2, x0, dx with
              their printed errors, reduced chi-square, R^2, adjusted R^2, x0 and the onset
              x0 - 2 dx as dates, parametric-bootstrap spreads (the printed errors of a fit to a
              running count are ~10x too small: anomaly/sigmoid.py), and how x0 moves when the
              span's start moves. A fit that did not converge, whose x0 lies outside the span, or
              whose rise x0 +- 2 dx is longer than the span (a constant rate, fitted by a very wide
              sigmoid centred wherever the span was cut) is marked so; its R^2 is not a result.
  significance  the anomalous-day count of the `window_days` days before the event against
              (1) every circular shift of the day labels and (2) a moving-block bootstrap of them
              (both keep the day-to-day clustering), and (3) how often surrogate day labels give a
              fitted acceleration at least as strong that ends in the pre-event window.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.anomaly import lag as lag_lib
from precursor_jax.anomaly import residuals as res
from precursor_jax.anomaly import sigmoid, significance, storms
from precursor_jax.core.timeseries import TimeSeries
from precursor_jax.data import spaceweather

DAY = np.timedelta64(1, "D")


def point_threshold(e: np.ndarray, background: np.ndarray, config: Any) -> float:
  """The point threshold of the config's mode, from the background residuals only."""
  reference = e[background & np.isfinite(e)]
  if len(reference) < 10:
    raise ValueError(
      f"only {len(reference)} background residuals: the threshold needs a background"
    )
  if config.threshold.mode == "mean":
    return float(config.threshold.k * np.mean(reference))
  if config.threshold.mode == "quantile":
    rate = config.threshold.false_alarm_rate
    if not 0 < rate < 1:
      raise ValueError(f"config.threshold.false_alarm_rate={rate}: expected a rate in (0, 1)")
    return float(np.quantile(reference, 1.0 - rate))
  raise ValueError(f"config.threshold.mode={config.threshold.mode!r}: expected mean or quantile")


def day_threshold(kind: str, samples_per_day: int, config: Any) -> float:
  """Anomalous points a day must exceed: the kind's fraction of the day's samples."""
  fraction = (
    config.threshold.geomagnetic_day_fraction
    if kind == "geomagnetic"
    else config.threshold.strain_day_fraction
  )
  return float(fraction * samples_per_day)


def read_storms(config: Any) -> storms.StormDays | None:
  """Storm days from the config's Kp and Dst files (recovery included), None without files."""
  kp = dst = None
  if config.storms.kp_file:
    kp = _read_index(config.storms.kp_file, "kp")
  if config.storms.dst_file:
    dst = _read_index(config.storms.dst_file, "dst")
  if kp is None and dst is None:
    return None
  dst_days = storms.storm_days(dst=dst, dst_threshold=config.storms.dst_threshold) if dst else None
  kp_days = storms.storm_days(kp=kp, kp_threshold=config.storms.kp_threshold) if kp else None
  combined = storms.combine(dst_days, kp_days, config.storms.criterion)
  return storms.with_recovery(combined, config.storms.recovery_days)


def _read_index(path: str, which: str) -> TimeSeries:
  """Kp (CelesTrak SW-All or the CSV) or Dst (WDC records or the CSV), by the file's content."""
  lower = path.lower()
  if which == "kp":
    return (
      spaceweather.read_kp_csv(path) if ".csv" in lower else spaceweather.read_kp_celestrak(path)
    )
  return spaceweather.read_dst_csv(path) if ".csv" in lower else spaceweather.read_dst_wdc(path)


def day_counts(times: np.ndarray, e: np.ndarray, threshold: float) -> res.DailyCounts:
  """Anomalous (e > threshold) and valid residuals per day of the samples `times`."""
  points = res.PointFlags(
    anomalous=np.isfinite(e) & (e > threshold), valid=np.isfinite(e), threshold=threshold
  )
  return res.daily_counts(points, times=times)


def day_verdicts(
  times: np.ndarray,
  e: np.ndarray,
  threshold: float,
  samples_per_day: int,
  kind: str,
  artefact_days: set,
  storm_days: storms.StormDays | None,
  config: Any,
) -> dict:
  """Per-day counts and verdicts of the judged samples `times`, `e` (module doc)."""
  counts = day_counts(times, e, threshold)
  return verdicts_from_counts(counts, samples_per_day, kind, artefact_days, storm_days, config)


def verdicts_from_counts(
  counts: res.DailyCounts,
  samples_per_day: int,
  kind: str,
  artefact_days: set,
  storm_days: storms.StormDays | None,
  config: Any,
) -> dict:
  """The day verdicts of per-day counts: anomalous, unknown, artefact, storm, usable (module doc).
  Sweeps count the days of many thresholds at once and hand each trial's counts here."""
  flags = res.anomalous_days(
    counts,
    day_threshold(kind, samples_per_day, config),
    min_valid_fraction=config.threshold.min_valid_fraction,
  )
  days = np.asarray(flags.days)
  artefact = np.isin(days, np.asarray(sorted(artefact_days), dtype="datetime64[D]"))
  unknown = np.asarray(flags.unknown)
  if config.quality.artefacts == "mask":
    unknown = unknown | artefact
  flags = flags._replace(unknown=unknown)
  screened = storm_days is not None and kind in config.storms.apply_to
  if screened:
    flags = res.screen_storm_days(flags, storm_days)
    if config.storms.action == "flag":  # listed, but counted as any other day
      storm_flags = np.asarray(flags.storm).copy()
      flags = flags._replace(
        storm=np.zeros_like(storm_flags), storm_unknown=np.zeros_like(storm_flags)
      )
    else:
      storm_flags = np.asarray(flags.storm)
  else:
    storm_flags = np.zeros(len(days), dtype=bool)
  usable = np.asarray(res.usable_days(flags))
  anomalous = np.asarray(flags.anomalous) & usable
  return {
    "days": days,
    "count": np.asarray(counts.anomalous),
    "valid": np.asarray(counts.valid),
    "anomalous": anomalous,
    "usable": usable,
    "unknown": unknown,
    "artefact": artefact,
    "storm": storm_flags,
    "storm_unknown": np.asarray(flags.storm_unknown),
    "screened": screened,
  }


def _fit_record(x, y, fit, event_day, bootstrap_key, n_boot) -> dict:
  params = np.asarray(fit.params)
  errors = np.asarray(fit.stderr)
  a1, a2, x0, dx = (float(v) for v in params)
  inside = bool(x[0] <= x0 <= x[-1])
  # The rapid accumulation x0 +- 2 dx must fit in the span: a constant rate is fitted by a very
  # wide sigmoid centred wherever the span is cut, with an excellent R^2 and no meaning.
  resolved = bool(4.0 * dx <= x[-1] - x[0] + 1.0)
  record = {
    "A1": [a1, float(errors[0])],
    "A2": [a2, float(errors[1])],
    "x0": [x0, float(errors[2])],
    "dx": [dx, float(errors[3])],
    "reduced_chi2": float(fit.reduced_chi2),
    "r2": float(fit.r2),
    "adj_r2": float(fit.adj_r2),
    "converged": bool(fit.converged),
    "x0_inside_span": inside,
    "rise_resolved": resolved,
    "x0_date": _date(event_day, x0),
    "onset_date": _date(event_day, x0 - 2 * dx),
    "usable_result": bool(fit.converged) and inside and resolved,
  }
  if n_boot and record["usable_result"] and a2 > a1:
    _, spread = sigmoid.bootstrap_cumulative_fit(bootstrap_key, jnp.asarray(x), fit, n_boot=n_boot)
    spread = np.asarray(spread)
    record["bootstrap_spread"] = {
      name: float(v) for name, v in zip(sigmoid.PARAM_NAMES, spread, strict=True)
    }
  return record


def _date(event_day: np.datetime64, offset_days: float) -> str | None:
  if not np.isfinite(offset_days) or abs(offset_days) > 36500:
    return None
  seconds = int(round(offset_days * 86400))
  return str(
    (event_day.astype("datetime64[s]") + np.timedelta64(seconds, "s")).astype("datetime64[D]")
  )


def fit_curve(verdicts: dict, event_time, config: Any, seed: int) -> dict:
  """The cumulative curve of the judged usable days before the event, its fit and its span test."""
  days = verdicts["days"]
  event_day = np.datetime64(event_time, "D")
  span_start = np.datetime64(config.fit.span_start, "D") if config.fit.span_start else days[0]
  before = (days >= span_start) & (days < event_day)
  if before.sum() < 8:
    return {"fitted": False, "reason": f"only {int(before.sum())} judged days before the event"}
  counted = (verdicts["anomalous"] & verdicts["usable"]).astype(np.float64)
  x = ((days[before] - event_day) / DAY).astype(np.float64)
  y = np.cumsum(counted[before])
  record = {
    "fitted": True,
    "span": [str(days[before][0]), str(days[before][-1])],
    "x_days_to_event": [float(x[0]), float(x[-1])],
    "curve": y.tolist(),
  }
  if y[-1] == 0:
    record.update(fitted=False, reason="no anomalous usable day in the span")
    return record
  with jax.enable_x64(True):
    fit = sigmoid.fit_boltzmann(jnp.asarray(x), jnp.asarray(y))
    key = jax.random.key(seed)
    record.update(_fit_record(x, y, fit, event_day, key, config.fit.bootstrap))
    # Every shifted span as a mask on the same x, so one compiled fit serves them all.
    shifts = []
    for shift in config.fit.span_shifts_days:
      keep = x >= x[0] + shift
      ys = np.cumsum(np.where(keep, counted[before], 0.0))
      if keep.sum() < 8 or ys[-1] == 0:
        continue
      shifted = sigmoid.fit_boltzmann(jnp.asarray(x), jnp.asarray(ys), jnp.asarray(keep))
      x0, first = float(shifted.params[2]), float(x[keep][0])
      shifts.append(
        {
          "span_start": _date(event_day, first),
          "x0_date": _date(event_day, x0),
          "converged": bool(shifted.converged),
          "x0_inside_span": bool(first <= x0 <= x[-1]),
        }
      )
  record["span_sensitivity"] = shifts
  return record


def acceleration(fit: sigmoid.BoltzmannFit, window_start: float) -> jax.Array:
  """The fitted maximum rate (A2 - A1) / (4 dx) when the fit converged and its rapid
  accumulation (x0) lies in the pre-event window [window_start, 0); else 0."""
  a1, a2, x0, dx = fit.params[0], fit.params[1], fit.params[2], fit.params[3]
  rate = (a2 - a1) / (4.0 * dx)
  inside = (x0 >= window_start) & (x0 < 0.0)
  return jnp.where(fit.converged & inside & (dx > 0), rate, 0.0)


@jax.jit
def _accelerations(x, labels, window_start):
  """acceleration() of the fit to each row's running count; (R, N) labels."""
  fit_one = lambda y: acceleration(sigmoid.fit_boltzmann(x, jnp.cumsum(y)), window_start)
  return jax.vmap(fit_one)(labels)


def acceleration_test(verdicts: dict, event_time, config: Any, seed: int) -> dict:
  """How often surrogate day labels (random circular shifts) give a fitted acceleration at least
  as strong, ending in the pre-event window, as the observed labels."""
  days = verdicts["days"]
  event_day = np.datetime64(event_time, "D")
  before = days < event_day
  if before.sum() < 16:
    return {"p_value": None, "reason": "too few judged days before the event"}
  labels = (verdicts["anomalous"] & verdicts["usable"])[before].astype(np.float64)
  x = ((days[before] - event_day) / DAY).astype(np.float64)
  window_start = -float(config.significance.window_days)
  rng = np.random.default_rng(seed)
  n = config.significance.surrogate_fits
  shifts = rng.integers(1, len(labels), size=n)
  # The observed labels first, then the surrogates: one compiled, vmapped batch of fits.
  batch = np.stack([labels] + [np.roll(labels, s) for s in shifts])
  with jax.enable_x64(True):
    rates = np.asarray(_accelerations(jnp.asarray(x), jnp.asarray(batch), window_start))
  observed, null = float(rates[0]), rates[1:]
  p = float((1 + np.sum(null >= observed - 1e-12)) / (1 + n)) if observed > 0 else 1.0
  return {
    "observed_rate_per_day": observed,
    "p_value": p,
    "surrogates": int(n),
    "null_method": "circular_shift",
  }


def significance_tests(verdicts: dict, event_time, config: Any, seed: int) -> dict:
  """The three tests of the module doc, on dates."""
  days, flags, usable = verdicts["days"], verdicts["anomalous"], verdicts["usable"]
  window = config.significance.window_days
  try:
    circular = significance.circular_shift_test(days, flags, usable, event_time, window)
    block = significance.block_bootstrap_test(
      days,
      flags,
      usable,
      event_time,
      window,
      block=config.significance.block_days,
      rng=seed,
      n_draws=config.significance.draws,
    )
  except ValueError as error:
    return {"p_value": None, "reason": str(error)}
  return {
    "window_days": window,
    "window": [str(circular.window_start), str(circular.window_end - DAY)],
    "observed": circular.observed,
    "usable_days": circular.window_days,
    "p_value": circular.p_value,
    "method": "circular shifts of the day labels (all of them)",
    "block_bootstrap_p_value": block.p_value,
    "block_days": config.significance.block_days,
    "acceleration": acceleration_test(verdicts, event_time, config, seed + 1),
    "settings_tried": config.significance.settings_tried,
  }


def lags(strain: dict, geomagnetic: dict, fit_strain: dict, fit_geomag: dict, max_lag: int) -> dict:
  """Strain-vs-geomagnetic lag: cross-correlation of the daily anomaly flags on their common
  days (positive = strain leads) and the difference of the fitted x0 (anomaly/lag.py)."""
  common = np.intersect1d(strain["days"], geomagnetic["days"])
  out = {"common_days": int(len(common))}
  if len(common) >= 2 * max_lag + 10:
    pick = lambda v: np.where(v["usable"], v["anomalous"].astype(float), np.nan)[
      np.isin(v["days"], common)
    ]
    result = lag_lib.lag_by_cross_correlation(
      jnp.asarray(pick(strain)), jnp.asarray(pick(geomagnetic)), max_lag
    )
    lag = float(result.lag)
    out["cross_correlation_lag_days"] = None if not np.isfinite(lag) else lag
    out["cross_correlation"] = (
      None if not np.isfinite(float(result.correlation)) else float(result.correlation)
    )
  if fit_strain.get("usable_result") and fit_geomag.get("usable_result"):
    difference = fit_geomag["x0"][0] - fit_strain["x0"][0]
    error = float(np.hypot(fit_geomag["x0"][1], fit_strain["x0"][1]))
    out["x0_difference_days"] = float(difference)
    out["x0_difference_printed_error"] = error
    spreads = [f.get("bootstrap_spread", {}).get("x0") for f in (fit_strain, fit_geomag)]
    if all(s is not None for s in spreads):
      out["x0_difference_bootstrap_spread"] = float(np.hypot(*spreads))
  return out

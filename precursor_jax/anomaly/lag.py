"""Strain-vs-geomagnetic lag: cross-correlation of daily anomaly series; x0 differences of fits.

The seed paper finds that borehole-strain anomalies lead geomagnetic ones "by several days to
weeks", comparing when the rapid accumulation stages of the cumulative curves start (its section
5.2). Two measures, both with the sign convention POSITIVE = STRAIN LEADS (the geomagnetic
response comes later):

1. `lag_by_cross_correlation`: the lag tau (whole days) that maximises the Pearson correlation
     r(tau) = corr(strain[t], geomag[t + tau])   over the days t where both are finite
   so geomag[t] = strain[t - 7] peaks at tau = +7. Pass daily series (0/1 anomalous-day flags, daily
   anomalous-point counts, or the differences of cumulative curves), both on the same UTC day grid.
   Cumulative curves themselves are monotone, so their correlation is close to 1 at every lag and
   its maximum says little; use measure 2 for them. Ties go to the smallest |tau| (then the positive
   one); lags with fewer than `min_overlap` common days, or a constant series, get NaN correlation.

2. `fit_time_difference`: t_geomag - t_strain for a characteristic time x0 + c dx of two Boltzmann
   fits (c = 0: the centres x0; c = -2: the onsets of rapid accumulation), with standard error
   sqrt(var_geomag + var_strain): the fits use different instruments' data, so they are independent.
   The fits' printed errors are far too small for cumulative curves (see anomaly/sigmoid.py);
   `bootstrap_time_difference` gives the spread from parametric bootstrap replicates of both fits.

jax.numpy throughout (jit/vmap-able; `max_lag` static).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from precursor_jax.anomaly.sigmoid import (
  BoltzmannFit,
  bootstrap_cumulative_fit,
  robust_std,
  time_at,
)


class LagResult(NamedTuple):
  """Best lag (NaN when no lag has a correlation), its correlation, and the whole curve."""

  lag: Any  # days, positive = strain leads
  correlation: Any  # r at the best lag
  lags: Any  # (2 * max_lag + 1,) -max_lag .. max_lag
  correlations: Any  # (2 * max_lag + 1,) r(tau), NaN where undefined


def _pearson(a, b, valid, min_overlap):
  n = jnp.sum(valid)
  a, b = jnp.where(valid, a, 0.0), jnp.where(valid, b, 0.0)
  mean_a, mean_b = jnp.sum(a) / jnp.maximum(n, 1), jnp.sum(b) / jnp.maximum(n, 1)
  da, db = jnp.where(valid, a - mean_a, 0.0), jnp.where(valid, b - mean_b, 0.0)
  saa, sbb, sab = jnp.sum(da * da), jnp.sum(db * db), jnp.sum(da * db)
  ok = (n >= min_overlap) & (saa > 0) & (sbb > 0)
  return jnp.where(ok, sab / jnp.sqrt(jnp.where(ok, saa * sbb, 1.0)), jnp.nan)


@functools.partial(jax.jit, static_argnames=("max_lag", "min_overlap"))
def cross_correlation(strain, geomag, max_lag: int, *, min_overlap: int = 10):
  """(lags, r): r(tau) = corr(strain[t], geomag[t + tau]) for tau in -max_lag..max_lag; (D,) in."""
  strain, geomag = jnp.asarray(strain, float), jnp.asarray(geomag, float)
  if strain.shape != geomag.shape or strain.ndim != 1:
    raise ValueError(f"need two (D,) series on one day grid, got {strain.shape}, {geomag.shape}")
  d = strain.shape[0]
  lags = jnp.arange(-max_lag, max_lag + 1)
  t = jnp.arange(d)

  def at(tau):
    shifted = t + tau
    inside = (shifted >= 0) & (shifted < d)
    later = geomag[jnp.clip(shifted, 0, d - 1)]
    valid = inside & jnp.isfinite(strain) & jnp.isfinite(later)
    return _pearson(strain, later, valid, min_overlap)

  return lags, jax.vmap(at)(lags)


@functools.partial(jax.jit, static_argnames=("max_lag", "min_overlap"))
def lag_by_cross_correlation(strain, geomag, max_lag: int, *, min_overlap: int = 10) -> LagResult:
  """Lag of maximum correlation, positive = strain leads (see the module doc); (D,) series."""
  lags, r = cross_correlation(strain, geomag, max_lag, min_overlap=min_overlap)
  # Search order 0, +1, -1, +2, -2, ...: argmax takes the first maximum, the smallest |lag|.
  order = jnp.argsort(2 * jnp.abs(lags) - (lags > 0))
  score = jnp.where(jnp.isnan(r), -jnp.inf, r)[order]
  best = order[jnp.argmax(score)]
  found = jnp.any(jnp.isfinite(r))
  return LagResult(jnp.where(found, lags[best], jnp.nan), r[best], lags, r)


def fit_time_difference(strain_fit: BoltzmannFit, geomag_fit: BoltzmannFit, widths=0.0):
  """(t_geomag - t_strain, stderr) at x0 + widths * dx of each fit; positive = strain leads."""
  t_strain, e_strain = time_at(strain_fit, widths)
  t_geomag, e_geomag = time_at(geomag_fit, widths)
  return t_geomag - t_strain, jnp.sqrt(e_strain**2 + e_geomag**2)


def bootstrap_time_difference(
  key,
  x_strain,
  strain_fit: BoltzmannFit,
  x_geomag,
  geomag_fit: BoltzmannFit,
  widths=0.0,
  *,
  n_boot: int = 200,
):
  """(t_geomag - t_strain, robust spread) from bootstrap replicates of both cumulative-curve fits.

  x_strain, x_geomag: each fit's (N,) consecutive days, on one time axis (e.g. days to the event).
  """
  key_strain, key_geomag = jax.random.split(key)
  strain = bootstrap_cumulative_fit(key_strain, x_strain, strain_fit, n_boot=n_boot)[0]
  geomag = bootstrap_cumulative_fit(key_geomag, x_geomag, geomag_fit, n_boot=n_boot)[0]
  differences = (geomag[:, 2] + widths * geomag[:, 3]) - (strain[:, 2] + widths * strain[:, 3])
  centre = time_at(geomag_fit, widths)[0] - time_at(strain_fit, widths)[0]
  return centre, robust_std(differences)

"""Boltzmann sigmoid fit of a cumulative anomaly curve, as Origin reports it, in JAX.

Model (Origin's "Boltzmann", the seed paper's Figs. 11-12):

  y(x) = A2 + (A1 - A2) / (1 + exp((x - x0) / dx)) = A1 + (A2 - A1) * sigmoid((x - x0) / dx)

A1 is the left asymptote, A2 the right one, x0 the centre (inflection point, half-way level) and dx
the width. The curve is unchanged by (A1, A2, dx) -> (A2, A1, -dx); fits are returned with dx > 0.

The fit is unweighted least squares by Levenberg-Marquardt (damping scaled by the largest diagonal
of J^T J seen so far, as MINPACK does; x0.1 after an accepted step, x10 after a rejected one) in
one `lax.while_loop`, so it jits and vmaps over many curves of one length (a `mask` selects the
points of each curve, e.g. one stage of a piecewise fit). It runs on x and y rescaled to unit
ranges, from the data-derived guess and 10 more starts spread over x (from one poor start LM can
settle on a plateau of the cost, e.g. a constant fit), and keeps the lowest RSS.
What Origin prints, and we return:
  standard errors  sqrt(diag(C)),  C = (J^T J)^-1 * RSS / (n - 4): errors scaled by the reduced
                   chi-square (Origin's default, scipy's `absolute_sigma=False`); (J^T J)^-1 from
                   an SVD of the Jacobian at the solution, so a flat direction gives inf
  reduced chi-sqr  RSS / (n - 4)
  R^2 (COD)        1 - RSS / TSS,  TSS = sum (y - mean y)^2
  adjusted R^2     1 - (RSS / (n - 4)) / (TSS / (n - 1))
Precision: under JAX's default float32 the parameters agree with scipy to ~1e-3 relative on
well-posed curves; x should be days relative to the event, not Julian days (the paper's x0 ~ 2.46e6
cannot be resolved in float32). Enable x64 for errors of poorly constrained fits. A curve whose
rise is not seen in the record has no finite best fit (A1 or A2 runs off along a valley): such a
fit stops at max_iter with converged=False and huge standard errors, as in the paper's Xiaomiao.

Initial guesses from the data (`initial_guess`): A1, A2 = the low and high data levels ordered by
the trend; and, with f = (y - A1) / (A2 - A1) clipped to [0, 1] and trapezoid integrals over the
sorted x, x0 = min x + int (1 - f) dx and dx = int f (1 - f) dx (both exact for a complete curve:
int sigmoid(z) (1 - sigmoid(z)) dz = 1).

Characteristic times a seismologist reads off the fit (`characteristic_times`), for dx > 0:
  onset of rapid accumulation  x0 - 2 dx: the tangent at the inflection meets the A1 level (the
                               curve has covered 11.9 % of A1 -> A2 there);
  end of rapid accumulation    x0 + 2 dx: the tangent meets A2 (88.1 %);
  acceleration peak            x0 - ln(2 + sqrt 3) dx = x0 - 1.317 dx: the maximum of |y''| on the
                               rising side (y''' = 0 where sigmoid = (3 - sqrt 3) / 6); x0 + 1.317
                               dx is the deceleration peak;
  maximum rate                 y'(x0) = (A2 - A1) / (4 dx) per unit x.
Their errors propagate C: var(x0 + c dx) = C_x0x0 + c^2 C_dxdx + 2 c C_x0dx.

Caveat on the errors of a fit to a CUMULATIVE curve: they assume independent residuals, but the
residuals of a running count are strongly autocorrelated (a random walk), so the printed errors are
far too small. On simulated 109-day records of 0/1 anomalous days (400 records, a Gaussian bump of
daily probability 0.9 and width 8 days) the real spread of x0 was 1.37 days against a median
printed error of 0.14. `bootstrap_cumulative_fit` (parametric bootstrap: redraw the days from the
fitted curve, refit) gave 1.40; with a 0.05/day background added it gave 2.2 against a real 3.0.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PARAM_NAMES = ("A1", "A2", "x0", "dx")
N_PARAMS = 4
ONSET_WIDTHS = 2.0  # onset / end at x0 -/+ 2 dx (tangent at the inflection meets the asymptotes)
ACCELERATION_WIDTHS = float(np.log(2.0 + np.sqrt(3.0)))  # 1.3170
# Multi-start grid in scaled units (x spans [-1, 1]).
_GRID_X0 = (-0.5, 0.0, 0.5, 1.0)
_GRID_DX = (0.05, 0.25)


class BoltzmannFit(NamedTuple):
  """A fit, (...) per field with (..., 4) params and (..., 4, 4) covariance."""

  params: Any  # A1, A2, x0, dx with dx >= 0
  cov: Any  # covariance of params, scaled by the reduced chi-square
  rss: Any  # residual sum of squares
  tss: Any  # total sum of squares about the mean
  n: Any  # points used
  iterations: Any  # LM iterations run from the start that won
  converged: Any  # that run stopped on a convergence test, not on max_iter

  @property
  def stderr(self):
    """(..., 4) standard errors of A1, A2, x0, dx."""
    return jnp.sqrt(jnp.diagonal(self.cov, axis1=-2, axis2=-1))

  @property
  def dof(self):
    """Degrees of freedom n - 4."""
    return self.n - N_PARAMS

  @property
  def reduced_chi2(self):
    """RSS / (n - 4)."""
    return self.rss / self.dof

  @property
  def r2(self):
    """Coefficient of determination 1 - RSS / TSS."""
    return 1.0 - self.rss / self.tss

  @property
  def adj_r2(self):
    """Adjusted R^2 = 1 - (RSS / (n - 4)) / (TSS / (n - 1))."""
    return 1.0 - (self.rss / self.dof) / (self.tss / (self.n - 1))

  def named(self) -> dict[str, tuple[float, float]]:
    """{'A1': (value, stderr), ...} of an unbatched fit, as Python floats."""
    return {
      name: (float(v), float(s))
      for name, v, s in zip(PARAM_NAMES, self.params, self.stderr, strict=True)
    }


class CharacteristicTimes(NamedTuple):
  """Times read off a fit, (...) each, with standard errors."""

  onset: Any  # x0 - 2 dx
  onset_err: Any
  inflection: Any  # x0
  inflection_err: Any
  end: Any  # x0 + 2 dx
  end_err: Any
  acceleration_peak: Any  # x0 - 1.317 dx
  acceleration_peak_err: Any
  max_rate: Any  # (A2 - A1) / (4 dx)
  max_rate_err: Any


def boltzmann(x, a1, a2, x0, dx):
  """A2 + (A1 - A2) / (1 + exp((x - x0) / dx)), overflow-free; broadcasts."""
  return a1 + (a2 - a1) * jax.nn.sigmoid((x - x0) / dx)


def _model(p, u):
  return boltzmann(u, p[0], p[1], p[2], p[3])


def _normalization(x, y, mask):
  """Centre and half-range of x, minimum and range of y over the masked points."""
  big = jnp.finfo(x.dtype).max
  x_lo, x_hi = jnp.min(jnp.where(mask, x, big)), jnp.max(jnp.where(mask, x, -big))
  y_lo, y_hi = jnp.min(jnp.where(mask, y, big)), jnp.max(jnp.where(mask, y, -big))
  x_scale = jnp.where(x_hi > x_lo, (x_hi - x_lo) / 2, 1.0)
  y_scale = jnp.where(y_hi > y_lo, y_hi - y_lo, 1.0)
  return (x_lo + x_hi) / 2, x_scale, y_lo, y_scale


def _prepare(x, y, mask):
  x, y = jnp.asarray(x), jnp.asarray(y)
  dtype = jnp.result_type(x, y, float)
  x, y = x.astype(dtype), y.astype(dtype)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(
      f"need (N,) x and y of equal length, got {x.shape} and {y.shape} (vmap for batches)"
    )
  valid = jnp.isfinite(x) & jnp.isfinite(y)
  if mask is not None:
    valid = valid & jnp.asarray(mask, dtype=bool)
  return jnp.where(valid, x, 0), jnp.where(valid, y, 0), valid


def _guess_unit(u, v, mask):
  """Initial (A1, A2, x0, dx) for x and y already scaled (see the module doc)."""
  n = jnp.sum(mask)
  order = jnp.argsort(jnp.where(mask, u, jnp.inf))
  us, vs, ms = u[order], v[order], mask[order]
  big = jnp.finfo(u.dtype).max
  lo, hi = jnp.min(jnp.where(mask, v, big)), jnp.max(jnp.where(mask, v, -big))
  # Trend direction from the least-squares slope of v on u.
  mean_u = jnp.sum(jnp.where(mask, u, 0)) / jnp.maximum(n, 1)
  mean_v = jnp.sum(jnp.where(mask, v, 0)) / jnp.maximum(n, 1)
  slope = jnp.sum(jnp.where(mask, (u - mean_u) * (v - mean_v), 0))
  a1, a2 = jnp.where(slope >= 0, lo, hi), jnp.where(slope >= 0, hi, lo)
  f = jnp.clip((vs - a1) / jnp.where(a2 != a1, a2 - a1, 1.0), 0.0, 1.0)
  pair = ms[1:] & ms[:-1]
  step = jnp.where(pair, us[1:] - us[:-1], 0.0)

  def integral(g):
    return jnp.sum(step * (g[1:] + g[:-1]) / 2)

  u_min = us[0]
  x0 = u_min + integral(1.0 - f)
  span = jnp.sum(step)
  dx = jnp.maximum(integral(f * (1.0 - f)), 1e-3 * jnp.maximum(span, 1e-6))
  return jnp.stack([a1, a2, x0, dx])


@jax.jit
def initial_guess(x, y, mask=None):
  """(4,) data-derived starting (A1, A2, x0, dx) for (N,) x, y (see the module doc); jit-able."""
  x, y, valid = _prepare(x, y, mask)
  xc, xs, yc, ys = _normalization(x, y, valid)
  p = _guess_unit((x - xc) / xs, (y - yc) / ys, valid)
  return jnp.stack([yc + ys * p[0], yc + ys * p[1], xc + xs * p[2], xs * p[3]])


def _levenberg_marquardt(p, u, v, mask, max_iter, ftol, xtol):
  """Minimises sum(mask * (model(p, u) - v)^2); returns (p, iterations, converged)."""
  w = mask.astype(u.dtype)

  def residual(p):
    return w * (_model(p, u) - v)

  def cost(p):
    r = residual(p)
    return jnp.sum(r * r)

  def body(state):
    p, lam, c, scale, it, _ = state
    r = residual(p)
    jac = jax.jacfwd(residual)(p)
    h, g = jac.T @ jac, jac.T @ r
    # Damping scaled by the largest curvature seen so far per parameter (More 1978, as MINPACK):
    # a direction that flattens out cannot then take an unbounded step.
    scale = jnp.maximum(scale, jnp.diagonal(h))
    step = jnp.linalg.solve(h + lam * jnp.diag(scale), -g)
    p_new = p + step
    c_new = cost(p_new)
    better = jnp.isfinite(c_new) & (c_new < c)
    small_gain = better & (c - c_new <= ftol * c)
    small_step = jnp.linalg.norm(step) <= xtol * (jnp.linalg.norm(p) + xtol)
    stuck = lam > 1e12  # no descent direction left at machine precision: a minimum
    done = small_gain | (better & small_step) | stuck | (c_new == 0)
    lam = jnp.where(better, jnp.maximum(lam * 0.1, 1e-12), lam * 10.0)
    p = jnp.where(better, p_new, p)
    c = jnp.where(better, c_new, c)
    return p, lam, c, scale, it + 1, done

  def cond(state):
    return (state[4] < max_iter) & ~state[5]

  tiny = jnp.full(N_PARAMS, jnp.finfo(u.dtype).tiny, u.dtype)
  init = (p, jnp.asarray(1e-3, u.dtype), cost(p), tiny, jnp.asarray(0), jnp.asarray(False))
  p, _, c, _, it, converged = jax.lax.while_loop(cond, body, init)
  return p, c, it, converged


def _starts(guess):
  """(K, 4) starting points in scaled units: the data guess, then a grid over x0 and dx.

  Levenberg-Marquardt from one poor start can step onto a plateau of the Boltzmann cost (all data
  on one flank, a constant fit) and stop there; a few starts spread over the x range avoid that.
  The last two starts are for curves seen only half-way: a rise still going at the right end, or
  a fall that started before the left end.
  """
  a1, a2 = guess[0], guess[1]
  rise = a2 - a1
  rows = [guess]
  for x0 in _GRID_X0:
    for dx in _GRID_DX:
      rows.append(jnp.stack([a1, a2, jnp.asarray(x0, guess.dtype), jnp.asarray(dx, guess.dtype)]))
  rows.append(
    jnp.stack([a1, a1 + 2 * rise, jnp.asarray(1.0, guess.dtype), jnp.asarray(0.3, guess.dtype)])
  )
  rows.append(
    jnp.stack([a2 - 2 * rise, a2, jnp.asarray(-1.0, guess.dtype), jnp.asarray(0.3, guess.dtype)])
  )
  return jnp.stack(rows)


@functools.partial(jax.jit, static_argnames=("max_iter", "ftol", "xtol", "multistart"))
def fit_boltzmann(
  x,
  y,
  mask=None,
  *,
  p0=None,
  multistart: bool = True,
  max_iter: int = 200,
  ftol: float | None = None,
  xtol: float | None = None,
) -> BoltzmannFit:
  """Least-squares Boltzmann fit of (N,) y against x over the finite, masked points.

  Starts from `initial_guess` and (multistart=True) 10 more points spread over x, keeping the
  lowest RSS; p0 (4,) given: from p0 alone. ftol / xtol: relative cost-decrease and step
  tolerances (default 1e-10 in float64, 1e-6 in float32). Jitted (max_iter, ftol, xtol, multistart
  static); vmap over curves of one length.
  """
  x, y, valid = _prepare(x, y, mask)
  dtype = x.dtype
  eps = jnp.finfo(dtype).eps
  ftol = (1e-10 if eps < 1e-10 else 1e-6) if ftol is None else ftol
  xtol = (1e-10 if eps < 1e-10 else 1e-6) if xtol is None else xtol
  xc, xs, yc, ys = _normalization(x, y, valid)
  u, v = (x - xc) / xs, (y - yc) / ys
  if p0 is None:
    guess = _guess_unit(u, v, valid)
    starts = _starts(guess) if multistart else guess[None]
  else:
    p0 = jnp.asarray(p0, dtype)
    starts = jnp.stack([(p0[0] - yc) / ys, (p0[1] - yc) / ys, (p0[2] - xc) / xs, p0[3] / xs])[None]
  ps, costs, its, convs = jax.vmap(
    lambda start: _levenberg_marquardt(start, u, v, valid, max_iter, ftol, xtol)
  )(starts)
  best = jnp.argmin(jnp.where(jnp.isfinite(costs), costs, jnp.inf))  # ties: the earliest start
  p, iterations, converged = ps[best], its[best], convs[best]
  # Canonical sign dx > 0: swap the asymptotes.
  flip = p[3] < 0
  p = jnp.where(flip, jnp.stack([p[1], p[0], p[2], -p[3]]), p)
  w = valid.astype(dtype)
  r = w * (_model(p, u) - v)
  rss = jnp.sum(r * r)
  n = jnp.sum(valid)
  jac = jax.jacfwd(lambda q: w * _model(q, u))(p)
  _, s, vt = jnp.linalg.svd(jac, full_matrices=False)
  inv_jtj = (vt.T / (s**2)[None, :]) @ vt  # V S^-2 V^T; inf along a flat direction
  cov = inv_jtj * rss / (n - N_PARAMS)
  to_data = jnp.stack([ys, ys, xs, xs])
  params = jnp.stack([yc + ys * p[0], yc + ys * p[1], xc + xs * p[2], xs * p[3]])
  cov = cov * to_data[:, None] * to_data[None, :]
  mean_v = jnp.sum(w * v) / n
  tss = jnp.sum(w * (v - mean_v) ** 2) * ys**2
  return BoltzmannFit(params, cov, rss * ys**2, tss, n, iterations, converged)


def time_at(fit: BoltzmannFit, widths):
  """x0 + widths * dx and its standard error (widths: scalar or broadcasting with the fit)."""
  c = jnp.asarray(widths)
  x0, dx = fit.params[..., 2], fit.params[..., 3]
  var = fit.cov[..., 2, 2] + c**2 * fit.cov[..., 3, 3] + 2 * c * fit.cov[..., 2, 3]
  return x0 + c * dx, jnp.sqrt(var)


def characteristic_times(fit: BoltzmannFit) -> CharacteristicTimes:
  """Onset (x0 - 2 dx), inflection, end (x0 + 2 dx), acceleration peak (x0 - 1.317 dx), max rate."""
  onset = time_at(fit, -ONSET_WIDTHS)
  inflection = time_at(fit, 0.0)
  end = time_at(fit, ONSET_WIDTHS)
  acceleration = time_at(fit, -ACCELERATION_WIDTHS)
  a1, a2, dx = fit.params[..., 0], fit.params[..., 1], fit.params[..., 3]
  rate = (a2 - a1) / (4 * dx)
  # Gradient of the rate with respect to (A1, A2, x0, dx).
  grad = jnp.stack([-1 / (4 * dx), 1 / (4 * dx), jnp.zeros_like(dx), -rate / dx], axis=-1)
  rate_var = jnp.einsum("...i,...ij,...j->...", grad, fit.cov, grad)
  return CharacteristicTimes(*onset, *inflection, *end, *acceleration, rate, jnp.sqrt(rate_var))


def robust_std(samples, axis=0):
  """Interquartile range / 1.349 (the standard deviation for a normal sample), along `axis`."""
  q25, q75 = jnp.percentile(samples, jnp.array([25.0, 75.0]), axis=axis)
  return (q75 - q25) / 1.349


@functools.partial(jax.jit, static_argnames=("n_boot",))
def bootstrap_cumulative_fit(key, x, fit: BoltzmannFit, mask=None, *, n_boot: int = 200):
  """Parametric bootstrap of a fit to a cumulative count of 0/1 days: ((n_boot, 4), (4,) spread).

  The fitted curve's daily increase is the probability that a day is anomalous; each replicate draws
  the days afresh from it, accumulates them from the fitted first level and is refitted. The spread
  is `robust_std` of the replicates (a few replicates may run off to a degenerate fit). x: (N,)
  consecutive days; fit: the fit to the observed curve (dx > 0, rising).
  """
  x = jnp.asarray(x, fit.params.dtype)
  level = boltzmann(x, *fit.params)
  p_day = jnp.clip(jnp.diff(level), 0.0, 1.0)
  draws = jax.random.uniform(key, (n_boot, p_day.shape[0]), dtype=x.dtype) < p_day[None, :]
  steps = jnp.concatenate([jnp.zeros((n_boot, 1), x.dtype), draws.astype(x.dtype)], axis=1)
  curves = level[0] + jnp.cumsum(steps, axis=1)
  replicates = jax.vmap(lambda y: fit_boltzmann(x, y, mask).params)(curves)
  return replicates, robust_std(replicates)

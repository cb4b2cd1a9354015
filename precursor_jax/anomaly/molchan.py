"""Alarm-based evaluation of a daily alarm function: Molchan diagram, area skill score, gain.

A station's record is D consecutive UTC days (labels: numpy datetime64[D]). An ALARM FUNCTION is
one number a day computed from data up to the end of that day (e.g. the anomalous-day count of
anomaly/residuals.py in a trailing window); NaN (or any non-finite value) means unknown. Target
events (anomaly/declustering.py) are given as day indices (`event_day_index`), -1 for "none"
(padding, or outside the record), broadcasting against the stations.

Alarms (`alarm_days`, `alarm_level`). A day d whose alarm function is >= the threshold h TRIGGERS
an alarm on the FOLLOWING `duration_days` days d+1 .. d+L. The trigger day itself is not covered
by its own alarm (its value is known only at its end, so it can forecast only later days, and a
co-seismic signal on the event day cannot count as a success); it may be covered by an earlier
trigger. An unknown value cannot trigger. Equivalently day t is under alarm iff
level(t) = max(f(t-L) .. f(t-1)) >= h, level = -inf where none of those L values is known.
h = +inf never alarms (the first point of every trajectory, (0, 1)); h = -inf alarms every day
(the trivial strategy, the last point, (1, 0)).

Molchan point (`molchan_point`, Molchan 1990, 1997). Only OBSERVED days are scored (a (D,) mask,
default every day; pass the days the station really recorded):
  tau = observed days under alarm / observed days         (fraction of time under alarm)
  nu  = target events on observed days not under alarm / target events on observed days
An event on an unobserved day is left out of both counts and reported as `n_excluded`; several
events on one day count separately (declustering makes that rare). An unobserved day may still
carry an alarm; it is simply not scored.

Trajectory (`molchan_trajectory`): one point per threshold, h = +inf, then every value of the
alarm function in decreasing order (the distinct values give every alarm set there is; the array
keeps all D so that stations stack), then -inf; K = D + 2 points, computed for all stations in one
jitted vmap (a sort and a cumulative sum per station: O(D log D), no loop over thresholds). The
alarms are nested (a lower threshold alarms a superset of days), so tau never decreases and nu never
increases along the sweep: the Molchan monotone order needs no re-sorting. Thresholds that alarm
the same observed days repeat a point (`distinct` marks the first of each); a repeated point has
zero width. Between consecutive points the trajectory is
  ties="linear" (default): the straight segment; every point on it is reached by drawing the
      alarm at random between the two neighbouring alarm sets (Molchan 1997), i.e. by taking the
      days that enter together in a random order;
  ties="step": the staircase that counts an event as hit only once its whole group is in.

Area skill score (`area_skill_score`, Zechar and Jordan 2008, GJI 172, 715-724):
  ASS = 1 - A,   A = integral_0^1 nu(tau) dtau,
the area above the trajectory. For an alarm function whose values never tie, each event i is hit
at one alarm fraction tau_i, nu(tau) is their step function and A = (1/N) sum_i tau_i. Daily
functions tie (counts, and the trailing maximum repeats a value for up to L days): a day enters
over the interval [tau_lo, tau_hi] of its group, and
  ties="linear":  A = (1/N) sum_i (tau_lo_i + tau_hi_i) / 2  (mid-ranks; trapezoid rule),
  ties="step":    A = (1/N) sum_i tau_hi_i                    (biased low by half a group).
For untied values the two differ by 1 / (2 * observed days). `day_scores` gives each day's term.
Null (the random guess: events uniform over the observed days, independent of the alarms):
tau_i ~ Uniform(0, 1) independently, so ASS is the mean of N uniforms: mean 1/2,
variance 1 / (12 N), the Irwin-Hall law scaled by 1/N (`ass_p_value`, `ass_bounds`; exact, or the
Gaussian approximation). With ties the mid-ranks vary less than uniforms and these p-values are
conservative; the Monte Carlo tests below have no such caveat.

Random-guess bounds on the diagram (`molchan_bounds`; Molchan 1997, Zechar and Jordan 2008): at
alarm fraction tau a random alarm hits H ~ Binomial(N, tau) of N events, nu = 1 - H / N.
Probability gain (`probability_gain`): G(tau) = (1 - nu(tau)) / tau, nu read off the trajectory.

Monte Carlo p-values, p = (1 + #{null ASS >= observed ASS}) / (1 + n) (explicit JAX key, all
stations and draws in one vmapped gather over `day_scores`):
- `random_alarm_test`: random alarms with the alarm fractions of the real ones, events fixed.
  "circular" (default): the alarm sequence rotated over the observed days by a random offset of at
  least `min_offset_days` either way (keeps the alarms' runs and clustering); n_draws=None takes
  every allowed offset once. "permute": the days' alarm levels permuted at random over the
  observed days (i.i.d. placement: it ignores clustering, so with clustered alarms its p-values
  come out too small).
- `shifted_catalog_test`: alarms fixed, events moved. "uniform": each event to an independent
  uniformly drawn observed day (the random-guess null itself, by simulation; like "permute" it
  ignores clustering, here of the events). "years": the whole
  catalogue shifted circularly by whole years (round(k * 365.25) days, every k whose shift is at
  least `min_offset_days`, default 182, from 0 either way), which keeps seasonal patterns; events
  that land on unobserved days drop out of that shift. Rotating the catalogue by one random
  offset is the same test as "circular" above.

Synthetic ground truth (`synthetic_record`): see its docstring; skill q gives an expected ASS
(1 + q - q N L / D) / 2, and q = 0 is a null record.

Host/device split: `alarm_level`, `alarm_days` and the trajectory and Monte Carlo kernels are JAX
(jit, vmap over stations); areas, gains, bounds and p-values are host NumPy/SciPy (integer counts
in int64, so areas are exact to float64). Alarm function values are compared in float32 (JAX's
default): values equal in float32 are one threshold.

References: Molchan (1990), Phys. Earth Planet. Inter. 61, 84-98; Molchan (1997), Pure Appl.
Geophys. 149, 233-247; Zechar and Jordan (2008), Geophys. J. Int. 172, 715-724; Zechar and Jordan
(2010), Pure Appl. Geophys. 167, 893-906 (the ASS statistic in CSEP experiments).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

TIES = ("linear", "step")
DAYS_PER_YEAR = 365.25
YEAR_SHIFT_MIN_OFFSET_DAYS = 182
P_VALUE_SLACK = 1e-6  # scores computed in float32: equal ASS values count as ties
_INT32_LIMIT = 2**31 - 1


class MolchanPoint(NamedTuple):
  """One alarm scored, (...) each."""

  tau: np.ndarray  # fraction of observed days under alarm
  nu: np.ndarray  # miss rate over the events on observed days
  hits: np.ndarray  # events on observed days under alarm
  n_alarm: np.ndarray  # observed days under alarm
  n_observed: np.ndarray  # observed days
  n_events: np.ndarray  # target events on observed days (the N of nu)
  n_excluded: np.ndarray  # target events on unobserved days, left out


class MolchanTrajectory(NamedTuple):
  """All thresholds of one alarm function per station: (..., K) per point, K = D + 2."""

  threshold: np.ndarray  # +inf, the values in decreasing order (unknown days: -inf), -inf
  n_alarm: np.ndarray  # observed days under alarm
  hits: np.ndarray  # events on observed days under alarm
  distinct: np.ndarray  # bool: the point differs from the one before (the first is True)
  n_observed: np.ndarray  # (...,)
  n_events: np.ndarray  # (...,) target events on observed days
  n_excluded: np.ndarray  # (...,) target events on unobserved days

  @property
  def tau(self) -> np.ndarray:
    """(..., K) fraction of observed days under alarm (NaN without observed days)."""
    with np.errstate(invalid="ignore", divide="ignore"):
      return self.n_alarm / self.n_observed[..., None]

  @property
  def nu(self) -> np.ndarray:
    """(..., K) miss rate (NaN without events)."""
    with np.errstate(invalid="ignore", divide="ignore"):
      return 1.0 - self.hits / self.n_events[..., None]


class AssTest(NamedTuple):
  """A Monte Carlo test of the area skill score, (...) per station."""

  observed: np.ndarray  # the record's ASS
  null: np.ndarray  # (..., n) null ASS values (NaN: an enumerated offset that was not allowed)
  p_value: np.ndarray  # (1 + #{null >= observed}) / (1 + number of null values)
  n_events: np.ndarray  # target events on observed days
  method: str


class SyntheticRecord(NamedTuple):
  """A record with a known alarm skill, (..., D) or (..., N) arrays."""

  alarm_function: np.ndarray  # (..., D) float: U(0, 1), 1 + U(0, 1) on precursor days
  event_days: np.ndarray  # (..., N) int
  observed: np.ndarray  # (..., D) bool, all True
  precursor_days: np.ndarray  # (..., N) int: the high day before each event, -1 where none
  expected_ass: np.ndarray  # (...,) (1 + P / N - L P / D) / 2 for the realised P precursors
  expected_ass_std: np.ndarray  # (...,) (1 - L P / D) sqrt((N - P) / 12) / N


# ----------------------------------------------------------------------------- inputs


def _check_duration(duration_days) -> int:
  if int(duration_days) != duration_days or duration_days < 1:
    raise ValueError(f"duration_days must be a whole number of days >= 1, got {duration_days}")
  return int(duration_days)


def _check_ties(ties: str) -> str:
  if ties not in TIES:
    raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
  return ties


def _record_inputs(alarm_function, event_days, observed):
  """Validates and broadcasts to (B, D) float, (B, E) int, (B, D) bool; returns the batch shape."""
  f = np.asarray(alarm_function)
  if f.ndim < 1 or f.shape[-1] == 0:
    raise ValueError(f"alarm_function must be (..., D) with D >= 1 days, got shape {f.shape}")
  if not (np.issubdtype(f.dtype, np.number) or f.dtype == bool):
    raise ValueError(f"alarm_function must be numeric, got dtype {f.dtype}")
  n_days = f.shape[-1]
  events = np.asarray(event_days)
  if events.ndim == 0:
    events = events[None]
  if events.size and not np.issubdtype(events.dtype, np.integer):
    raise ValueError(f"event_days must be integer day indices (-1 for none), got {events.dtype}")
  events = events.astype(np.int64)
  bad = (events < -1) | (events >= n_days)
  if np.any(bad):
    raise ValueError(
      f"event_days must lie in 0 .. {n_days - 1} (or be -1 for none); got {events[bad][0]}"
    )
  obs = np.ones(n_days, dtype=bool) if observed is None else np.asarray(observed)
  if obs.dtype != bool or obs.shape[-1:] != (n_days,):
    raise ValueError(f"observed must be a (..., {n_days}) bool mask, got {obs.dtype} {obs.shape}")
  batch = np.broadcast_shapes(f.shape[:-1], events.shape[:-1], obs.shape[:-1])
  rows = int(np.prod(batch))
  f = np.broadcast_to(f, batch + (n_days,)).reshape(rows, n_days).astype(np.float32)
  events = np.broadcast_to(events, batch + events.shape[-1:]).reshape(rows, events.shape[-1])
  obs = np.broadcast_to(obs, batch + (n_days,)).reshape(rows, n_days)
  if 2 * n_days * max(events.shape[-1], 1) > _INT32_LIMIT:
    raise ValueError(f"{n_days} days x {events.shape[-1]} events overflow the int32 score sums")
  return f, events.astype(np.int32), obs, batch


def event_day_index(times, days) -> np.ndarray:
  """(E,) index of each event's UTC day in the (D,) increasing datetime64[D] labels; -1 if absent."""
  days = np.asarray(days, dtype="datetime64[D]")
  if days.ndim != 1 or np.any(np.diff(days) <= np.timedelta64(0, "D")):
    raise ValueError("days must be (D,) strictly increasing datetime64[D] labels")
  event_days = np.asarray(times).astype("datetime64[D]")  # floors to the UTC day
  pos = np.searchsorted(days, event_days)
  found = (pos < len(days)) & (days[np.minimum(pos, len(days) - 1)] == event_days)
  return np.where(found, pos, -1)


# ----------------------------------------------------------------------------- alarms (JAX)


@functools.partial(jax.jit, static_argnames=("duration_days",))
def _level(f, duration_days: int):
  f = jnp.where(jnp.isfinite(f), f, -jnp.inf)
  lead = [(0, 0)] * (f.ndim - 1) + [(duration_days, 0)]
  padded = jnp.pad(f, lead, constant_values=-jnp.inf)
  window = (1,) * (f.ndim - 1) + (duration_days,)
  out = jax.lax.reduce_window(padded, -jnp.inf, jax.lax.max, window, (1,) * f.ndim, "VALID")
  return out[..., : f.shape[-1]]  # out[t] = max f[t - L .. t - 1]


def alarm_level(alarm_function, duration_days: int):
  """(..., D) max of the known alarm function over the L days before each day (-inf: none)."""
  f = jnp.asarray(alarm_function)
  return _level(f.astype(jnp.result_type(f.dtype, jnp.float32)), _check_duration(duration_days))


def alarm_days(alarm_function, threshold, duration_days: int):
  """(..., D) bool: under alarm, i.e. some known value >= threshold on one of the L days before."""
  return alarm_level(alarm_function, duration_days) >= jnp.asarray(threshold)


# ----------------------------------------------------------------------------- Molchan points


def _day_counts(events, observed):
  """Events per day on one station: (D,) counted on observed days, totals, excluded."""
  n_days = observed.shape[0]
  per_day = (
    jnp.zeros(n_days, jnp.int32).at[jnp.where(events >= 0, events, n_days)].add(1, mode="drop")
  )
  counted = jnp.where(observed, per_day, 0)
  return counted, counted.sum(), per_day.sum() - counted.sum()


@jax.jit
def _point_kernel(alarm, events, observed):
  def one(a, ev, obs):
    counted, n_events, n_excluded = _day_counts(ev, obs)
    n_alarm = jnp.sum(a & obs)
    return jnp.sum(jnp.where(a, counted, 0)), n_alarm, obs.sum(), n_events, n_excluded

  return jax.vmap(one)(alarm, events, observed)


def molchan_point(alarm, event_days, observed=None) -> MolchanPoint:
  """tau and nu of one (..., D) bool alarm against the (..., E) event days (-1: none)."""
  alarm = np.asarray(alarm)
  if alarm.dtype != bool:
    raise ValueError(f"alarm must be a (..., D) bool array (see alarm_days), got {alarm.dtype}")
  _, events, obs, batch = _record_inputs(alarm.astype(np.float32), event_days, observed)
  alarm = np.broadcast_to(alarm, batch + alarm.shape[-1:]).reshape(obs.shape)
  hits, n_alarm, n_obs, n_events, n_excluded = (
    np.asarray(x, dtype=np.int64).reshape(batch) for x in _point_kernel(alarm, events, obs)
  )
  with np.errstate(invalid="ignore", divide="ignore"):
    return MolchanPoint(
      n_alarm / n_obs, 1.0 - hits / n_events, hits, n_alarm, n_obs, n_events, n_excluded
    )


@functools.partial(jax.jit, static_argnames=("duration_days",))
def _trajectory_kernel(f, events, observed, duration_days: int):
  level = _level(f, duration_days)

  def one(f, level, ev, obs):
    counted, n_events, n_excluded = _day_counts(ev, obs)
    descending = -jnp.sort(jnp.where(jnp.isfinite(f), -f, jnp.inf))  # unknown values -> -inf
    threshold = jnp.concatenate([jnp.array([jnp.inf]), descending, jnp.array([-jnp.inf])])
    order = jnp.argsort(level)
    zero = jnp.zeros(1, jnp.int32)
    cum_days = jnp.concatenate([zero, jnp.cumsum(obs[order].astype(jnp.int32))])
    cum_hits = jnp.concatenate([zero, jnp.cumsum(counted[order])])
    below = jnp.searchsorted(level[order], threshold, side="left")  # days with level < h
    n_alarm = cum_days[-1] - cum_days[below]
    hits = cum_hits[-1] - cum_hits[below]
    # Nested alarms: the same number of observed alarm days means the same days, the same point.
    distinct = jnp.concatenate([jnp.array([True]), n_alarm[1:] != n_alarm[:-1]])
    return threshold, n_alarm, hits, distinct, obs.sum(), n_events, n_excluded

  return jax.vmap(one)(f, level, events, observed)


def molchan_trajectory(
  alarm_function, event_days, duration_days: int, observed=None
) -> MolchanTrajectory:
  """The Molchan trajectory over every threshold, for (..., D) alarm functions (module doc).

  event_days: (..., E) day indices, -1 for none; observed: (..., D) bool, default every day.
  All stations (leading axes) in one jitted vmap; returns NumPy arrays.
  """
  f, events, obs, batch = _record_inputs(alarm_function, event_days, observed)
  out = _trajectory_kernel(f, events, obs, _check_duration(duration_days))
  threshold, n_alarm, hits, distinct, n_obs, n_events, n_excluded = (np.asarray(x) for x in out)
  k = threshold.shape[-1]
  return MolchanTrajectory(
    threshold.reshape(batch + (k,)),
    n_alarm.astype(np.int64).reshape(batch + (k,)),
    hits.astype(np.int64).reshape(batch + (k,)),
    distinct.reshape(batch + (k,)),
    n_obs.astype(np.int64).reshape(batch),
    n_events.astype(np.int64).reshape(batch),
    n_excluded.astype(np.int64).reshape(batch),
  )


# ----------------------------------------------------------------------------- scores (host)


def area_skill_score(trajectory: MolchanTrajectory, ties: str = "linear") -> np.ndarray:
  """(...,) ASS = 1 - integral_0^1 nu dtau (Zechar and Jordan 2008); NaN without events.

  ties="linear": trapezoids between consecutive points; "step": nu held at its earlier value.
  Exact integer arithmetic: A = sum dn_alarm * (misses_before + misses_after) / (2 n N).
  """
  ties = _check_ties(ties)
  d_alarm = np.diff(trajectory.n_alarm, axis=-1)
  misses = trajectory.n_events[..., None] - trajectory.hits
  if ties == "linear":
    twice_area = np.sum(d_alarm * (misses[..., :-1] + misses[..., 1:]), axis=-1)
  else:
    twice_area = 2 * np.sum(d_alarm * misses[..., :-1], axis=-1)
  scale = 2 * trajectory.n_observed * trajectory.n_events
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(scale > 0, 1.0 - twice_area / np.maximum(scale, 1), np.nan)


def _nu_at(tau_points, nu_points, tau, ties):
  """nu at alarm fractions `tau` on one trajectory (increasing tau_points)."""
  if ties == "linear":
    return np.interp(tau, tau_points, nu_points)
  # Staircase: the last alarm that fits within tau.
  return nu_points[np.searchsorted(tau_points, tau, side="right") - 1]


def probability_gain(trajectory: MolchanTrajectory, tau, ties: str = "linear") -> np.ndarray:
  """(..., Q) G = (1 - nu(tau)) / tau at the (Q,) alarm fractions 0 < tau <= 1.

  nu(tau) is read off the trajectory as its segments define it (`ties`, as `area_skill_score`).
  """
  ties = _check_ties(ties)
  tau = np.atleast_1d(np.asarray(tau, dtype=np.float64))
  if np.any(~(tau > 0) | (tau > 1)):
    raise ValueError(f"alarm fractions must lie in (0, 1], got {tau}")
  taus, nus = trajectory.tau, trajectory.nu
  batch = taus.shape[:-1]
  taus, nus = taus.reshape(-1, taus.shape[-1]), nus.reshape(-1, nus.shape[-1])
  gain = np.stack([(1.0 - _nu_at(t, n, tau, ties)) / tau for t, n in zip(taus, nus, strict=True)])
  return gain.reshape(batch + tau.shape)


def ass_p_value(ass, n_events, method: str = "exact") -> np.ndarray:
  """One-sided p = P(ASS of a random guess >= ass) for N events (Irwin-Hall / N, or Gaussian).

  Exact for untied alarm functions; conservative with ties (module doc). NaN where N = 0.
  """
  ass, n = np.broadcast_arrays(np.asarray(ass, dtype=np.float64), np.asarray(n_events))
  out = np.full(ass.shape, np.nan)
  ok = (n > 0) & np.isfinite(ass)
  if method == "exact":
    out[ok] = stats.irwinhall(n[ok]).sf(n[ok] * ass[ok])
  elif method == "gaussian":
    out[ok] = stats.norm.sf((ass[ok] - 0.5) * np.sqrt(12.0 * n[ok]))
  else:
    raise ValueError(f"method must be 'exact' or 'gaussian', got {method!r}")
  return out


def ass_bounds(n_events, alpha: float = 0.05, method: str = "exact"):
  """(lower, upper) ASS of a random guess: P(ASS <= lower) = P(ASS >= upper) = alpha.

  Each bound is one-sided at level alpha; the band between them holds a random guess with
  probability 1 - 2 alpha. Gaussian: 1/2 -/+ z_(1 - alpha) / sqrt(12 N).
  """
  if not 0 < alpha < 0.5:
    raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
  n = np.asarray(n_events)
  if np.any(n < 1):
    raise ValueError(f"need at least one target event, got n_events={n_events}")
  if method == "exact":
    law = stats.irwinhall(n)
    return law.ppf(alpha) / n, law.isf(alpha) / n
  if method == "gaussian":
    half = stats.norm.isf(alpha) / np.sqrt(12.0 * n)
    return 0.5 - half, 0.5 + half
  raise ValueError(f"method must be 'exact' or 'gaussian', got {method!r}")


def molchan_bounds(tau, n_events: int, alpha: float = 0.05):
  """(lower, upper) random-guess bounds on nu at alarm fractions tau, for N events.

  A random alarm of fraction tau hits H ~ Binomial(N, tau). lower = 1 - h/N for the smallest h
  with P(H >= h) <= alpha: a point at or below it beats random guessing at level alpha. upper =
  1 - h/N for the largest h with P(H <= h) <= alpha: at or above it is worse than random. Where
  no h qualifies the bound lies outside [0, 1] (-1/N, or 1 + 1/N): no point can reach that level.
  """
  if not 0 < alpha < 0.5:
    raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
  if int(n_events) != n_events or n_events < 1:
    raise ValueError(f"n_events must be a whole number >= 1, got {n_events}")
  tau = np.asarray(tau, dtype=np.float64)
  h = np.arange(n_events + 2)  # 0 .. N + 1
  tail_ge = stats.binom.sf(h - 1, n_events, tau[..., None])  # P(H >= h)
  tail_le = stats.binom.cdf(h - 1, n_events, tau[..., None])  # P(H <= h - 1)
  # Smallest h with P(H >= h) <= alpha (h = N + 1 always qualifies: the tail is 0).
  h_low = np.argmax(tail_ge <= alpha, axis=-1)
  # Largest h with P(H <= h) <= alpha, written h = j - 1; j = 0 (h = -1) always qualifies.
  j = np.where(tail_le <= alpha, h, -1).max(axis=-1)
  return 1.0 - h_low / n_events, 1.0 - (j - 1) / n_events


# ----------------------------------------------------------------------------- per-day scores


def _day_score_twice_n(level, observed, ties):
  """(D,) int 2n(1 - tau_mid) ('linear') or 2n(1 - tau_hi) ('step') per day, one station."""
  # Unobserved days sort last (a level is never +inf), beyond every observed day's position.
  ranked = jnp.sort(jnp.where(observed, level, jnp.inf))
  n = observed.sum()
  at_least = n - jnp.searchsorted(ranked, level, side="left")  # observed days with level >= own
  above = n - jnp.searchsorted(ranked, level, side="right")
  if ties == "linear":
    return 2 * n - at_least - above
  return 2 * (n - at_least)


@functools.partial(jax.jit, static_argnames=("duration_days", "ties"))
def _day_scores_kernel(f, observed, duration_days: int, ties: str):
  level = _level(f, duration_days)
  return jax.vmap(functools.partial(_day_score_twice_n, ties=ties))(level, observed)


def day_scores(alarm_function, duration_days: int, observed=None, ties: str = "linear"):
  """(..., D) each observed day's ASS term 1 - tau (mid-rank or upper end; NaN if unobserved).

  The ASS of a record is the mean of these over its target events' days.
  """
  ties = _check_ties(ties)
  f, _, obs, batch = _record_inputs(alarm_function, np.zeros(0, np.int32), observed)
  twice = _day_scores_kernel(f, obs, _check_duration(duration_days), ties)
  n = obs.sum(axis=-1, keepdims=True)
  with np.errstate(invalid="ignore", divide="ignore"):
    scores = np.where(obs, np.asarray(twice) / (2.0 * n), np.nan)
  return scores.reshape(batch + (f.shape[-1],))


# ----------------------------------------------------------------------------- Monte Carlo


@functools.partial(jax.jit, static_argnames=("duration_days", "ties", "method", "n_draws"))
def _mc_kernel(key, f, events, observed, min_offset, duration_days, ties, method, n_draws):
  level = _level(f, duration_days)
  n_days = f.shape[-1]

  def one(key, level, ev, obs, min_offset):
    twice = _day_score_twice_n(level, obs, ties)
    n = obs.sum()
    present = ev >= 0
    day = jnp.where(present, ev, 0)
    valid = present & obs[day]
    n_events = valid.sum()
    observed_sum = jnp.sum(jnp.where(valid, twice[day], 0))
    rank = jnp.cumsum(obs) - 1  # rank of an observed day among the observed days
    observed_days = jnp.argsort(~obs, stable=True)  # the observed days first, in order
    if method in ("circular", "circular_all"):
      if method == "circular":
        offsets = jax.random.randint(key, (n_draws,), min_offset, n - min_offset + 1)
        allowed = jnp.ones(n_draws, bool)
      else:
        offsets = jnp.arange(n_days)
        allowed = (offsets >= min_offset) & (offsets <= n - min_offset)
      new_day = observed_days[(rank[day][None, :] + offsets[:, None]) % jnp.maximum(n, 1)]
      counted = jnp.broadcast_to(valid, new_day.shape)
    elif method == "permute":
      # A random permutation of the alarm levels over the observed days moves the distinct event
      # days to a uniform ordered sample of distinct observed days: the top k of i.i.d. uniforms
      # (k = event slots), not a full sort per draw.
      u = jax.random.uniform(key, (n_draws, n_days))
      _, chosen = jax.lax.top_k(jnp.where(jnp.arange(n_days) < n, u, -1.0), ev.shape[0])
      first = jnp.argmax(valid[None, :] & (day[None, :] == day[:, None]), axis=-1)
      ordinal = jnp.cumsum(valid & (first == jnp.arange(ev.shape[0]))) - 1
      new_day = observed_days[chosen[:, ordinal[first]]]
      counted = jnp.broadcast_to(valid, new_day.shape)
      allowed = jnp.ones(n_draws, bool)
    elif method == "uniform":
      new_day = observed_days[jax.random.randint(key, (n_draws, ev.shape[0]), 0, n)]
      counted = jnp.broadcast_to(valid, new_day.shape)
      allowed = jnp.ones(n_draws, bool)
    else:  # "years": min_offset holds the (n_shifts,) day shifts here
      new_day = (day[None, :] + min_offset[:, None]) % n_days
      counted = present[None, :] & obs[new_day]
      allowed = jnp.ones(min_offset.shape[0], bool)
    null_sum = jnp.sum(jnp.where(counted, twice[new_day], 0), axis=-1)
    null_events = counted.sum(axis=-1)
    return observed_sum, n_events, null_sum, null_events, allowed, n

  return jax.vmap(one, in_axes=(0, 0, 0, 0, None))(
    jax.random.split(key, f.shape[0]), level, events, observed, min_offset
  )


def _as_key(key):
  if isinstance(key, int | np.integer):
    return jax.random.key(int(key))
  return key


def _mc_test(key, alarm_function, event_days, duration_days, observed, ties, method, n_draws, arg):
  ties = _check_ties(ties)
  duration_days = _check_duration(duration_days)
  f, events, obs, batch = _record_inputs(alarm_function, event_days, observed)
  if n_draws is not None and (int(n_draws) != n_draws or n_draws < 1):
    raise ValueError(f"n_draws must be a whole number >= 1 (or None where allowed), got {n_draws}")
  if method == "circular":
    n_obs = obs.sum(axis=-1)
    if np.any(n_obs < 2 * arg + 1):
      raise ValueError(
        f"circular shifts of at least {arg} days need {2 * arg + 1} observed days; a station "
        f"has {n_obs.min()}"
      )
    if n_draws is None:
      method = "circular_all"
  if method in ("circular", "permute", "uniform"):
    if key is None:
      raise ValueError(f"method {method!r} draws at random: give a jax.random key or an int seed")
    if n_draws is None:
      raise ValueError(f"method {method!r} needs a number of draws")
  key = jax.random.key(0) if key is None else _as_key(key)  # unused by the enumerations
  out = _mc_kernel(key, f, events, obs, jnp.asarray(arg), duration_days, ties, method, n_draws)
  observed_sum, n_events, null_sum, null_events, allowed, n_obs = (np.asarray(x) for x in out)
  with np.errstate(invalid="ignore", divide="ignore"):
    scale = 2.0 * n_obs
    observed_ass = np.where(n_events > 0, observed_sum / (scale * n_events), np.nan)
    null = null_sum / (scale[:, None] * null_events)
    null = np.where(allowed & (null_events > 0), null, np.nan)
    used = np.isfinite(null)
    ge = np.sum(used & (null >= observed_ass[:, None] - P_VALUE_SLACK), axis=-1)
    p = np.where(np.isfinite(observed_ass), (1.0 + ge) / (1.0 + used.sum(axis=-1)), np.nan)
  return AssTest(
    observed_ass.reshape(batch),
    null.reshape(batch + null.shape[-1:]),
    p.reshape(batch),
    n_events.astype(np.int64).reshape(batch),
    method,
  )


def random_alarm_test(
  key,
  alarm_function,
  event_days,
  duration_days: int,
  observed=None,
  *,
  method: str = "circular",
  n_draws: int | None = 999,
  min_offset_days: int | None = None,
  ties: str = "linear",
) -> AssTest:
  """ASS against random alarms with the real alarm fractions (module doc), events kept.

  key: a jax.random key or an int seed. method "circular" (offsets of min_offset_days, default
  duration_days, .. n - min_offset_days observed days; n_draws=None: each once) or "permute".
  """
  if method not in ("circular", "permute"):
    raise ValueError(f"method must be 'circular' or 'permute', got {method!r}")
  if method == "permute" and np.shape(event_days)[-1] > np.shape(alarm_function)[-1]:
    raise ValueError("method 'permute' takes at most one event slot per day of the record")
  offset = _check_duration(duration_days) if min_offset_days is None else int(min_offset_days)
  if offset < 1:
    raise ValueError(f"min_offset_days must be >= 1, got {min_offset_days}")
  return _mc_test(
    key, alarm_function, event_days, duration_days, observed, ties, method, n_draws, offset
  )


def year_shifts(n_days: int, min_offset_days: int = YEAR_SHIFT_MIN_OFFSET_DAYS) -> np.ndarray:
  """Shifts round(k * 365.25) days, k = 1, 2, ..., that stay min_offset_days from 0 mod n_days."""
  k = np.arange(1, int(n_days / DAYS_PER_YEAR) + 1)
  shifts = np.round(k * DAYS_PER_YEAR).astype(np.int64)
  far = (shifts >= min_offset_days) & (n_days - shifts >= min_offset_days)
  return shifts[far]


def shifted_catalog_test(
  key,
  alarm_function,
  event_days,
  duration_days: int,
  observed=None,
  *,
  method: str = "uniform",
  n_draws: int = 999,
  min_offset_days: int = YEAR_SHIFT_MIN_OFFSET_DAYS,
  ties: str = "linear",
) -> AssTest:
  """ASS against moved catalogues, alarms kept: "uniform" events or whole-"years" shifts.

  key: a jax.random key or an int seed (unused by "years", which takes every `year_shifts`).
  """
  if method == "uniform":
    return _mc_test(
      key, alarm_function, event_days, duration_days, observed, ties, "uniform", n_draws, 0
    )
  if method != "years":
    raise ValueError(f"method must be 'uniform' or 'years', got {method!r}")
  n_days = np.shape(alarm_function)[-1]
  shifts = year_shifts(n_days, min_offset_days)
  if len(shifts) == 0:
    raise ValueError(
      f"a {n_days}-day record allows no whole-year shift {min_offset_days} days or more from 0"
    )
  return _mc_test(
    key, alarm_function, event_days, duration_days, observed, ties, "years", None, shifts
  )


# ----------------------------------------------------------------------------- ground truth


def synthetic_record(
  rng,
  n_days: int,
  n_events: int,
  *,
  lead_days: int,
  hit_probability: float,
  n_records: int | None = None,
) -> SyntheticRecord:
  """A record whose alarm function has a known skill, to be scored with duration_days = lead_days.

  Events: n_events days drawn uniformly among those in [L, D - L] at least 2 L apart (L =
  lead_days), so that no two precursor windows or alarms overlap and every alarm fits in the
  record. Alarm function: U(0, 1) every day, except that before each event, with probability
  q = hit_probability, one day drawn uniformly from the L days before it carries 1 + U(0, 1)
  (above every background value). With duration L that day's alarm covers the event.

  Expected ASS, given the realised number P of precursors: the P alarms, L P days in all, are
  the highest (tau_H = L P / D) and hit P events, each at a uniform rank among them; every other
  event ranks uniformly among the remaining days. The mean trajectory is thus the straight lines
  (0, 1) -> (tau_H, 1 - P / N) -> (1, 0), and
    E[ASS] = (1 + P / N - tau_H) / 2,   sd = (1 - tau_H) sqrt((N - P) / 12) / N
  (the hit events' ranks are a permutation of fixed values, no spread), to O(L / D): the first L
  days' shorter windows and the tied trailing maxima are ignored. q = 0 gives a null record.
  rng: a numpy Generator or seed; n_records: a leading axis of independent records.
  """
  lead = _check_duration(lead_days)
  if not 0.0 <= hit_probability <= 1.0:
    raise ValueError(f"hit_probability must lie in [0, 1], got {hit_probability}")
  span = n_days - 2 * lead + 1 - (n_events - 1) * (2 * lead - 1)  # free positions after gaps
  if n_events < 1 or span < n_events:
    raise ValueError(
      f"{n_events} events at least {2 * lead} days apart do not fit in [{lead}, {n_days - lead}]"
    )
  rng = np.random.default_rng(rng)
  shape = () if n_records is None else (int(n_records),)
  picks = np.sort(np.argsort(rng.random(shape + (span,)), axis=-1)[..., :n_events], axis=-1)
  events = lead + picks + np.arange(n_events) * (2 * lead - 1)
  f = rng.random(shape + (n_days,))
  has = rng.random(shape + (n_events,)) < hit_probability
  precursor = np.where(has, events - rng.integers(1, lead + 1, shape + (n_events,)), -1)
  flat = f.reshape(-1, n_days)  # a view: writing it writes f
  rows = np.repeat(np.arange(flat.shape[0])[:, None], n_events, axis=1)
  pre = precursor.reshape(-1, n_events)
  flat[rows[pre >= 0], pre[pre >= 0]] = 1.0 + rng.random(int(np.sum(pre >= 0)))
  p = has.sum(axis=-1)
  tau_h = lead * p / n_days
  return SyntheticRecord(
    alarm_function=flat.reshape(f.shape),
    event_days=events,
    observed=np.ones(f.shape, dtype=bool),
    precursor_days=precursor,
    expected_ass=(1.0 + p / n_events - tau_h) / 2.0,
    expected_ass_std=(1.0 - tau_h) * np.sqrt((n_events - p) / 12.0) / n_events,
  )

"""How unusual is the number of anomalous days before an earthquake? Three simple tests.

The seed paper reports cumulative curves and their sigmoid fits but no significance test; these are
ours. All look at the pre-event window W = the `window` days [event - window, event - 1] (the event
day itself is left out: co-seismic signals are not precursors) and count its anomalous USABLE days
(known verdict, not a storm day, storm status known: `residuals.usable_days`). Days that are not
usable take no part anywhere, neither as anomalous nor as calm.

- `binomial_test`: X ~ Binomial(n_W, p0), n_W = usable days in W, p0 = the anomalous fraction of the
  usable background days; p = P(X >= observed). Treats days as independent.
- `permutation_test`: the anomalous days are shuffled among all usable days of the window and the
  background (Monte Carlo, `n_draws` permutations); p = (1 + #{count >= observed}) / (1 + n_draws).
  Its exact limit is the hypergeometric tail (`hypergeometric_p`). Also treats days as exchangeable.
- `random_window_test`: the statistic is the anomalous fraction of usable days in a window; the null
  is the same statistic in `window`-day windows lying wholly in the background and at least
  `min_usable_fraction` usable: every such window once (n_draws=None, deterministic), or `n_draws`
  starts drawn uniformly with replacement. It keeps the background's own clustering (anomalous days
  come in runs), so it is the most honest of the three, but with a short record it has few windows
  and cannot give p below 1 / (1 + windows).
  p = (1 + #{null >= observed}) / (1 + number of null windows).

Background: by default the usable days BEFORE W (what was known before the window, and free of
post-seismic effects); pass a (D,) bool `background` to choose others (it must not overlap W).
Randomness only through an explicit `rng` (a numpy Generator or an int seed). Host-side NumPy/SciPy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats


class WindowTest(NamedTuple):
  """Result of one test."""

  observed: int  # anomalous usable days in the pre-event window
  window_days: int  # usable days in the pre-event window
  statistic: float  # the tested statistic (a count, or a fraction for random windows)
  p_value: float
  null: np.ndarray  # null statistics (empty for the binomial test)
  method: str


def pre_event_window(n_days: int, event_index: int, window: int) -> np.ndarray:
  """(D,) bool, True on the `window` days before day `event_index` (the event day excluded)."""
  if window <= 0:
    raise ValueError(f"window must be a positive number of days, got {window}")
  if not window <= event_index <= n_days:
    raise ValueError(
      f"the {window}-day window before day index {event_index} does not fit in a "
      f"record of {n_days} days"
    )
  mask = np.zeros(n_days, dtype=bool)
  mask[event_index - window : event_index] = True
  return mask


def _inputs(flags, usable, event_index, window, background):
  flags = np.asarray(flags, dtype=bool)
  usable = np.ones_like(flags) if usable is None else np.asarray(usable, dtype=bool)
  if flags.ndim != 1 or usable.shape != flags.shape:
    raise ValueError(f"need (D,) anomalous and usable flags, got {flags.shape}, {usable.shape}")
  in_window = pre_event_window(len(flags), event_index, window)
  if background is None:
    background = np.arange(len(flags)) < event_index - window
  background = np.asarray(background, dtype=bool)
  if background.shape != flags.shape:
    raise ValueError(f"background mask has shape {background.shape}, flags {flags.shape}")
  if np.any(background & in_window):
    raise ValueError("the background overlaps the pre-event window")
  window_usable = in_window & usable
  if not window_usable.any():
    raise ValueError(f"no usable day in the {window} days before day index {event_index}")
  if not (background & usable).any():
    raise ValueError("no usable background day")
  observed = int(np.sum(flags & window_usable))
  return flags, usable, in_window, background & usable, observed, int(window_usable.sum())


def _mc_p(null, observed) -> float:
  # Relative slack so that equal fractions computed in different orders still tie.
  return float((1 + np.sum(null >= observed - 1e-9)) / (1 + len(null)))


def binomial_test(flags, usable, event_index: int, window: int, *, background=None) -> WindowTest:
  """P(X >= observed), X ~ Binomial(usable window days, background anomalous fraction)."""
  flags, _, _, base, observed, n_window = _inputs(flags, usable, event_index, window, background)
  rate = float(np.mean(flags[base]))
  p = float(stats.binom.sf(observed - 1, n_window, rate))
  return WindowTest(observed, n_window, float(observed), p, np.empty(0), "binomial")


def hypergeometric_p(flags, usable, event_index: int, window: int, *, background=None) -> float:
  """Exact permutation p: P(count >= observed) when the anomalous days are placed at random."""
  flags, _, in_window, base, observed, n_window = _inputs(
    flags, usable, event_index, window, background
  )
  population = n_window + int(base.sum())
  anomalous_total = observed + int(np.sum(flags & base))
  return float(stats.hypergeom.sf(observed - 1, population, anomalous_total, n_window))


def permutation_test(
  flags, usable, event_index: int, window: int, *, rng, n_draws: int = 9999, background=None
) -> WindowTest:
  """Monte Carlo permutation of the anomalous days among window + background usable days."""
  flags, usable, in_window, base, observed, n_window = _inputs(
    flags, usable, event_index, window, background
  )
  rng = np.random.default_rng(rng)
  pool = in_window & usable | base
  labels = flags[pool]
  # The window's positions within the pool are fixed; permuting labels is permuting positions.
  window_in_pool = in_window[pool]
  shuffled = rng.permuted(np.broadcast_to(labels, (n_draws, len(labels))), axis=1)
  null = shuffled[:, window_in_pool].sum(axis=1)
  return WindowTest(observed, n_window, float(observed), _mc_p(null, observed), null, "permutation")


def random_window_test(
  flags,
  usable,
  event_index: int,
  window: int,
  *,
  rng=None,
  n_draws: int | None = None,
  background=None,
  min_usable_fraction: float = 0.8,
) -> WindowTest:
  """Anomalous fraction in the pre-event window against background windows of the same length."""
  flags, usable, _, base, observed, n_window = _inputs(
    flags, usable, event_index, window, background
  )
  statistic = observed / n_window
  allowed = np.asarray(
    background if background is not None else np.arange(len(flags)) < event_index - window,
    dtype=bool,
  )
  # Per window start: all days in the allowed background, enough usable days.
  kernel = np.ones(window)
  inside = np.convolve(allowed, kernel, mode="valid") == window
  n_usable = np.convolve(base, kernel, mode="valid")
  n_anomalous = np.convolve(flags & base, kernel, mode="valid")
  eligible = inside & (n_usable >= max(1, math.ceil(min_usable_fraction * window)))
  fractions = n_anomalous[eligible] / n_usable[eligible]
  if len(fractions) == 0:
    raise ValueError(
      f"no {window}-day background window with at least {min_usable_fraction:.0%} usable days"
    )
  if n_draws is None:
    null = fractions
  else:
    if rng is None:
      raise ValueError("give rng (a numpy Generator or a seed) when drawing windows at random")
    null = fractions[np.random.default_rng(rng).integers(0, len(fractions), n_draws)]
  return WindowTest(observed, n_window, statistic, _mc_p(null, statistic), null, "random_window")


# --------------------------------------------------------------------------------------------------
# Tests that keep the day-to-day dependence, on dates (what detect reports beside every fit)
# --------------------------------------------------------------------------------------------------


class DatedTest(NamedTuple):
  """A test of the pre-event window given by dates."""

  observed: int  # anomalous usable days in [event day - window, event day)
  window_days: int  # usable days there
  p_value: float
  null: np.ndarray  # the null counts
  method: str
  window_start: np.datetime64
  window_end: np.datetime64  # exclusive: the event day


def event_window(days, event_time, window: int) -> tuple[np.ndarray, np.datetime64]:
  """(D,) bool of the `window` days before the event's day (the event day excluded), on the
  (D,) consecutive datetime64[D] labels `days`; ValueError when the window is not inside them."""
  days = np.asarray(days, dtype="datetime64[D]")
  if days.ndim != 1 or len(days) == 0 or np.any(np.diff(days) != np.timedelta64(1, "D")):
    raise ValueError("days must be (D,) consecutive datetime64[D] labels")
  event_day = np.datetime64(event_time, "D")
  start = event_day - np.timedelta64(window, "D")
  if window <= 0:
    raise ValueError(f"window must be a positive number of days, got {window}")
  if start < days[0] or event_day > days[-1] + np.timedelta64(1, "D"):
    raise ValueError(
      f"the {window} days before the event ({start} .. {event_day - np.timedelta64(1, 'D')}) are not "
      f"inside the judged days {days[0]} .. {days[-1]}"
    )
  return (days >= start) & (days < event_day), start


def _window_count(labels, usable, mask):
  return int(np.sum(labels & usable & mask)), int(np.sum(usable & mask))


def circular_shift_test(days, flags, usable, event_time, window: int) -> DatedTest:
  """The anomalous-day count of the pre-event window against the same window over every circular
  shift of the day labels (flags and usable shifted together): the null keeps the clustering of
  anomalous days (runs stay runs) and asks how often a window at a random date of the record
  holds at least as many. Exhaustive (D - 1 shifts), so deterministic; p >= 1 / D."""
  flags, usable = np.asarray(flags, bool), np.asarray(usable, bool)
  mask, start = event_window(days, event_time, window)
  observed, n_window = _window_count(flags, usable, mask)
  if n_window == 0:
    raise ValueError(f"no usable day in the {window} days before the event")
  shifts = np.arange(1, len(flags))
  null = np.array([_window_count(np.roll(flags, s), np.roll(usable, s), mask)[0] for s in shifts])
  return DatedTest(
    observed,
    n_window,
    _mc_p(null, observed),
    null,
    "circular_shift",
    start,
    np.datetime64(event_time, "D"),
  )


def block_bootstrap_test(
  days, flags, usable, event_time, window: int, *, block: int, rng, n_draws: int = 999
) -> DatedTest:
  """The same count against day labels rebuilt from random circular blocks of `block` days (a
  moving-block bootstrap of the record): runs shorter than a block keep their structure."""
  flags, usable = np.asarray(flags, bool), np.asarray(usable, bool)
  mask, start = event_window(days, event_time, window)
  observed, n_window = _window_count(flags, usable, mask)
  if n_window == 0:
    raise ValueError(f"no usable day in the {window} days before the event")
  if block < 1:
    raise ValueError(f"block must be >= 1 day, got {block}")
  rng = np.random.default_rng(rng)
  length = len(flags)
  blocks = -(-length // block)
  starts = rng.integers(0, length, size=(n_draws, blocks))
  index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_draws, -1)[
    :, :length
  ] % length
  null = np.sum(flags[index] & usable[index] & mask[None, :], axis=1)
  return DatedTest(
    observed,
    n_window,
    _mc_p(null, observed),
    null,
    "block_bootstrap",
    start,
    np.datetime64(event_time, "D"),
  )

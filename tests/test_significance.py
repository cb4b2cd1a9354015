"""Significance of the anomalous-day count before an event: hand formulas and null calibration."""

import math

import numpy as np
import pytest

from precursor_jax.anomaly import significance as sig


def binomial_tail(k, n, p):
  return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def hypergeometric_tail(k, population, successes, draws):
  total = math.comb(population, draws)
  return (
    sum(
      math.comb(successes, j) * math.comb(population - successes, draws - j)
      for j in range(k, min(successes, draws) + 1)
    )
    / total
  )


def record(seed, n_days=200, rate=0.1, cluster=None):
  """Independent anomalous days at `rate`; `cluster` = (first, last, rate) raises a stretch."""
  rng = np.random.default_rng(seed)
  p = np.full(n_days, rate)
  if cluster is not None:
    p[cluster[0] : cluster[1]] = cluster[2]
  return rng.random(n_days) < p


def test_window_mask():
  mask = sig.pre_event_window(10, 7, 3)
  np.testing.assert_array_equal(np.flatnonzero(mask), [4, 5, 6])  # event day 7 left out
  with pytest.raises(ValueError, match="does not fit"):
    sig.pre_event_window(10, 2, 3)


def test_binomial_and_hypergeometric_against_hand_sums():
  flags = np.zeros(30, dtype=bool)
  flags[[2, 9, 21, 22, 24, 26]] = True  # background days 0..19: 2 of 20; window 20..29: 4 of 10
  usable = np.ones(30, dtype=bool)
  usable[[5, 25]] = False  # one background day, one window day not usable
  result = sig.binomial_test(flags, usable, event_index=30, window=10)
  assert (result.observed, result.window_days) == (4, 9)
  assert result.p_value == pytest.approx(binomial_tail(4, 9, 2 / 19), rel=1e-10)
  exact = sig.hypergeometric_p(flags, usable, 30, 10)
  assert exact == pytest.approx(hypergeometric_tail(4, 28, 6, 9), rel=1e-10)
  # A storm day (not usable) in the window takes its anomalous day out of the count.
  usable[24] = False
  assert sig.binomial_test(flags, usable, 30, 10).observed == 3


def test_permutation_converges_to_the_hypergeometric_tail_and_is_deterministic():
  flags = record(0, n_days=120, rate=0.15, cluster=(90, 120, 0.4))
  usable = np.random.default_rng(1).random(120) > 0.05
  exact = sig.hypergeometric_p(flags, usable, 120, 30)
  mc = sig.permutation_test(flags, usable, 120, 30, rng=np.random.default_rng(5), n_draws=20000)
  assert mc.p_value == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20000) + 1e-4)
  again = sig.permutation_test(flags, usable, 120, 30, rng=5, n_draws=20000)
  assert again.p_value == mc.p_value and np.array_equal(again.null, mc.null)
  # The null counts keep the number of anomalous days: their mean is the hypergeometric mean.
  pool = usable.sum()
  assert mc.null.mean() == pytest.approx(flags[usable].sum() * mc.window_days / pool, rel=0.02)


def test_random_windows_exhaustive_hand_example():
  # 12 background days before a 3-day window; anomalous on days 0, 1, 5 and in the window 13, 14.
  flags = np.zeros(15, dtype=bool)
  flags[[0, 1, 5, 13, 14]] = True
  result = sig.random_window_test(flags, None, event_index=15, window=3)
  # Background windows start at 0..9: anomalous counts 2,1,0,1,1,1,0,0,0,0 out of 3 days.
  np.testing.assert_allclose(np.sort(result.null), np.sort([2, 1, 0, 1, 1, 1, 0, 0, 0, 0]) / 3)
  assert result.statistic == pytest.approx(2 / 3)
  assert result.p_value == pytest.approx((1 + 1) / (1 + 10))  # one window ties the observed 2/3
  drawn = sig.random_window_test(flags, None, 15, 3, rng=0, n_draws=5000)
  assert drawn.p_value == pytest.approx(1 / 10, abs=0.015)  # 1 in 10 windows reaches 2/3
  with pytest.raises(ValueError, match="give rng"):
    sig.random_window_test(flags, None, 15, 3, n_draws=10)


def test_injected_cluster_gives_small_p_in_every_test():
  flags = record(3, n_days=300, rate=0.08, cluster=(270, 300, 0.6))
  usable = np.ones(300, dtype=bool)
  assert sig.binomial_test(flags, usable, 300, 30).p_value < 1e-4
  assert sig.permutation_test(flags, usable, 300, 30, rng=0, n_draws=4999).p_value < 1e-3
  windows = sig.random_window_test(flags, usable, 300, 30)
  assert windows.p_value == pytest.approx(1 / (1 + len(windows.null)))  # beats every window


def test_without_a_cluster_p_values_are_calibrated():
  """Under the null, P(p <= alpha) <= alpha (up to sampling error) for each test."""
  p_binomial, p_permutation, p_monte_carlo = [], [], []
  for seed in range(300):
    flags = record(1000 + seed, n_days=150, rate=0.12)
    usable = np.ones(150, dtype=bool)
    p_binomial.append(sig.binomial_test(flags, usable, 150, 20).p_value)
    p_permutation.append(sig.hypergeometric_p(flags, usable, 150, 20))
    if seed < 60:
      mc = sig.permutation_test(flags, usable, 150, 20, rng=seed, n_draws=999)
      p_monte_carlo.append(mc.p_value)
  for p in (p_binomial, p_permutation, p_monte_carlo):
    p = np.asarray(p)
    for alpha in (0.05, 0.2, 0.5):
      slack = 3 * np.sqrt(alpha * (1 - alpha) / len(p))
      assert np.mean(p <= alpha) <= alpha + slack
    assert np.mean(p <= 0.5) >= 0.2  # not degenerate: small p-values do occur
  # The rank of the pre-event window among random windows is uniform when nothing is injected.
  ranks = [
    sig.random_window_test(record(2000 + s, 150, 0.12), None, 150, 20).p_value for s in range(300)
  ]
  assert np.mean(np.asarray(ranks) <= 0.2) <= 0.2 + 3 * np.sqrt(0.16 / 300)


def test_bad_inputs_are_named():
  flags = np.zeros(20, dtype=bool)
  with pytest.raises(ValueError, match="no usable day"):
    sig.binomial_test(flags, np.arange(20) < 10, 20, 5)
  with pytest.raises(ValueError, match="overlaps"):
    sig.binomial_test(flags, None, 20, 5, background=np.ones(20, dtype=bool))
  with pytest.raises(ValueError, match="background window"):
    sig.random_window_test(flags, None, 20, 12)

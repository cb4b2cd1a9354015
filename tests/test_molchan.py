"""Molchan diagram, area skill score, bounds and Monte Carlo nulls: hand cases and oracles."""

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from precursor_jax.anomaly import molchan

INF = np.inf


def slow_trajectory(f, events, observed, duration):
  """(tau, nu) per threshold by brute force: +inf, each distinct value descending, -inf."""
  n_days = len(f)
  known = np.isfinite(f)
  thresholds = [INF, *sorted(set(f[known].tolist()), reverse=True), -INF]
  counted = [e for e in events if e >= 0 and observed[e]]
  points = []
  for h in thresholds:
    alarm = np.zeros(n_days, dtype=bool)
    if h == -INF:
      alarm[:] = True
    for d in range(n_days):
      if known[d] and f[d] >= h:
        alarm[d + 1 : d + 1 + duration] = True  # the following days only
    tau = np.sum(alarm & observed) / np.sum(observed)
    nu = 1.0 - sum(bool(alarm[e]) for e in counted) / len(counted)
    if not points or points[-1] != (tau, nu):
      points.append((tau, nu))
  return np.array(points)


def slow_ass(points, ties):
  tau, nu = points[:, 0], points[:, 1]
  if ties == "linear":
    return 1.0 - np.sum(np.diff(tau) * (nu[1:] + nu[:-1]) / 2)
  return 1.0 - np.sum(np.diff(tau) * nu[:-1])


def test_alarm_covers_the_following_days_and_unknown_values_never_trigger():
  f = np.array([0, 5, 0, 0, 0, np.nan, 7, 0])
  # Triggers (f >= 5) on days 1 and 6; the NaN on day 5 is unknown. Duration 2: days 2, 3 and 7
  # (day 8 is past the record); the trigger days themselves are not covered.
  np.testing.assert_array_equal(
    molchan.alarm_days(f, 5, 2), [False, False, True, True, False, False, False, True]
  )
  np.testing.assert_array_equal(
    molchan.alarm_level(f, 2), [-INF, 0, 5, 5, 0, 0, 0, 7]
  )  # day 6: max(f[4], unknown f[5]) = 0
  assert molchan.alarm_days(f, -INF, 2).all() and not molchan.alarm_days(f, INF, 2).any()
  with pytest.raises(ValueError, match="duration_days"):
    molchan.alarm_days(f, 5, 0)


def test_two_event_molchan_point_by_hand():
  alarm = np.zeros(10, dtype=bool)
  alarm[[2, 3, 4, 7]] = True  # alarm intervals: days 2-4 and day 7
  events = np.array([3, 8, -1])  # day 3 under alarm, day 8 not; -1 is padding
  point = molchan.molchan_point(alarm, events)
  # tau = 4 alarm days / 10 days; nu = 1 miss / 2 events.
  assert (point.tau, point.nu, point.hits, point.n_events) == (0.4, 0.5, 1, 2)
  observed = np.ones(10, dtype=bool)
  observed[[0, 9]] = False
  point = molchan.molchan_point(alarm, np.array([3, 8, 9]), observed)
  # tau = 4 / 8 observed days; the event on unobserved day 9 is left out and counted.
  assert (point.tau, point.nu, point.n_events, point.n_excluded) == (0.5, 0.5, 2, 1)
  # Two stations at once: station 1 has only the event on day 8.
  both = molchan.molchan_point(alarm, np.array([[3, 8], [8, -1]]))
  np.testing.assert_array_equal(both.nu, [0.5, 1.0])


def test_ten_day_trajectory_and_ass_by_hand():
  f = np.array([3, 1, 0, 2, 0, 0, 1, 0, 3, 0], dtype=float)
  events = np.array([5, 8])
  # Duration 2: level(t) = max(f[t-2], f[t-1]) = [-inf, 3, 3, 1, 2, 2, 0, 1, 1, 3].
  # h = +inf: no day                          tau 0    nu 1
  # h = 3: days 1, 2, 9                        tau 0.3  nu 1    (level 2 at day 5, 1 at day 8)
  # h = 2: + days 4, 5                         tau 0.5  nu 0.5  (day 5 hit)
  # h = 1: + days 3, 7, 8                      tau 0.8  nu 0    (day 8 hit)
  # h = 0: + day 6                             tau 0.9  nu 0
  # h = -inf: every day                        tau 1    nu 0
  traj = molchan.molchan_trajectory(f, events, 2)
  points = np.stack([traj.tau[traj.distinct], traj.nu[traj.distinct]], axis=1)
  expected = [(0, 1), (0.3, 1), (0.5, 0.5), (0.8, 0), (0.9, 0), (1, 0)]
  np.testing.assert_allclose(points, expected)
  # Trapezoids: 0.3 * (1 + 1) / 2 + 0.2 * (1 + 0.5) / 2 + 0.3 * (0.5 + 0) / 2 = 0.525.
  assert molchan.area_skill_score(traj) == pytest.approx(1 - 0.525, abs=1e-12)
  # Staircase: 0.3 * 1 + 0.2 * 1 + 0.3 * 0.5 = 0.65.
  assert molchan.area_skill_score(traj, "step") == pytest.approx(1 - 0.65, abs=1e-12)
  # Mid-ranks: day 5 enters over tau 0.3..0.5, day 8 over 0.5..0.8: 1 - (0.4 + 0.65) / 2.
  scores = molchan.day_scores(f, 2)
  np.testing.assert_allclose(scores[[5, 8]], [0.6, 0.35])
  # Gains: tau 0.5 -> 0.5 / 0.5; tau 0.8 -> 1 / 0.8; tau 0.4 on the segment: nu 0.75 -> 0.25 / 0.4.
  np.testing.assert_allclose(molchan.probability_gain(traj, [0.5, 0.8, 0.4]), [1.0, 1.25, 0.625])
  # The staircase holds nu = 1 until tau = 0.5.
  np.testing.assert_allclose(molchan.probability_gain(traj, [0.4], ties="step"), [0.0])
  # The alarm at one threshold is the trajectory's point there.
  point = molchan.molchan_point(molchan.alarm_days(f, 2.0, 2), events)
  assert (point.tau, point.nu) == (0.5, 0.5)


def test_unobserved_and_unknown_days_by_hand():
  f = np.array([1, np.nan, 2, 0, 3, 0, np.nan, 1])
  observed = np.array([1, 1, 1, 1, 0, 1, 1, 1], dtype=bool)  # day 4 not scored (it may trigger)
  events = np.array([3, 5, 4])  # day 4 unobserved: excluded
  # Duration 1: level(t) = f[t-1] = [-inf, 1, -inf, 2, 0, 3, 0, -inf]; 7 observed days.
  # h = 3: day 5 (event)       tau 1/7  nu 1/2
  # h = 2: + day 3 (event)     tau 2/7  nu 0
  # h = 1: + day 1; h = 0: + day 6; h = -inf: all 7.
  traj = molchan.molchan_trajectory(f, events, 1, observed)
  assert (traj.n_events, traj.n_excluded, traj.n_observed) == (2, 1, 7)
  points = np.stack([traj.tau[traj.distinct], traj.nu[traj.distinct]], axis=1)
  np.testing.assert_allclose(
    points, [(0, 1), (1 / 7, 0.5), (2 / 7, 0), (3 / 7, 0), (4 / 7, 0), (1, 0)]
  )
  # Area (1/7)(1 + 1/2)/2 + (1/7)(1/2)/2 = 4/28 = 1/7; staircase (1/7 + 2/7) / 2 = 3/14.
  assert molchan.area_skill_score(traj) == pytest.approx(6 / 7, abs=1e-12)
  assert molchan.area_skill_score(traj, "step") == pytest.approx(11 / 14, abs=1e-12)
  assert np.isnan(molchan.day_scores(f, 1, observed)[4])


@pytest.mark.parametrize("duration", [1, 3, 7])
def test_vectorised_trajectory_equals_a_loop_over_thresholds(duration):
  rng = np.random.default_rng(duration)
  n_stations, n_days = 4, 60
  f = rng.poisson(1.5, (n_stations, n_days)).astype(float)  # heavy ties, as day counts have
  f[rng.random(f.shape) < 0.1] = np.nan
  f[3] = rng.random(n_days)  # one station without ties
  observed = rng.random(f.shape) > 0.15
  events = rng.integers(-1, n_days, (n_stations, 9))
  events[:, 0] = events[:, 1]  # two events on one day
  traj = molchan.molchan_trajectory(f, events, duration, observed)
  day_scores = molchan.day_scores(f, duration, observed)
  oracles = [slow_trajectory(f[s], events[s], observed[s], duration) for s in range(n_stations)]
  for ties in ("linear", "step"):
    ass = molchan.area_skill_score(traj, ties)
    test = molchan.random_alarm_test(0, f, events, duration, observed, n_draws=5, ties=ties)
    scores = molchan.day_scores(f, duration, observed, ties)
    for s, oracle in enumerate(oracles):
      keep = traj.distinct[s]
      got = np.stack([traj.tau[s][keep], traj.nu[s][keep]], axis=1)
      np.testing.assert_allclose(got, oracle, atol=1e-12)
      assert ass[s] == pytest.approx(slow_ass(oracle, ties), abs=1e-12)
      counted = [e for e in events[s] if e >= 0 and observed[s, e]]
      assert np.mean(scores[s][counted]) == pytest.approx(ass[s], abs=1e-12)
      assert test.observed[s] == pytest.approx(ass[s], abs=1e-6)
  assert day_scores.shape == f.shape
  # Along the sweep tau never decreases and nu never increases.
  assert np.all(np.diff(traj.tau, axis=-1) >= 0) and np.all(np.diff(traj.nu, axis=-1) <= 0)


def irwin_hall_sf_oracle(x, n):
  """P(U_1 + ... + U_n >= x), alternating sum in exact rational arithmetic."""
  x = Fraction(x)
  cdf = sum(
    (-1) ** k * math.comb(n, k) * (x - k) ** n for k in range(0, math.floor(x) + 1)
  ) / math.factorial(n)
  return float(1 - cdf)


def test_ass_null_law_against_irwin_hall_by_hand_and_simulation():
  # N = 1: ASS is one uniform; N = 2: P(U1 + U2 >= 2a) = (2 - 2a)^2 / 2 for a >= 1/2.
  np.testing.assert_allclose(molchan.ass_p_value([0.2, 0.9], 1), [0.8, 0.1], atol=1e-12)
  assert molchan.ass_p_value(0.8, 2) == pytest.approx((2 - 1.6) ** 2 / 2, abs=1e-12)
  for a in (0.35, 0.5, 0.62, 0.8):
    assert molchan.ass_p_value(a, 7) == pytest.approx(irwin_hall_sf_oracle(7 * a, 7), abs=1e-12)
  gaussian = molchan.ass_p_value(0.6, 40, method="gaussian")
  assert gaussian == pytest.approx(stats.norm.sf(0.1 / math.sqrt(1 / (12 * 40))), rel=1e-12)
  assert np.isnan(molchan.ass_p_value(0.6, 0))
  # Bounds: N = 1 -> (alpha, 1 - alpha); N = 2 -> lower^2 * 2 = alpha (triangular lower tail).
  np.testing.assert_allclose(molchan.ass_bounds(1, 0.05), (0.05, 0.95), atol=1e-10)
  assert molchan.ass_bounds(2, 0.05)[0] == pytest.approx(math.sqrt(0.05 / 2), abs=1e-10)
  low, high = molchan.ass_bounds(30, 0.025, method="gaussian")
  half = stats.norm.isf(0.025) * math.sqrt(1 / (12 * 30))
  assert (low, high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
  # Simulated means of 5 uniforms fall below / above the exact bounds 5 % of the time each.
  means = np.random.default_rng(0).random((200_000, 5)).mean(axis=1)
  low, high = molchan.ass_bounds(5, 0.05)
  assert np.mean(means <= low) == pytest.approx(0.05, abs=0.003)
  assert np.mean(means >= high) == pytest.approx(0.05, abs=0.003)


def binomial_tail_ge(h, n, p):
  return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(max(h, 0), n + 1))


def test_molchan_bounds_against_binomial_sums():
  # N = 5, tau = 0.3: P(H >= 4) = 0.0308 <= 0.05 < P(H >= 3) = 0.163 -> lower nu = 1 - 4/5;
  # P(H <= 0) = 0.7^5 = 0.168 > 0.05 -> no point can be significantly worse: upper = 1 + 1/5.
  low, high = molchan.molchan_bounds(0.3, 5, 0.05)
  assert (low, high) == (pytest.approx(0.2), pytest.approx(1.2))
  taus = np.linspace(0.01, 0.99, 23)
  for n in (1, 4, 12):
    for alpha in (0.05, 0.1):
      low, high = molchan.molchan_bounds(taus, n, alpha)
      for tau, lo, hi in zip(taus, low, high, strict=True):
        h_low = next(h for h in range(n + 2) if binomial_tail_ge(h, n, tau) <= alpha)
        le = [h for h in range(-1, n + 1) if 1 - binomial_tail_ge(h + 1, n, tau) <= alpha]
        assert lo == pytest.approx(1 - h_low / n) and hi == pytest.approx(1 - max(le) / n)


def test_null_records_give_uniform_p_values():
  # 200 records whose alarm function is independent of the events (hit probability 0).
  rec = molchan.synthetic_record(1, 365, 8, lead_days=3, hit_probability=0.0, n_records=200)
  traj = molchan.molchan_trajectory(rec.alarm_function, rec.event_days, 3)
  ass = molchan.area_skill_score(traj)
  analytic = molchan.ass_p_value(ass, traj.n_events)
  circular = molchan.random_alarm_test(2, rec.alarm_function, rec.event_days, 3, n_draws=199)
  uniform = molchan.shifted_catalog_test(3, rec.alarm_function, rec.event_days, 3, n_draws=199)
  for p in (analytic, circular.p_value, uniform.p_value):
    assert stats.kstest(p, "uniform").pvalue > 0.001
    # Fraction below 0.05: binomial mean 10 of 200, sd 3.1.
    assert np.sum(p < 0.05) <= 22
  np.testing.assert_allclose(circular.observed, ass, atol=1e-6)


def test_skilful_synthetic_record_recovers_its_expected_ass():
  rec = molchan.synthetic_record(4, 730, 10, lead_days=5, hit_probability=0.6, n_records=200)
  events, pre = rec.event_days, rec.precursor_days
  assert np.all(np.diff(events, axis=-1) >= 10) and events.min() >= 5 and events.max() <= 725
  has = pre >= 0
  assert np.all((events - pre)[has] >= 1) and np.all((events - pre)[has] <= 5)
  assert np.sum(rec.alarm_function > 1) == np.sum(has)  # high values on precursor days only
  traj = molchan.molchan_trajectory(rec.alarm_function, events, 5)
  ass = molchan.area_skill_score(traj)
  spread = rec.expected_ass_std > 0  # a record whose every event has a precursor has none
  np.testing.assert_allclose(ass[~spread], rec.expected_ass[~spread], atol=1e-12)
  z = (ass - rec.expected_ass)[spread] / rec.expected_ass_std[spread]
  assert abs(np.mean(z)) < 4 / math.sqrt(len(z))
  assert 0.89 <= np.mean(np.abs(z) < 1.96) <= 1.0  # 95 % band, binomial sd 1.5 %
  assert np.median(molchan.ass_p_value(ass, traj.n_events)) < 0.05  # skill is detected
  # Every event announced: no spread left, the expected ASS is exact.
  perfect = molchan.synthetic_record(5, 400, 6, lead_days=4, hit_probability=1.0, n_records=20)
  ass = molchan.area_skill_score(
    molchan.molchan_trajectory(perfect.alarm_function, perfect.event_days, 4)
  )
  np.testing.assert_allclose(ass, perfect.expected_ass, atol=1e-12)


def test_circular_and_year_nulls_equal_the_recomputed_trajectories():
  rng = np.random.default_rng(7)
  n_days = 1461  # four years
  f = rng.poisson(1.0, n_days).astype(float)
  observed = rng.random(n_days) > 0.1
  events = np.array([100, 400, 401, 900, 1300, -1])
  test = molchan.random_alarm_test(None, f, events, 4, observed, n_draws=None, min_offset_days=30)
  obs_days = np.flatnonzero(observed)
  n = len(obs_days)
  rank = np.cumsum(observed) - 1
  offsets = np.arange(30, n - 30 + 1)
  counted = events[(events >= 0)]
  counted = counted[observed[counted]]
  moved = obs_days[(rank[counted][None, :] + offsets[:, None]) % n]
  oracle = molchan.area_skill_score(molchan.molchan_trajectory(f, moved, 4, observed))
  np.testing.assert_allclose(test.null[offsets], oracle, atol=1e-6)
  assert np.all(np.isnan(np.delete(test.null, offsets)))
  ge = np.sum(oracle >= test.observed - 1e-6)
  assert test.p_value == pytest.approx((1 + ge) / (1 + len(oracle)))
  # Whole-year shifts: 365, 730 and 1096 days; events that land on unobserved days drop out.
  np.testing.assert_array_equal(molchan.year_shifts(n_days), [365, 730, 1096])
  np.testing.assert_array_equal(molchan.year_shifts(1500), [365, 730, 1096])  # 1461 is 39 from 0
  years = molchan.shifted_catalog_test(None, f, events, 4, observed, method="years")
  real = events[events >= 0]
  shifted = (real[None, :] + np.array([365, 730, 1096])[:, None]) % n_days
  oracle = molchan.area_skill_score(molchan.molchan_trajectory(f, shifted, 4, observed))
  np.testing.assert_allclose(years.null, oracle, atol=1e-6)


def test_uniform_and_permutation_nulls_have_their_exact_moments():
  rng = np.random.default_rng(11)
  n_days = 500
  f = rng.random(n_days)
  observed = rng.random(n_days) > 0.05
  events = rng.choice(np.flatnonzero(observed), 12, replace=False)
  scores = molchan.day_scores(f, 2, observed)[observed]
  var = np.var(scores)
  # "uniform": the mean of 12 independent draws from the observed days' scores.
  # Sample variances of 10^4 near-Gaussian draws: relative sd 1.4 %.
  uniform = molchan.shifted_catalog_test(0, f, events, 2, observed, n_draws=10_000)
  assert np.mean(uniform.null) == pytest.approx(np.mean(scores), abs=4 * math.sqrt(var / 12 / 1e4))
  assert np.var(uniform.null) == pytest.approx(var / 12, rel=0.06)
  permute = molchan.random_alarm_test(0, f, events, 2, observed, method="permute", n_draws=10_000)
  n = observed.sum()
  # "permute": 12 distinct days, without replacement (finite-population correction).
  assert np.var(permute.null) == pytest.approx(var / 12 * (n - 12) / (n - 1), rel=0.06)
  # Two events on one day stay on one day under "permute" (the null is one day's score, variance
  # var), not under "uniform" (two independent days, var / 2). The other ten slots are padding,
  # so the kernels compiled above are reused.
  same = np.full(12, -1)
  same[:2] = np.flatnonzero(observed)[100]
  permute = molchan.random_alarm_test(1, f, same, 2, observed, method="permute", n_draws=10_000)
  assert np.all(np.isin(permute.null, scores))
  assert np.var(permute.null) == pytest.approx(var, rel=0.06)
  uniform = molchan.shifted_catalog_test(1, f, same, 2, observed, n_draws=10_000)
  assert np.var(uniform.null) == pytest.approx(var / 2, rel=0.06)
  # Explicit randomness: the same key, the same draws; another key, others.
  again = molchan.shifted_catalog_test(1, f, same, 2, observed, n_draws=10_000)
  np.testing.assert_array_equal(again.null, uniform.null)
  other = molchan.shifted_catalog_test(2, f, same, 2, observed, n_draws=10_000)
  assert not np.array_equal(other.null, uniform.null)


def test_event_day_index_floors_to_the_utc_day():
  days = np.arange(np.datetime64("2013-04-01"), np.datetime64("2013-04-30"))
  times = np.array(
    ["2013-04-20T00:02:46", "2013-04-19T23:59:59.999", "2013-03-31T12:00", "2013-04-30T00:00"],
    dtype="datetime64[ms]",
  )
  np.testing.assert_array_equal(molchan.event_day_index(times, days), [19, 18, -1, -1])


def test_bad_inputs_are_refused_with_the_field_named():
  f = np.zeros(10)
  with pytest.raises(ValueError, match="event_days must lie in 0 .. 9"):
    molchan.molchan_trajectory(f, [10], 2)
  with pytest.raises(ValueError, match="integer day indices"):
    molchan.molchan_trajectory(f, [1.5], 2)
  with pytest.raises(ValueError, match="observed must be"):
    molchan.molchan_trajectory(f, [1], 2, observed=np.ones(9, dtype=bool))
  with pytest.raises(ValueError, match="ties"):
    molchan.area_skill_score(molchan.molchan_trajectory(f, [1], 2), ties="mid")
  with pytest.raises(ValueError, match="give a jax.random key"):
    molchan.random_alarm_test(None, f, [1], 2)
  with pytest.raises(ValueError, match="need 9 observed days"):
    molchan.random_alarm_test(0, f[:8], [1], 2, min_offset_days=4)
  with pytest.raises(ValueError, match="no whole-year shift"):
    molchan.shifted_catalog_test(None, f, [1], 2, method="years")
  with pytest.raises(ValueError, match=r"alarm fractions must lie in \(0, 1\]"):
    molchan.probability_gain(molchan.molchan_trajectory(f, [1], 2), [0.0])
  with pytest.raises(ValueError, match="do not fit"):
    molchan.synthetic_record(0, 50, 10, lead_days=5, hit_probability=0.5)

"""Boltzmann fit against scipy.optimize.curve_fit (parameters, errors, R^2) and hand formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import curve_fit

from precursor_jax.anomaly import sigmoid as sg


def boltzmann_np(x, a1, a2, x0, dx):
  """The paper's printed form, in NumPy float64."""
  with np.errstate(over="ignore"):
    return a2 + (a1 - a2) / (1.0 + np.exp((x - x0) / dx))


def scipy_fit(x, y, p0):
  """Oracle: MINPACK LM, errors scaled by the reduced chi-square (absolute_sigma=False)."""
  popt, pcov = curve_fit(boltzmann_np, x, y, p0=p0, maxfev=20000, ftol=1e-13, xtol=1e-13)
  rss = float(np.sum((boltzmann_np(x, *popt) - y) ** 2))
  if popt[3] < 0:  # canonical dx > 0, as fit_boltzmann returns
    perm = [1, 0, 2, 3]
    popt = np.array([popt[1], popt[0], popt[2], -popt[3]])
    pcov = pcov[np.ix_(perm, perm)] * np.outer([1, 1, 1, -1], [1, 1, 1, -1])
  tss = float(np.sum((y - y.mean()) ** 2))
  n = len(x)
  return popt, np.sqrt(np.diag(pcov)), 1 - rss / tss, 1 - (rss / (n - 4)) / (tss / (n - 1)), rss


def synthetic(seed, noise, params=(0.0, 40.0, -45.0, 9.0), n=121):
  rng = np.random.default_rng(seed)
  x = np.arange(-n + 1, 1, dtype=float)  # days before the event
  return x, boltzmann_np(x, *params) + rng.normal(0.0, noise, n)


def test_model_hand_values_and_overflow():
  assert float(sg.boltzmann(3.0, 1.0, 5.0, 3.0, 2.0)) == pytest.approx(3.0)  # half-way at x0
  assert float(sg.boltzmann(3.0 + 2.0 * np.log(3.0), 1.0, 5.0, 3.0, 2.0)) == pytest.approx(4.0)
  x = np.array([-1e4, -10.0, 0.0, 7.5, 1e4])
  np.testing.assert_allclose(
    np.asarray(sg.boltzmann(x, -2.0, 30.0, 1.0, 0.01)),
    boltzmann_np(x, -2.0, 30.0, 1.0, 0.01),
    rtol=1e-6,
  )


def test_noiseless_curve_is_recovered_exactly():
  truth = np.array([-1.75, 39.6, -30.0, 15.7])
  x = np.arange(-120.0, 1.0)
  y = boltzmann_np(x, *truth)
  with jax.enable_x64(True):
    fit = sg.fit_boltzmann(x, y)
    np.testing.assert_allclose(np.asarray(fit.params), truth, rtol=1e-8)
    assert float(fit.r2) == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.asarray(fit.stderr) < 1e-6) and bool(fit.converged)
  fit32 = sg.fit_boltzmann(x, y)  # default float32
  assert fit32.params.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(fit32.params), truth, rtol=2e-4, atol=2e-3)


@pytest.mark.parametrize(
  "seed,noise,params",
  [
    (0, 1.0, (0.0, 40.0, -45.0, 9.0)),
    (1, 0.5, (3.0, 12.0, -80.0, 4.0)),
    (2, 2.0, (-5.0, 60.0, -20.0, 25.0)),  # not saturated at the right end
    (3, 0.3, (30.0, 2.0, -60.0, 12.0)),  # decreasing
  ],
)
def test_noisy_fits_match_scipy_in_float64(seed, noise, params):
  x, y = synthetic(seed, noise, params)
  with jax.enable_x64(True):
    p0 = np.asarray(sg.initial_guess(x, y))
    fit = sg.fit_boltzmann(x, y)
    popt, perr, r2, adj_r2, rss = scipy_fit(x, y, p0)
    # The minimum is flat along some directions: compare in units of the standard errors.
    np.testing.assert_array_less(np.abs(np.asarray(fit.params) - popt), 1e-4 * perr)
    np.testing.assert_allclose(np.asarray(fit.stderr), perr, rtol=1e-4)
    assert float(fit.rss) == pytest.approx(rss, rel=1e-8)
    assert float(fit.r2) == pytest.approx(r2, abs=1e-10)
    assert float(fit.adj_r2) == pytest.approx(adj_r2, abs=1e-10)
    assert float(fit.reduced_chi2) == pytest.approx(rss / (len(x) - 4), rel=1e-8)
    assert bool(fit.converged) and float(fit.params[3]) > 0


def test_noisy_fit_in_float32_is_close_to_scipy():
  x, y = synthetic(5, 1.0)
  fit = sg.fit_boltzmann(x, y)
  popt, perr, r2, _, _ = scipy_fit(x, y, np.asarray(sg.initial_guess(x, y), float))
  np.testing.assert_allclose(np.asarray(fit.params), popt, rtol=2e-3, atol=2e-2)
  np.testing.assert_allclose(np.asarray(fit.stderr), perr, rtol=2e-2)
  assert float(fit.r2) == pytest.approx(r2, abs=1e-4)


@pytest.mark.filterwarnings("ignore:Covariance of the parameters could not be estimated")
@pytest.mark.parametrize("kind", ["sine", "noise", "line"])
def test_poor_models_have_low_r2_like_scipy(kind):
  rng = np.random.default_rng(7)
  x = np.arange(0.0, 120.0)
  y = {
    "sine": 10 * np.sin(2 * np.pi * x / 40) + rng.normal(0, 1, x.size),
    "noise": rng.normal(0, 1, x.size),
    "line": 0.2 * x + rng.normal(0, 8, x.size),
  }[kind]
  with jax.enable_x64(True):
    p0 = np.asarray(sg.initial_guess(x, y))
    fit = sg.fit_boltzmann(x, y, max_iter=2000)
    _, _, r2, _, rss = scipy_fit(x, y, p0)
    # Both searches may stop in different places of a flat valley; ours must fit as well.
    assert float(fit.rss) <= rss * (1 + 1e-5)
    assert float(fit.r2) == pytest.approx(r2, abs=2e-3)
    assert float(fit.r2) < 0.6


def test_mask_missing_values_and_vmap_over_curves():
  x, y = synthetic(8, 1.0)
  y_missing = y.copy()
  y_missing[::7] = np.nan
  keep = np.isfinite(y_missing)
  with jax.enable_x64(True):
    ref = sg.fit_boltzmann(x[keep], y[keep])
    fit = sg.fit_boltzmann(x, y_missing)
    np.testing.assert_allclose(np.asarray(fit.params), np.asarray(ref.params), rtol=1e-7)
    assert int(fit.n) == keep.sum()
    # A batch of curves of one length: a stage selected by a mask, a second station, the full curve.
    stage = x > -90
    ys = np.stack([y, synthetic(9, 0.5, (1.0, 20.0, -70.0, 5.0))[1], y])
    masks = np.stack([stage, np.ones_like(stage), np.ones_like(stage)])
    batch = jax.vmap(sg.fit_boltzmann, in_axes=(None, 0, 0))(x, ys, masks)
    for i in range(3):
      single = sg.fit_boltzmann(x[masks[i]], ys[i][masks[i]])
      np.testing.assert_allclose(np.asarray(batch.params[i]), np.asarray(single.params), rtol=1e-7)
      np.testing.assert_allclose(np.asarray(batch.stderr[i]), np.asarray(single.stderr), rtol=1e-6)


def test_too_few_points_and_iteration_limit_are_flagged():
  x = np.arange(4.0)
  fit = sg.fit_boltzmann(x, boltzmann_np(x, 0.0, 1.0, 1.5, 0.5))
  assert not np.any(np.isfinite(np.asarray(fit.stderr)))  # n - 4 = 0 degrees of freedom
  x, y = synthetic(10, 1.0)
  assert not bool(sg.fit_boltzmann(x, y, max_iter=1).converged)


def test_initial_guess_is_close_on_a_complete_curve():
  truth = (0.0, 40.0, -60.0, 8.0)
  x = np.arange(-200.0, 1.0)
  guess = np.asarray(sg.initial_guess(x, boltzmann_np(x, *truth)))
  np.testing.assert_allclose(guess, truth, atol=0.05 * 40)


def test_characteristic_times_match_the_curve_shape():
  truth = np.array([2.0, 42.0, -40.0, 6.0])
  x = np.arange(-150.0, 1.0)
  with jax.enable_x64(True):
    fit = sg.fit_boltzmann(x, boltzmann_np(x, *truth))
    times = sg.characteristic_times(fit)
  grid = np.linspace(-100, 20, 240001)
  curve = boltzmann_np(grid, *truth)
  slope = np.gradient(curve, grid)
  i0 = np.argmax(slope)
  # The tangent at the inflection meets the asymptotes at the onset and the end.
  assert float(times.inflection) == pytest.approx(grid[i0], abs=1e-3)
  tangent_meets = grid[i0] + (truth[:2] - curve[i0]) / slope[i0]
  assert float(times.onset) == pytest.approx(tangent_meets[0], abs=1e-3)
  assert float(times.end) == pytest.approx(tangent_meets[1], abs=1e-3)
  assert float(times.max_rate) == pytest.approx(slope[i0], rel=1e-6)
  # The acceleration peak is the maximum of the second derivative.
  assert float(times.acceleration_peak) == pytest.approx(
    grid[np.argmax(np.gradient(slope, grid))], abs=2e-3
  )
  # Fraction of the rise covered at the onset: 1 / (1 + e^2) = 11.9 %.
  onset_level = boltzmann_np(float(times.onset), *truth)
  assert (onset_level - truth[0]) / (truth[1] - truth[0]) == pytest.approx(0.1192, abs=1e-4)


def test_characteristic_time_errors_propagate_the_covariance():
  rng = np.random.default_rng(11)
  a = rng.normal(size=(4, 4))
  cov = a @ a.T
  params = np.array([1.0, 30.0, -20.0, 5.0])
  fit = sg.BoltzmannFit(jnp.asarray(params), jnp.asarray(cov), 1.0, 10.0, 50, 5, True)
  times = sg.characteristic_times(fit)
  # Delta method with finite-difference gradients, as an independent oracle.

  def numeric_err(func):
    grad = np.array([(func(params + h) - func(params - h)) / 2e-6 for h in np.eye(4) * 1e-6])
    return np.sqrt(grad @ cov @ grad)

  assert float(times.onset_err) == pytest.approx(numeric_err(lambda p: p[2] - 2 * p[3]), rel=1e-5)
  assert float(times.acceleration_peak_err) == pytest.approx(
    numeric_err(lambda p: p[2] - np.log(2 + np.sqrt(3)) * p[3]), rel=1e-5
  )
  assert float(times.end_err) == pytest.approx(numeric_err(lambda p: p[2] + 2 * p[3]), rel=1e-5)
  assert float(times.inflection_err) == pytest.approx(np.sqrt(cov[2, 2]), rel=1e-6)
  assert float(times.max_rate_err) == pytest.approx(
    numeric_err(lambda p: (p[1] - p[0]) / (4 * p[3])), rel=1e-4
  )


def test_named_output():
  x, y = synthetic(12, 1.0)
  named = sg.fit_boltzmann(x, y).named()
  assert list(named) == ["A1", "A2", "x0", "dx"]
  assert named["x0"][0] == pytest.approx(-45.0, abs=1.0) and named["x0"][1] > 0


@pytest.mark.filterwarnings("ignore:Covariance of the parameters could not be estimated")
def test_random_curves_including_ill_posed_ones_fit_as_well_as_scipy():
  """Transitions inside and outside the record, float32, vmapped: never worse than MINPACK."""
  rng = np.random.default_rng(13)
  x = np.arange(-119.0, 1.0)
  ys = []
  for _ in range(24):
    a1 = rng.uniform(-5, 5)
    truth = (a1, a1 + rng.uniform(5, 80), rng.uniform(-140, 20), rng.uniform(1, 40))
    ys.append(boltzmann_np(x, *truth) + rng.normal(0, rng.uniform(0.1, 3), x.size))
  ys = np.array(ys)
  fits = jax.vmap(sg.fit_boltzmann, in_axes=(None, 0))(x, ys)
  guesses = np.asarray(jax.vmap(sg.initial_guess, in_axes=(None, 0))(x, ys), float)
  for i in range(len(ys)):
    scipy_rss = scipy_fit(x, ys[i], guesses[i])[4]
    assert float(fits.rss[i]) <= scipy_rss * (1 + 1e-3)


def test_bootstrap_spread_matches_the_real_spread_where_printed_errors_do_not():
  """Cumulative 0/1 day counts: Origin-style errors are ~10x too small; the bootstrap is not."""
  rng = np.random.default_rng(14)
  x = np.arange(-109.0, 0.0)
  p_day = 0.9 * np.exp(-0.5 * ((x + 20) / 8) ** 2)
  curves = np.cumsum(rng.random((200, x.size)) < p_day, axis=1).astype(float)
  fits = jax.vmap(sg.fit_boltzmann, in_axes=(None, 0))(x, curves)
  real = np.asarray(sg.robust_std(fits.params))  # spread over independent records
  boot, printed = [], []
  for i in range(8):
    fit = jax.tree.map(lambda a, i=i: a[i], fits)
    replicates, spread = sg.bootstrap_cumulative_fit(jax.random.key(i), x, fit, n_boot=100)
    assert replicates.shape == (100, 4)
    boot.append(np.asarray(spread))
    printed.append(np.asarray(fit.stderr))
  boot, printed = np.median(boot, axis=0), np.median(printed, axis=0)
  np.testing.assert_allclose(boot[1:], real[1:], rtol=0.35)  # A2, x0, dx
  assert np.all(real[1:] > 4 * printed[1:])
  first = jax.tree.map(lambda a: a[0], fits)
  once = sg.bootstrap_cumulative_fit(jax.random.key(0), x, first, n_boot=100)[1]
  twice = sg.bootstrap_cumulative_fit(jax.random.key(0), x, first, n_boot=100)[1]
  np.testing.assert_array_equal(np.asarray(once), np.asarray(twice))  # the key decides


def test_robust_std_of_a_normal_sample():
  sample = np.random.default_rng(15).normal(3.0, 2.0, size=(20000, 2))
  np.testing.assert_allclose(np.asarray(sg.robust_std(sample)), [2.0, 2.0], rtol=0.03)

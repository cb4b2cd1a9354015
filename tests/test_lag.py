"""Strain-vs-geomagnetic lag: cross-correlation lag and the difference of fitted centres."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from precursor_jax.anomaly import lag as lg
from precursor_jax.anomaly import sigmoid as sg


def pearson_loop(strain, geomag, tau):
  """Slow oracle: corr(strain[t], geomag[t + tau]) over the days where both exist."""
  pairs = [
    (strain[t], geomag[t + tau])
    for t in range(len(strain))
    if 0 <= t + tau < len(geomag) and np.isfinite(strain[t]) and np.isfinite(geomag[t + tau])
  ]
  a, b = np.array(pairs).T
  return np.corrcoef(a, b)[0, 1]


@pytest.mark.parametrize("true_lag", [7, -4, 0, 19])
def test_known_lag_is_recovered_with_the_sign_convention(true_lag):
  rng = np.random.default_rng(true_lag + 100)
  n = 200
  drive = (rng.random(n + 60) < 0.2).astype(float)  # anomalous-day flags
  strain = drive[30 : 30 + n]
  geomag = drive[30 - true_lag : 30 - true_lag + n].copy()  # geomag[t] = strain[t - lag]
  flip = rng.random(n) < 0.05  # some independent noise days
  geomag[flip] = 1 - geomag[flip]
  geomag[50:60] = np.nan  # missing days
  result = lg.lag_by_cross_correlation(strain, geomag, max_lag=30)
  assert float(result.lag) == true_lag  # positive = strain leads
  assert result.lags.shape == (61,)
  for tau in (-30, -3, 0, true_lag, 25):
    assert float(result.correlations[tau + 30]) == pytest.approx(
      pearson_loop(strain, geomag, tau), abs=1e-5
    )


def test_ties_go_to_the_smallest_lag_and_undefined_lags_are_nan():
  # A constant-zero strain series has no correlation at any lag.
  result = lg.lag_by_cross_correlation(np.zeros(50), np.arange(50.0), max_lag=5)
  assert np.isnan(float(result.lag)) and np.all(np.isnan(np.asarray(result.correlations)))
  # Period-10 series: r = 1 at lags -10, 0 and +10; the tie goes to 0.
  days = np.arange(100)
  series = (days % 10 == 0).astype(float)
  assert float(lg.lag_by_cross_correlation(series, series, max_lag=12).lag) == 0.0
  # Shifted by 3: maxima at 3 and -7; the smaller |lag| wins.
  assert float(lg.lag_by_cross_correlation(series, np.roll(series, 3), max_lag=12).lag) == 3.0
  # Too little overlap at the longest lags.
  _, r = lg.cross_correlation(np.arange(20.0), np.arange(20.0) ** 2, max_lag=15, min_overlap=10)
  assert np.all(np.isnan(np.asarray(r[:5]))) and np.all(np.isfinite(np.asarray(r[5:-5])))


def test_lag_vmaps_over_station_pairs():
  rng = np.random.default_rng(1)
  strain = (rng.random((3, 150)) < 0.25).astype(float)
  geomag = np.stack([np.roll(strain[i], lag) for i, lag in enumerate([2, 9, -5])])
  geomag[:, :12] = np.nan  # the wrapped-around days
  lags = jax.vmap(lambda s, g: lg.lag_by_cross_correlation(s, g, max_lag=15).lag)(strain, geomag)
  np.testing.assert_array_equal(np.asarray(lags), [2, 9, -5])


def test_fit_time_difference_of_boltzmann_centres():
  x = np.arange(-300.0, 1.0)
  rng = np.random.default_rng(2)
  strain_curve = sg.boltzmann(x, 0.0, 60.0, -150.0, 15.0) + rng.normal(0, 1.0, x.size)
  geomag_curve = sg.boltzmann(x, 0.0, 35.0, -125.0, 8.0) + rng.normal(0, 1.0, x.size)
  with jax.enable_x64(True):
    strain_fit = sg.fit_boltzmann(x, strain_curve)
    geomag_fit = sg.fit_boltzmann(x, geomag_curve)
    diff, err = lg.fit_time_difference(strain_fit, geomag_fit)
    assert float(diff) == pytest.approx(float(geomag_fit.params[2] - strain_fit.params[2]))
    assert float(err) == pytest.approx(
      np.hypot(float(strain_fit.stderr[2]), float(geomag_fit.stderr[2]))
    )
    assert abs(float(diff) - 25.0) < 4 * float(err)  # true lag 25 days, strain leads
    # Onsets x0 - 2 dx: 150 + 30 = -180 (strain) and -125 - 16 = -141 (geomag): 39 days.
    onset_diff, onset_err = lg.fit_time_difference(strain_fit, geomag_fit, widths=-2.0)
    assert abs(float(onset_diff) - 39.0) < 4 * float(onset_err)
    on_s = sg.characteristic_times(strain_fit)
    on_g = sg.characteristic_times(geomag_fit)
    assert float(onset_diff) == pytest.approx(float(on_g.onset - on_s.onset))
    assert float(onset_err) == pytest.approx(float(jnp.hypot(on_s.onset_err, on_g.onset_err)))


def test_bootstrap_time_difference_is_wider_than_the_printed_error():
  rng = np.random.default_rng(3)
  x_strain, x_geomag = np.arange(-300.0, 0.0), np.arange(-109.0, 0.0)
  bump = 0.9 * np.exp(-0.5 * ((x_strain + 45) / 8) ** 2)
  strain_curve = np.cumsum(rng.random(x_strain.size) < bump).astype(float)
  bump = 0.9 * np.exp(-0.5 * ((x_geomag + 25) / 6) ** 2)
  geomag_curve = np.cumsum(rng.random(x_geomag.size) < bump).astype(float)
  strain_fit = sg.fit_boltzmann(x_strain, strain_curve)
  geomag_fit = sg.fit_boltzmann(x_geomag, geomag_curve)
  diff, printed = lg.fit_time_difference(strain_fit, geomag_fit)
  centre, spread = lg.bootstrap_time_difference(
    jax.random.key(0), x_strain, strain_fit, x_geomag, geomag_fit, n_boot=100
  )
  assert float(centre) == pytest.approx(float(diff), rel=1e-6)
  assert float(spread) > 3 * float(printed)
  assert abs(float(diff) - 20.0) < 3 * float(spread)  # true lag 20 days, strain leads

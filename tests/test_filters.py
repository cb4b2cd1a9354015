"""Cleaning filters: Savitzky-Golay and moving average against slow NumPy oracles."""

import numpy as np
import pytest

from precursor_jax.signal import filters
from precursor_jax.synthetic import geoelectric as background_model


def savgol_oracle(x, window, order):
  """Least-squares polynomial per window; the ends take the first / last window's polynomial."""
  half = window // 2
  out = np.empty_like(x)
  t = np.arange(window)
  for i in range(half, len(x) - half):
    coeffs = np.polyfit(t, x[i - half : i + half + 1], order)
    out[i] = np.polyval(coeffs, half)
  first = np.polyfit(t, x[:window], order)
  last = np.polyfit(t, x[-window:], order)
  out[:half] = np.polyval(first, t[:half])
  out[-half:] = np.polyval(last, t[-half:])
  return out


def moving_average_oracle(x, window):
  half = window // 2
  return np.array([x[max(0, i - half) : i + half + 1].mean() for i in range(len(x))])


@pytest.mark.parametrize("window,order", [(5, 2), (31, 2), (61, 3), (61, 4), (11, 0)])
def test_savgol_matches_polynomial_fit_oracle(window, order):
  x = np.random.default_rng(window * 10 + order).normal(size=400).cumsum()
  np.testing.assert_allclose(
    filters.savgol_smooth(x, window, order), savgol_oracle(x, window, order), rtol=0, atol=1e-8
  )


@pytest.mark.parametrize("window", [1, 3, 31, 61])
def test_moving_average_matches_loop_oracle(window):
  x = np.random.default_rng(window).normal(size=300)
  np.testing.assert_allclose(
    filters.moving_average(x, window), moving_average_oracle(x, window), rtol=0, atol=1e-12
  )


def test_filters_work_along_last_axis_of_a_batch():
  x = np.random.default_rng(0).normal(size=(3, 500))
  batch = filters.clean_day(x)
  for row, out in zip(x, batch, strict=True):
    np.testing.assert_allclose(out, filters.clean_day(row), atol=1e-12)


def test_clean_day_is_savgol_then_moving_average():
  x = np.random.default_rng(1).normal(size=1000)
  params = filters.CleaningParams(savgol_window=21, savgol_polyorder=3, moving_average_window=15)
  expected = moving_average_oracle(savgol_oracle(x, 21, 3), 15)
  np.testing.assert_allclose(filters.clean_day(x, params), expected, atol=1e-8)


def test_clean_day_keeps_a_constant_and_a_quadratic_inside():
  t = np.arange(2000.0)
  np.testing.assert_allclose(filters.clean_day(np.full(2000, 123.4)), 123.4, atol=1e-9)
  quad = 1e-5 * (t - 1000) ** 2
  np.testing.assert_allclose(filters.savgol_smooth(quad, 61, 2), quad, atol=1e-9)


def test_max_step_matches_oracle():
  x = np.random.default_rng(2).normal(size=(4, 50))
  expected = [max(abs(r[i + 1] - r[i]) for i in range(49)) for r in x]
  np.testing.assert_allclose(filters.max_step(x), expected)


def test_params_reject_even_windows_and_bad_order():
  with pytest.raises(ValueError, match="savgol_window"):
    filters.CleaningParams(savgol_window=60)
  with pytest.raises(ValueError, match="moving_average_window"):
    filters.CleaningParams(moving_average_window=0)
  with pytest.raises(ValueError, match="polyorder"):
    filters.CleaningParams(savgol_window=5, savgol_polyorder=5)
  with pytest.raises(ValueError, match="at least"):
    filters.savgol_smooth(np.zeros(10), 61, 2)


def test_default_cleaning_meets_the_papers_criterion_on_hkb_days():
  """Consecutive steps of a cleaned HKB day are much smaller than a 10 mV/km SES (raw: not)."""
  days = np.stack([background_model.synthetic_day("hkb", d) for d in range(12)])
  raw = filters.max_step(days)
  cleaned = filters.max_step(filters.clean_day(days))
  assert np.all(raw > 10.0)
  assert np.median(cleaned) < 0.1 * 10.0
  assert np.all(cleaned < 0.2 * 10.0)


def test_default_cleaning_leaves_hkb_daytime_bumps_well_below_an_ses():
  """The slow residue of the train noise must be small against the smallest 10 mV/km SES."""
  days = np.stack([background_model.synthetic_day("hkb", d) for d in range(12)])
  daytime = filters.clean_day(days)[:, 7 * 360 : 23 * 360]
  bumps = daytime - np.median(daytime, axis=1, keepdims=True)
  assert np.all(np.std(bumps, axis=1) < 0.3 * 10.0)
  raw = days[:, 7 * 360 : 23 * 360]
  assert np.all(np.std(raw - np.median(raw, axis=1, keepdims=True), axis=1) > 5.0)


def test_default_cleaning_keeps_a_slow_background():
  hours = np.arange(8640) / 360.0
  background = 20 * np.sin(2 * np.pi * hours / 24) + 5 * np.sin(2 * np.pi * hours / 12.42)
  cleaned = filters.clean_day(background)
  # Away from the day's ends (where the moving average shrinks) the diurnal and tidal lines survive.
  np.testing.assert_allclose(cleaned[360:-360], background[360:-360], atol=0.3)
  assert np.max(np.abs(cleaned - background)) < 3.0

"""Residuals -> anomalous points -> anomalous days -> storm screening -> cumulative curve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from precursor_jax.anomaly import residuals as rs
from precursor_jax.anomaly import storms
from precursor_jax.core.timeseries import TimeSeries

PER_DAY = 1440


def test_residuals_hand_values_and_missing():
  e = rs.residuals(np.array([1.0, 2.0, np.nan, 4.0]), np.array([1.5, 0.0, 3.0, np.nan]))
  np.testing.assert_array_equal(np.asarray(e), [0.5, 2.0, np.nan, np.nan])
  with pytest.raises(ValueError, match="same shape"):
    rs.residuals(np.zeros(3), np.zeros(4))


def test_threshold_whole_series_and_reference_window():
  e = np.array([1.0, 2.0, 3.0, np.nan, 4.0, 10.0])
  assert float(rs.point_threshold(e, 2.0)) == pytest.approx(2 * 4.0)  # mean of the 5 valid
  calm = np.array([True, True, True, True, False, False])
  assert float(rs.point_threshold(e, 3.0, calm)) == pytest.approx(3 * 2.0)  # NaN skipped
  flags = rs.anomalous_points(e, 2.0)
  np.testing.assert_array_equal(np.asarray(flags.anomalous), [0, 0, 0, 0, 0, 1])
  np.testing.assert_array_equal(np.asarray(flags.valid), [1, 1, 1, 0, 1, 1])
  # Strictly greater: a residual equal to the threshold is not anomalous.
  flags = rs.anomalous_points(np.array([1.0, 1.0, 4.0]), 2.0)
  assert float(flags.threshold) == 4.0 and not bool(flags.anomalous[2])


def test_empty_reference_makes_every_point_missing_not_calm():
  e = np.array([1.0, 2.0, 3.0])
  flags = rs.anomalous_points(e, 2.0, reference=np.array([False, False, False]))
  assert np.isnan(float(flags.threshold))
  assert not np.asarray(flags.valid).any() and not np.asarray(flags.anomalous).any()


def test_anomalous_points_vmaps_over_k_and_stations():
  rng = np.random.default_rng(0)
  e = np.abs(rng.normal(size=(3, 500)))
  e[1, 10:20] = np.nan
  ks = np.array([2.0, 2.5, 3.0])
  batched = jax.vmap(jax.vmap(rs.anomalous_points, in_axes=(None, 0)), in_axes=(0, None))(e, ks)
  assert batched.anomalous.shape == (3, 3, 500)
  for s in range(3):
    for j, k in enumerate(ks):
      oracle = e[s] > k * np.nanmean(e[s])  # NaN > x is False
      np.testing.assert_array_equal(np.asarray(batched.anomalous[s, j]), oracle)
      np.testing.assert_allclose(float(batched.threshold[s, j]), k * np.nanmean(e[s]), rtol=1e-6)


def test_daily_counts_by_samples_per_day_matches_a_loop():
  rng = np.random.default_rng(1)
  anomalous = rng.random((2, 5 * 24)) < 0.3
  valid = rng.random((2, 5 * 24)) < 0.8
  counts = jax.jit(rs.daily_counts, static_argnames="samples_per_day")(
    rs.PointFlags(anomalous, valid, None), samples_per_day=24
  )
  for s in range(2):
    for d in range(5):
      day = slice(24 * d, 24 * (d + 1))
      assert int(counts.anomalous[s, d]) == np.sum(anomalous[s, day] & valid[s, day])
      assert int(counts.valid[s, d]) == np.sum(valid[s, day])
  assert counts.expected == 24 and counts.days is None
  labelled = rs.daily_counts(
    rs.PointFlags(anomalous[0], valid[0], None), samples_per_day=24, first_day="2013-04-16"
  )
  assert labelled.days[0] == np.datetime64("2013-04-16") and labelled.days[-1] == np.datetime64(
    "2013-04-20"
  )
  with pytest.raises(ValueError, match="whole number of days"):
    rs.daily_counts(rs.PointFlags(anomalous[0, :50], valid[0, :50], None), samples_per_day=24)


def test_daily_counts_by_times_reports_partial_days():
  # Hourly samples from 2013-04-18 12:00 to 2013-04-20 05:00: day one and day three are partial.
  times = np.arange(
    np.datetime64("2013-04-18T12:00"), np.datetime64("2013-04-20T06:00"), np.timedelta64(1, "h")
  )
  rng = np.random.default_rng(2)
  anomalous = rng.random(len(times)) < 0.5
  valid = np.ones(len(times), dtype=bool)
  valid[20] = False
  counts = rs.daily_counts(rs.PointFlags(anomalous, valid, None), times=times)
  np.testing.assert_array_equal(
    counts.days, np.array(["2013-04-18", "2013-04-19", "2013-04-20"], dtype="datetime64[D]")
  )
  assert counts.expected == 24
  np.testing.assert_array_equal(np.asarray(counts.valid), [12, 23, 6])
  oracle = [np.sum((anomalous & valid)[a:b]) for a, b in [(0, 12), (12, 36), (36, 42)]]
  np.testing.assert_array_equal(np.asarray(counts.anomalous), oracle)
  days = rs.anomalous_days(counts, threshold=100)
  np.testing.assert_array_equal(np.asarray(days.unknown), [True, False, True])  # 23/24 >= 0.9
  with pytest.raises(ValueError, match="exactly one"):
    rs.daily_counts(rs.PointFlags(anomalous, valid, None))
  with pytest.raises(ValueError, match="does not divide a day"):
    rs.daily_counts(rs.PointFlags(anomalous, valid, None), times=times, interval=7 * 3600)


def test_anomalous_days_hand_values():
  counts = rs.DailyCounts(
    None, np.array([46, 45, 10, 10, 60]), np.array([1440, 1440, 1000, 1400, 700]), PER_DAY
  )
  days = rs.anomalous_days(counts)  # default: the paper's geomagnetic midpoint 45, strict >
  np.testing.assert_array_equal(np.asarray(days.anomalous), [1, 0, 0, 0, 1])
  # Day 3 has 1000 < 0.9 * 1440 valid points: unknown; day 5 is anomalous with half its data.
  np.testing.assert_array_equal(np.asarray(days.unknown), [0, 0, 1, 0, 0])
  strain = rs.anomalous_days(counts, rs.STRAIN_DAY_THRESHOLD)
  np.testing.assert_array_equal(np.asarray(strain.anomalous), [1, 1, 0, 0, 1])
  assert rs.GEOMAGNETIC_DAY_THRESHOLD == 45 and rs.STRAIN_DAY_THRESHOLD == 25


def dst_series(first_day, hourly_dst):
  times = np.datetime64(first_day, "s") + np.arange(len(hourly_dst)) * np.timedelta64(3600, "s")
  return TimeSeries(times, np.asarray(hourly_dst, float), ("dst",), 3600)


def test_storm_screening_and_cumulative_curve():
  # Dst for 2013-03-16 .. 03-19: quiet, a storm (-62 nT), quiet with a missing hour, quiet.
  dst = np.full(4 * 24, -20.0)
  dst[24 + 5] = -62.0
  dst[48 + 3] = np.nan
  table = storms.storm_days(dst=dst_series("2013-03-16", dst))
  # Day flags for 03-14 .. 03-19 (the first two days lie before the Dst record).
  days = np.arange(np.datetime64("2013-03-14"), np.datetime64("2013-03-20"))
  anomalous = np.array([1, 0, 1, 1, 1, 0], dtype=bool)
  unknown = np.array([0, 0, 0, 0, 0, 1], dtype=bool)
  no = np.zeros(6, dtype=bool)
  flags = rs.screen_storm_days(rs.DayFlags(days, anomalous, unknown, no, no), table)
  np.testing.assert_array_equal(np.asarray(flags.storm), [0, 0, 0, 1, 0, 0])
  np.testing.assert_array_equal(np.asarray(flags.storm_unknown), [1, 1, 0, 0, 1, 0])
  np.testing.assert_array_equal(np.asarray(rs.usable_days(flags)), [0, 0, 1, 0, 0, 0])
  # Only 03-16 is anomalous and usable; 03-17 is a storm day; 03-14 and 03-18 might be storms.
  np.testing.assert_array_equal(np.asarray(rs.cumulative_anomalous_days(flags)), [0, 0, 1, 1, 1, 1])
  upper = rs.cumulative_anomalous_days(flags, include_unknown=True)
  np.testing.assert_array_equal(np.asarray(upper), [1, 1, 2, 2, 3, 4])
  with pytest.raises(ValueError, match="no day labels"):
    rs.screen_storm_days(flags._replace(days=None), table)


def test_cumulative_matches_cumsum_of_flags_without_screening():
  rng = np.random.default_rng(3)
  anomalous = rng.random((2, 50)) < 0.3
  no = np.zeros_like(anomalous)
  curve = jax.jit(rs.cumulative_anomalous_days)(rs.DayFlags(None, anomalous, no, no, no))
  np.testing.assert_array_equal(np.asarray(curve), np.cumsum(anomalous, axis=1))
  assert np.all(np.diff(np.asarray(curve), axis=1) >= 0)


def test_julian_day():
  assert rs.julian_day(np.datetime64("2000-01-01T12:00")) == 2451545.0
  assert rs.julian_day(np.datetime64("2013-04-20")) == 2456402.5
  # The paper's Kangding fit centre x0 = 2456256.76679 JD is 2012-11-25 06:24 (its "November 2012").
  assert rs.julian_day(np.datetime64("2012-11-25T06:24")) == pytest.approx(2456256.76679, abs=0.001)


def test_pipeline_finds_injected_burst_days_and_gaussian_calibration():
  """Gaussian residuals: calm-day counts follow 1440 * P(|Z| > 0.798 k); burst days stand out."""
  rng = np.random.default_rng(4)
  n_days, k = 40, 3.0
  y_hat = np.sin(np.arange(n_days * PER_DAY) * 2 * np.pi / PER_DAY)
  y = y_hat + rng.normal(size=y_hat.shape)
  burst_days = [30, 35]
  for d in burst_days:
    y[d * PER_DAY + 600 : d * PER_DAY + 720] += rng.normal(scale=6.0, size=120)
  y[10 * PER_DAY : 10 * PER_DAY + 300] = np.nan  # 300 missing minutes on day 10
  e = rs.residuals(y, y_hat)
  calm = np.repeat(np.arange(n_days) < 25, PER_DAY)  # a calm reference window
  points = rs.anomalous_points(e, k, reference=calm)
  counts = rs.daily_counts(points, samples_per_day=PER_DAY)
  days = rs.anomalous_days(counts, rs.GEOMAGNETIC_DAY_THRESHOLD)
  np.testing.assert_array_equal(np.flatnonzero(np.asarray(days.anomalous)), burst_days)
  np.testing.assert_array_equal(np.flatnonzero(np.asarray(days.unknown)), [10])  # 1140 < 1296
  expected = PER_DAY * 2 * stats.norm.sf(k * np.sqrt(2 / np.pi))
  assert expected == pytest.approx(24.0, abs=0.1)  # the module doc's calibration number
  full_calm = np.array([d for d in range(25) if d != 10])
  mean_count = float(jnp.mean(counts.anomalous[full_calm]))
  assert mean_count == pytest.approx(expected, abs=4 * np.sqrt(expected / len(full_calm)))
  curve = rs.cumulative_anomalous_days(days)
  assert int(curve[-1]) == 2 and int(curve[29]) == 0 and int(curve[30]) == 1

"""Four-gauge strain: identities, self-consistency k against a slow NumPy oracle, real Guzan."""

import jax.numpy as jnp
import numpy as np
import pytest

from precursor_jax.data import point_series
from precursor_jax.signal import strain

AZIMUTHS = np.radians([51.0, 96.0, 141.0, 6.0])  # the Guzan gauges, 45 degrees apart in sequence


def oracle(gauges, labels, preprocess="detrend", pairing="orthogonal", min_fraction=0.9):
  """Slow per-window k and slope: np.polyfit detrending and np.corrcoef, window by window."""
  (a, b), (c, d) = strain.PAIRINGS[pairing]
  y, x = gauges[a] + gauges[b], gauges[c] + gauges[d]
  ks, slopes, counts = [], [], []
  for label in dict.fromkeys(labels.tolist()):
    idx = np.flatnonzero(labels == label)
    yy, xx, tt = y[idx], x[idx], idx.astype(float)
    expected = len(idx)
    if preprocess == "difference":
      yy, xx, tt, expected = np.diff(yy), np.diff(xx), tt[1:], expected - 1
    ok = np.isfinite(xx) & np.isfinite(yy)
    counts.append(int(ok.sum()))
    if ok.sum() < min_fraction * expected or ok.sum() < 3:
      ks.append(np.nan)
      slopes.append(np.nan)
      continue
    yy, xx, tt = yy[ok], xx[ok], tt[ok]
    if preprocess == "detrend":
      yy = yy - np.polyval(np.polyfit(tt, yy, 1), tt)
      xx = xx - np.polyval(np.polyfit(tt, xx, 1), tt)
    ks.append(np.corrcoef(xx, yy)[0, 1])
    slopes.append(np.polyfit(xx, yy, 1)[0])
  return np.array(ks), np.array(slopes), np.array(counts)


def synthetic_gauges(n_hours=24 * 40, seed=0, noise=0.5):
  """Plane strain seen by four gauges: areal + shear tides and drift, gains, offsets and noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(n_hours, dtype=float)
  areal = 40 * np.sin(2 * np.pi * t / 12.42) + 25 * np.sin(2 * np.pi * t / 23.93) + 0.05 * t
  g1 = 15 * np.sin(2 * np.pi * t / 12.42 + 1.0) - 0.02 * t  # (e11 - e22) / 2
  g2 = 10 * np.cos(2 * np.pi * t / 23.93)  # e12
  gauges = []
  for theta, offset in zip(AZIMUTHS, [-12544.5, 10048.1, -13075.3, -31358.4], strict=True):
    linear = areal / 2 + g1 * np.cos(2 * theta) + g2 * np.sin(2 * theta)
    gauges.append(offset + linear + noise * rng.normal(size=n_hours))
  return gauges


def test_strain_combinations_numpy_and_jax():
  rng = np.random.default_rng(1)
  s = rng.normal(size=(4, 50))
  s[2, 7] = np.nan
  s13, s24 = strain.shear_strains(*s)
  np.testing.assert_array_equal(s13, s[0] - s[2])
  np.testing.assert_array_equal(s24, s[1] - s[3])
  sa = strain.areal_strain(*s)
  np.testing.assert_allclose(sa, (s[0] + s[1] + s[2] + s[3]) / 2)
  assert np.isnan(sa[7]) and np.isnan(s13[7]) and not np.isnan(s24[7])
  j13, j24 = strain.shear_strains(*jnp.asarray(s, dtype=jnp.float32))
  assert isinstance(j13, jnp.ndarray)
  np.testing.assert_allclose(np.asarray(j13), s13, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(
    np.asarray(strain.areal_strain(*jnp.asarray(s))), sa, rtol=1e-6, atol=1e-6
  )


def test_plane_strain_is_self_consistent_only_for_orthogonal_pairs():
  gauges = synthetic_gauges()
  for preprocess in ("detrend", "difference", "none"):
    result = strain.self_consistency(*gauges, 24 * 5, preprocess=preprocess)
    assert np.all(result.k > 0.99) and not result.flagged.any(), preprocess
    np.testing.assert_allclose(result.slope, 1.0, atol=0.05)
  printed = strain.self_consistency(*gauges, 24 * 5, pairing="as_printed")
  assert np.all(printed.k < 0.95) and printed.flagged.all()


def test_a_step_in_one_gauge_flags_its_window():
  gauges = synthetic_gauges()
  gauges[0][24 * 12 + 5 :] += 300.0  # a 300-unit step on gauge 1 in window 2 (days 10-14)
  result = strain.self_consistency(*gauges, 24 * 5)
  np.testing.assert_array_equal(np.flatnonzero(result.flagged), [2])
  assert result.k[2] < 0.95


@pytest.mark.parametrize("preprocess", ["detrend", "difference", "none"])
@pytest.mark.parametrize("pairing", ["orthogonal", "as_printed"])
def test_self_consistency_matches_the_oracle_with_missing_samples(preprocess, pairing):
  gauges = synthetic_gauges(seed=2, noise=5.0)
  rng = np.random.default_rng(3)
  for g in gauges:
    g[rng.random(len(g)) < 0.02] = np.nan  # scattered missing samples
  gauges[1][24 * 20 : 24 * 23] = np.nan  # a 3-day hole: that window falls below 90 % valid
  labels = np.arange(len(gauges[0])) // (24 * 5)
  result = strain.self_consistency(*gauges, 24 * 5, preprocess=preprocess, pairing=pairing)
  k, slope, counts = oracle(gauges, labels, preprocess, pairing)
  np.testing.assert_allclose(result.k, k, rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(result.slope, slope, rtol=1e-8, atol=1e-12)
  np.testing.assert_array_equal(result.n_valid, counts)
  assert np.isnan(result.k[4]) and result.flagged[4]  # the window holding the hole
  np.testing.assert_array_equal(result.start, np.arange(8) * 24 * 5)


def test_label_windows_equal_fixed_windows_and_bad_arguments():
  gauges = synthetic_gauges(n_hours=100)
  labels = np.repeat(np.array(["a", "b", "c", "d", "e"]), 20)
  by_label = strain.self_consistency(*gauges, labels)
  by_size = strain.self_consistency(*gauges, 20)
  np.testing.assert_array_equal(by_label.k, by_size.k)
  assert list(by_label.label) == ["a", "b", "c", "d", "e"]
  with pytest.raises(ValueError, match="contiguous"):
    strain.self_consistency(*gauges, np.tile(np.array([0, 1]), 50))
  with pytest.raises(ValueError, match="preprocess"):
    strain.self_consistency(*gauges, 20, preprocess="wavelet")
  short = strain.self_consistency(*synthetic_gauges(n_hours=110), 20)
  assert np.isnan(short.k[-1]) and short.n_expected[-1] == 20  # the short tail window


def guzan_slice(test_data_dir):
  folder = test_data_dir / "strain" / "guzan_2007_03_05"
  return point_series.read_four_gauge(
    folder,
    metadata_file=folder / "batch_guide_template_station_metadata.utf8.txt",
    metadata={"station_name": "Guzan"},
  )


def test_real_guzan_slice_identities_and_monthly_k(test_data_dir):
  ts = guzan_slice(test_data_dir)
  gauges = [ts.column(g) for g in strain.GAUGES]
  derived = strain.strain_series(ts)
  assert derived.channels == ("Sa", "S13", "S24") and np.array_equal(derived.times, ts.times)
  np.testing.assert_allclose(
    derived.column("Sa"), (gauges[0] + gauges[1] + gauges[2] + gauges[3]) / 2
  )
  np.testing.assert_array_equal(derived.column("S13"), gauges[0] - gauges[2])
  np.testing.assert_array_equal(derived.column("S24"), gauges[1] - gauges[3])
  assert int(np.isnan(derived.column("Sa")).sum()) == 14  # the 2007-04-10 block stays missing
  months = ts.times.astype("datetime64[M]")
  for preprocess in ("detrend", "difference"):
    result = strain.self_consistency(*gauges, months, preprocess=preprocess)
    k, slope, counts = oracle(gauges, months, preprocess)
    np.testing.assert_allclose(result.k, k, rtol=1e-9)
    np.testing.assert_allclose(result.slope, slope, rtol=1e-8)
    np.testing.assert_array_equal(result.n_valid, counts)
  result = strain.self_consistency(*gauges, months)
  assert [str(m) for m in result.label] == ["2007-03", "2007-04", "2007-05"]
  assert list(result.n_valid) == [744, 706, 744]
  # March 2007 is poorly self-consistent on this record; April and May pass 0.95.
  np.testing.assert_array_equal(result.flagged, [True, False, False])
  printed = strain.self_consistency(*gauges, months, pairing="as_printed")
  assert np.all(printed.k < result.k)


def test_report_lists_every_month(test_data_dir):
  report = strain.monthly_report(guzan_slice(test_data_dir))
  assert "Guzan" in report and "months with k >= 0.95: 2/3" in report
  assert report.count("\n| 2007-") == 3 and "| 2007-03 | 0.7" in report


@pytest.mark.shared_data
def test_whole_guzan_record_against_the_oracle(shared_data_dir):
  folder = shared_data_dir / "strain" / "guzan_4gauge_hourly_2006_2010"
  ts = point_series.read_four_gauge(
    folder, metadata_file=folder / "batch_guide_template_station_metadata.utf8.txt"
  )
  gauges = [ts.column(g) for g in strain.GAUGES]
  months = ts.times.astype("datetime64[M]")
  result = strain.self_consistency(*gauges, months)
  k, _, _ = oracle(gauges, months)
  np.testing.assert_allclose(result.k, k, rtol=1e-9)
  printed, _, _ = oracle(gauges, months, pairing="as_printed")
  # The orthogonal pairing is the self-consistent one; the printed eq. (3) pairing is not.
  assert np.nanmedian(k) > 0.98 and np.nanmedian(printed) < 0.8
  report = strain.monthly_report(ts)
  assert f"months with k >= 0.95: {int((k >= 0.95).sum())}/{len(k)}" in report
  days = ts.times.astype("datetime64[D]")
  daily_k, _, _ = oracle(gauges, days)
  ok = np.isfinite(daily_k)
  assert f"days with k >= 0.95: {int((daily_k[ok] >= 0.95).sum())}/{int(ok.sum())}" in report

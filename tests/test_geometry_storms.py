"""Dobrovolsky radius, great-circle distance, preparation-zone membership, storm-day screening."""

import numpy as np
import pytest

from precursor_jax.anomaly import storms
from precursor_jax.core import geodesy
from precursor_jax.core.timeseries import TimeSeries
from precursor_jax.data import spaceweather

R = geodesy.EARTH_RADIUS_KM
LUSHAN = (30.3, 103.0, 7.0)  # CENC epicentre and magnitude
GUZAN = (30.12, 102.18)
BOULDER = (40.137, 254.764)


def unit_vector(lat, lon):
  lat, lon = np.radians(lat), np.radians(lon)
  return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def test_dobrovolsky_radius_hand_values():
  # The seed paper: Ms 7.0 -> 1,023.29 km.
  assert geodesy.dobrovolsky_radius_km(7.0) == pytest.approx(10**3.01)
  assert geodesy.dobrovolsky_radius_km(7.0) == pytest.approx(1023.29, abs=0.01)
  np.testing.assert_allclose(geodesy.dobrovolsky_radius_km([5.0, 6.0]), [10**2.15, 10**2.58])


def test_haversine_hand_values():
  assert geodesy.haversine_km(0, 0, 90, 0) == pytest.approx(np.pi / 2 * R)
  assert geodesy.haversine_km(0, 0, 0, 1) == pytest.approx(R * np.pi / 180)
  assert geodesy.haversine_km(10, 20, -10, 200) == pytest.approx(np.pi * R)  # antipodes
  assert geodesy.haversine_km(0, 179.5, 0, -179.5) == pytest.approx(R * np.pi / 180)


def test_haversine_matches_a_vector_oracle():
  rng = np.random.default_rng(0)
  lat1, lat2 = rng.uniform(-90, 90, (2, 500))
  lon1, lon2 = rng.uniform(-180, 360, (2, 500))
  angle = np.arctan2(
    np.linalg.norm(np.cross(unit_vector(lat1, lon1), unit_vector(lat2, lon2)), axis=-1),
    np.sum(unit_vector(lat1, lon1) * unit_vector(lat2, lon2), axis=-1),
  )
  np.testing.assert_allclose(
    geodesy.haversine_km(lat1, lon1, lat2, lon2), R * angle, rtol=1e-9, atol=1e-6
  )


def test_preparation_zone_membership():
  lat, lon, mag = LUSHAN
  radius = geodesy.dobrovolsky_radius_km(mag)
  # Stations due north of the epicentre at radius -/+ 10 km.
  inside_lat = lat + np.degrees((radius - 10.0) / R)
  outside_lat = lat + np.degrees((radius + 10.0) / R)
  station_lat = np.array([GUZAN[0], BOULDER[0], inside_lat, outside_lat])
  station_lon = np.array([GUZAN[1], BOULDER[1], lon, lon])
  np.testing.assert_array_equal(
    geodesy.in_preparation_zone(lat, lon, mag, station_lat, station_lon),
    [True, False, True, False],
  )
  # Two events against the four stations: (E, S); a M5 at Lushan reaches only ~141 km.
  both = geodesy.in_preparation_zone([lat, lat], [lon, lon], [mag, 5.0], station_lat, station_lon)
  assert both.shape == (2, 4)
  np.testing.assert_array_equal(both[1], [True, False, False, False])  # Guzan is ~80 km away
  assert geodesy.haversine_km(lat, lon, *GUZAN) == pytest.approx(
    R * np.arccos(np.clip(unit_vector(lat, lon) @ unit_vector(*GUZAN), -1, 1)), rel=1e-9
  )


def series(start, interval_h, values, channel):
  interval = np.timedelta64(interval_h * 3600, "s")
  times = np.datetime64(start, "s") + np.arange(len(values)) * interval
  return TimeSeries(times, values, (channel,), interval)


def test_storm_days_thresholds_and_unknown():
  dst = np.full(3 * 24, -20.0)
  dst[5] = -50.0  # day 0: exactly the threshold -> storm
  dst[24 + 7] = -49.0  # day 1: just above -> not by Dst
  dst[48 + 3] = np.nan  # day 2: a missing hour
  kp = np.full(3 * 8, 2.0)
  kp[8 + 2] = 14 / 3  # day 1: 5- is below 5
  result = storms.storm_days(series("2013-03-01", 1, dst, "dst"), series("2013-03-01", 3, kp, "kp"))
  np.testing.assert_array_equal(
    result.days, np.arange(np.datetime64("2013-03-01"), np.datetime64("2013-03-04"))
  )
  np.testing.assert_array_equal(result.storm, [True, False, False])
  np.testing.assert_array_equal(result.unknown, [False, False, True])
  np.testing.assert_array_equal(result.dst_min, [-50, -49, -20])
  kp[8 + 2] = 5.0
  again = storms.storm_days(series("2013-03-01", 1, dst, "dst"), series("2013-03-01", 3, kp, "kp"))
  np.testing.assert_array_equal(again.storm, [True, True, False])
  assert storms.is_storm_day(np.datetime64("2013-03-02T13:30"), again).tolist() == [True]
  with pytest.raises(ValueError, match="unknown"):
    storms.is_storm_day(["2013-03-03"], again)
  with pytest.raises(ValueError, match="outside"):
    storms.is_storm_day(["2013-03-05"], again)


def test_real_march_2013_storm_days_match_a_loop_oracle(test_data_dir):
  folder = test_data_dir / "spaceweather"
  dst = spaceweather.read_dst_wdc(folder / "DSTFILE_2013-03.TXT")
  kp = spaceweather.read_kp_celestrak(folder / "SW-All_2013-03.txt")
  result = storms.storm_days(dst, kp)
  assert len(result.days) == 31 and not result.unknown.any()
  for i, day in enumerate(result.days):
    d = dst.values[dst.times.astype("datetime64[D]") == day, 0]
    k = kp.values[kp.times.astype("datetime64[D]") == day, 0]
    assert result.storm[i] == (d.min() <= -50 or k.max() >= 5), day
  march17 = int(np.flatnonzero(result.days == np.datetime64("2013-03-17"))[0])
  assert result.storm[march17] and result.dst_min[march17] == -132.0
  assert result.kp_max[march17] == pytest.approx(20 / 3)
  # Dst alone with a stricter threshold: only the St. Patrick's Day storm remains.
  strict = storms.storm_days(dst=dst, dst_threshold=-100.0)
  assert [str(d) for d in strict.days[strict.storm]] == ["2013-03-17"]

"""Geoelectric days: the synthetic background model, the day-file reader and the EDL (MT) reader."""

import datetime
import struct

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from precursor_jax.core import constants
from precursor_jax.core import timeseries as ts_lib
from precursor_jax.core.errors import DataFormatError
from precursor_jax.data import geoelectric as ge
from precursor_jax.synthetic import geoelectric as background_model

N = constants.GEOELECTRIC_DAY_SAMPLES
HOUR = 360  # samples


# ---------------------------------------------------------------------------------------------
# Magnetotelluric induction.
# ---------------------------------------------------------------------------------------------


def impedance_by_finite_differences(freq, resistivities, thicknesses, dz=2.0):
  """Z = E/H at the surface from the 1-D diffusion equation E'' = i omega mu0 sigma(z) E, solved
  on a grid down to 8 skin depths of the bottom layer with E = 0 there (independent oracle)."""
  omega = 2 * np.pi * freq
  bottom_skin = np.sqrt(2 * resistivities[-1] / (omega * background_model.MU0))
  depth = sum(thicknesses) + 8 * bottom_skin
  z = np.arange(0.0, depth, dz)
  interfaces = np.cumsum(thicknesses)
  sigma = 1 / np.asarray(resistivities)[np.searchsorted(interfaces, z, side="right")]
  for i, d in enumerate(interfaces):  # a node on an interface takes the mean conductivity
    sigma[np.isclose(z, d)] = 0.5 * (1 / resistivities[i] + 1 / resistivities[i + 1])
  k2 = 1j * omega * background_model.MU0 * sigma
  n = z.size
  ab = np.zeros((3, n), dtype=complex)
  rhs = np.zeros(n, dtype=complex)
  ab[1, :] = -2 - k2 * dz**2
  ab[0, 1:] = 1
  ab[2, :-1] = 1
  ab[1, 0], ab[0, 1], rhs[0] = 1, 0, 1  # E(0) = 1
  ab[1, -1], ab[2, -2] = 1, 0  # E(bottom) = 0
  e = scipy.linalg.solve_banded((1, 1), ab, rhs)
  de_dz = (-3 * e[0] + 4 * e[1] - e[2]) / (2 * dz)
  return -1j * omega * background_model.MU0 * e[0] / de_dz


@pytest.mark.parametrize(
  "freq,resistivities,thicknesses",
  [
    (1.0, (100.0, 10.0), (3_000.0,)),
    (0.5, (300.0, 30.0, 3.0), (4_000.0, 2_000.0)),
    (0.2, (10.0, 100.0), (2_000.0,)),
    (0.05, (30.0,), ()),
  ],
)
def test_layered_impedance_matches_finite_difference_solution(freq, resistivities, thicknesses):
  z = background_model.layered_impedance(np.array([freq]), resistivities, thicknesses)[0]
  oracle = impedance_by_finite_differences(freq, resistivities, thicknesses)
  assert abs(z - oracle) / abs(oracle) < 5e-3


def test_half_space_impedance_is_the_textbook_formula():
  f = np.array([0.0, 1e-4, 1e-2])
  z = background_model.layered_impedance(f, (250.0,), ())
  assert z[0] == 0
  np.testing.assert_allclose(z[1:], np.sqrt(2j * np.pi * f[1:] * background_model.MU0 * 250.0))
  np.testing.assert_allclose(np.degrees(np.angle(z[1:])), 45.0)
  np.testing.assert_allclose(background_model.apparent_resistivity(f[1:], z[1:]), 250.0)
  # Splitting the half-space into equal layers changes nothing.
  np.testing.assert_allclose(
    background_model.layered_impedance(f, (250.0, 250.0, 250.0), (1e3, 5e4)), z, rtol=1e-12
  )


def test_two_layer_apparent_resistivity_tends_to_each_layer():
  z_hi = background_model.layered_impedance(np.array([100.0]), (100.0, 10.0), (50_000.0,))
  z_lo = background_model.layered_impedance(np.array([1e-8]), (100.0, 10.0), (50_000.0,))
  assert background_model.apparent_resistivity(np.array([100.0]), z_hi)[0] == pytest.approx(
    100.0, rel=1e-3
  )
  assert background_model.apparent_resistivity(np.array([1e-8]), z_lo)[0] == pytest.approx(
    10.0, rel=0.01
  )


def test_induced_field_of_a_sinusoid_has_half_space_amplitude_and_45_degree_lead():
  station = background_model.StationModel(
    name="t",
    code=9,
    resistivities_ohm_m=(100.0,),
    thicknesses_m=(),
    dipole_azimuth_deg=0.0,
    dc_offset_mv_km=0,
    dc_offset_spread_mv_km=0,
    tide_mv_km=(0, 0, 0, 0),
    drift_rate_mv_km_day=0,
    drift_walk_mv_km=0,
    white_noise_mv_km=0,
    train=background_model.TrainNoise(),
  )
  n = 2 * N
  cycles = 200
  f = cycles / (n * constants.GEOELECTRIC_INTERVAL_S)
  t = np.arange(n) * constants.GEOELECTRIC_INTERVAL_S
  by = np.cos(2 * np.pi * f * t)  # 1 nT eastward
  e = background_model.induced_e_field(np.zeros(n), by, station)  # dipole north: Ex = Z By / mu0
  omega = 2 * np.pi * f
  amplitude = np.sqrt(omega * 100.0 / background_model.MU0) * 1e-3  # |Z| / mu0 per nT, in mV/km
  np.testing.assert_allclose(e, amplitude * np.cos(2 * np.pi * f * t + np.pi / 4), atol=1e-9)


def test_colored_noise_has_the_requested_spectrum():
  rng = np.random.default_rng(0)
  dt = 10.0

  def psd(f):
    return 50.0 * (f / 1e-3) ** -2.0

  estimates = []
  for _ in range(20):
    x = background_model.colored_noise(rng, 2 * N, dt, psd)
    f, p = scipy.signal.welch(x, fs=1 / dt, nperseg=2048, window="hann")
    estimates.append(p)
  p = np.mean(estimates, axis=0)
  band = (f > 2e-3) & (f < 2e-2)  # away from the window's leakage at the lowest bins
  slope, level = np.polyfit(np.log(f[band] / 1e-3), np.log(p[band]), 1)
  assert slope == pytest.approx(-2.0, abs=0.05)
  assert np.exp(level) == pytest.approx(50.0, rel=0.05)
  np.testing.assert_allclose(p[band] / psd(f[band]), 1.0, atol=0.3)


# ---------------------------------------------------------------------------------------------
# The synthetic day.
# ---------------------------------------------------------------------------------------------


def test_synthetic_day_is_a_pure_function_of_its_key():
  a = background_model.synthetic_day("hkb", 5, seed=1)
  assert a.shape == (N,) and a.dtype == np.float64 and np.all(np.isfinite(a))
  np.testing.assert_array_equal(a, background_model.synthetic_day("hkb", 5, seed=1))
  assert not np.allclose(a, background_model.synthetic_day("hkb", 6, seed=1))
  assert not np.allclose(a, background_model.synthetic_day("hkb", 5, seed=2))
  parts = background_model.synthetic_day_components("hkb", 5, seed=1)
  assert set(parts) == {"induction", "tide", "drift", "offset", "white", "train"}
  np.testing.assert_allclose(sum(parts.values()), a, atol=1e-9)


def test_day_offset_sits_far_from_zero_as_documented():
  offsets = np.array(
    [
      background_model.synthetic_day_components(s, d)["offset"][0]
      for s in ("hkb", "mts", "ota")
      for d in range(10)
    ]
  )
  assert np.all(np.abs(offsets) > 30.0)
  hkb = offsets[:10]
  assert abs(hkb.mean() - background_model.STATIONS["hkb"].dc_offset_mv_km) < 3 * 15.0 / np.sqrt(10)


def test_tides_run_on_from_one_day_to_the_next():
  station = background_model.STATIONS["hkb"]
  phases = np.array([0.1, 0.2, 0.3, 0.4])
  two_days = background_model.tidal_field(station, phases, 7, 2 * N)
  joined = np.concatenate(
    [
      background_model.tidal_field(station, phases, 7),
      background_model.tidal_field(station, phases, 8),
    ]
  )
  np.testing.assert_allclose(joined, two_days, atol=1e-9)
  # A 30-day series has its spectral lines at M2 and K1.
  month = background_model.tidal_field(station, phases, 0, 30 * N)
  f = np.fft.rfftfreq(month.size, 1 / N)  # cycles per day
  spectrum = np.abs(np.fft.rfft(month))
  top = f[np.argsort(spectrum)[-4:]]
  for speed in (
    background_model.TIDE_CYCLES_PER_DAY["M2"],
    background_model.TIDE_CYCLES_PER_DAY["K1"],
  ):
    assert np.min(np.abs(top - speed)) < 1 / 30


def test_train_noise_is_absent_at_night_and_strongest_at_hkb():
  stds = {}
  for name in ("hkb", "mts", "ota"):
    trains = np.stack(
      [background_model.synthetic_day_components(name, d)["train"] for d in range(10)]
    )
    assert np.all(trains[:, : 6 * HOUR] == 0), name  # nothing before 06:00
    daytime = trains[:, 8 * HOUR : 22 * HOUR]
    assert np.mean(daytime != 0) > 0.99, name
    stds[name] = daytime.std()
  assert stds["hkb"] > 2 * stds["mts"] > 2 * stds["ota"] > 0


def test_hkb_hides_an_ses_by_day_and_shows_it_at_night():
  """Within 25-min windows (the SES length) the night background spreads (10th to 90th
  percentile) by less than half of a 10 mV/km SES; by day the HKB noise spreads by more than it."""

  def spread(x):
    windows = x[: len(x) // 150 * 150].reshape(-1, 150)
    return np.percentile(windows, 90, axis=1) - np.percentile(windows, 10, axis=1)

  for d in range(5):
    day = background_model.synthetic_day("hkb", d)
    assert spread(day[1 * HOUR : 5 * HOUR]).max() < 10.0 / 2
    assert np.median(spread(day[8 * HOUR : 22 * HOUR])) > 10.0
    assert (
      np.median(spread(background_model.synthetic_day("ota", d)[8 * HOUR : 22 * HOUR])) < 10.0 / 2
    )


def test_storms_happen_at_about_the_documented_rate():
  model = background_model.GeomagneticModel()
  steps = [
    np.abs(
      np.diff(background_model.geomagnetic_variation(np.random.default_rng([0, 0, d]), model)[0])
    ).max()
    for d in range(300)
  ]
  rate = np.mean(np.array(steps) > 5.0)  # an SSC jumps by >= 10 nT within minutes
  assert 0.01 < rate < 0.09


def test_unknown_station_and_bad_day_index_are_clear_errors():
  with pytest.raises(KeyError, match="known stations"):
    background_model.synthetic_day("xyz", 0)
  with pytest.raises(ValueError, match="day_index"):
    background_model.synthetic_day("hkb", -1)


# ---------------------------------------------------------------------------------------------
# The user's day files.
# ---------------------------------------------------------------------------------------------


def test_day_file_round_trip(tmp_path):
  day = background_model.synthetic_day("ota", 2)
  path = tmp_path / "19990117.txt"
  ge.write_day_file(path, day, comment="station OTA dp1\nmV/km")
  assert path.read_text().startswith("# station OTA dp1\n# mV/km\n")
  np.testing.assert_allclose(ge.read_day_file(path), day, atol=5e-7)


@pytest.mark.parametrize("marker", ["nan", "", "99999", "999999.0"])
def test_a_day_with_a_gap_is_rejected_naming_file_and_gap(tmp_path, marker):
  lines = ["# header"] + [f"{v:.3f}" for v in np.linspace(0, 1, N)]
  for i in range(100, 106):  # samples 100..105 = 00:16:40 .. 00:17:30
    lines[1 + i] = marker
  path = tmp_path / "20000101.txt"
  path.write_text("\n".join(lines) + "\n")
  with pytest.raises(ge.DayGapError) as info:
    ge.read_day_file(path)
  message = str(info.value)
  assert "20000101.txt" in message and "samples 100..105" in message
  assert "00:16:40..00:17:30" in message and "lines 102..107" in message
  assert "rejected, not patched" in message


def test_day_file_errors_name_the_line(tmp_path):
  path = tmp_path / "20000102.txt"
  values = [f"{v}" for v in range(N)]
  values[41] = "1.2.3"
  path.write_text("#c\n" + "\n".join(values) + "\n")
  with pytest.raises(DataFormatError, match=r"20000102.txt line 43: expected one number"):
    ge.read_day_file(path)
  path.write_text("\n".join(["1.0"] * (N - 1)) + "\n")
  with pytest.raises(DataFormatError, match="expected 8640 values.*got 8639"):
    ge.read_day_file(path)


def test_directory_loader_skips_bad_days_with_reasons(tmp_path):
  for d, name in enumerate(["19990103.txt", "19990101.txt", "19990102.txt"]):
    ge.write_day_file(tmp_path / name, background_model.synthetic_day("mts", d))
  gap = background_model.synthetic_day("mts", 9)
  gap[5000] = np.nan
  ge.write_day_file(tmp_path / "19990104.txt", gap)
  (tmp_path / "notes.txt").write_text("not a day\n")
  records = ge.load_day_directory(tmp_path)
  assert records.days.shape == (3, N)
  np.testing.assert_array_equal(
    records.dates, np.array(["1999-01-01", "1999-01-02", "1999-01-03"], dtype="datetime64[D]")
  )
  np.testing.assert_allclose(records.days[0], background_model.synthetic_day("mts", 1), atol=5e-7)
  reasons = dict(records.rejected)
  assert "sample" in reasons["19990104.txt"] and "13:53:20" in reasons["19990104.txt"]
  assert "YYYYMMDD" in reasons["notes.txt"]
  with pytest.raises(ge.DayGapError, match="19990104.txt"):
    ge.load_day_directory(tmp_path, on_bad_day="raise")


def test_directory_without_usable_days_raises(tmp_path):
  (tmp_path / "19990101.txt").write_text("1.0\n")
  with pytest.raises(ValueError, match="no usable day file.*expected 8640"):
    ge.load_day_directory(tmp_path)


def test_days_from_timeseries_cuts_local_days_and_rejects_incomplete_ones():
  start = np.datetime64("2020-03-01T15:00:00")  # 00:00 JST on 2 March
  n = int(2.5 * N)
  values = np.arange(n, dtype=float)
  values[N + 1234] = np.nan  # a gap on the second local day
  series = ts_lib.TimeSeries(start + np.arange(n) * np.timedelta64(10, "s"), values, ("E",), 10)
  records = ge.days_from_timeseries(series, "E", utc_offset_hours=9)
  np.testing.assert_array_equal(records.dates, np.array(["2020-03-02"], dtype="datetime64[D]"))
  np.testing.assert_array_equal(records.days[0], np.arange(N))
  rejected = dict(records.rejected)
  assert "03:25:40" in rejected["2020-03-03 (E)"]
  assert "only 4320 of 8640" in rejected["2020-03-04 (E)"]


# ---------------------------------------------------------------------------------------------
# EarthDataLogger ASCII MT records (the real slice in tests/data/geoelectric).
# ---------------------------------------------------------------------------------------------


def read_float64_miniseed(path):
  """Start time and samples of an uncompressed float64 miniSEED file (MTpy's reference)."""
  data = path.read_bytes()
  starts, chunks = [], []
  for offset in range(0, len(data), 4096):
    record = data[offset : offset + 4096]
    year, doy, hour, minute, sec, _, frac = struct.unpack(">HHBBBBH", record[20:30])
    (count,) = struct.unpack(">H", record[30:32])
    data_offset, blockette = struct.unpack(">HH", record[44:48])
    assert struct.unpack(">H", record[blockette : blockette + 2])[0] == 1000
    assert record[blockette + 4] == 5  # IEEE float64
    starts.append(
      datetime.datetime(year, 1, 1, hour, minute, sec, frac * 100)
      + datetime.timedelta(days=doy - 1)
    )
    chunks.append(np.frombuffer(record[data_offset : data_offset + 8 * count], ">f8"))
  return np.datetime64(starts[0], "ms"), np.concatenate(chunks)


@pytest.fixture(scope="module")
def mt_slice(test_data_dir):
  return test_data_dir / "geoelectric" / "mt_adelaide_2013_slice"


def test_edl_reader_finds_the_gap_between_files(mt_slice):
  segments = ge.read_edl_ascii(mt_slice)
  assert len(segments) == 2
  first, second = segments
  assert first.start == np.datetime64("2013-05-13T02:16:13.000")
  assert first.values.shape == (70, 2)
  assert second.start == np.datetime64("2013-05-13T02:17:18.000")
  assert second.end == np.datetime64("2013-05-13T02:30:00.000")
  assert second.values.shape == (420 + 1200 + 3000 + 3000, 2)
  assert second.source_files[:2] == ("BP02_130513021718.EX", "BP02_130513021718.EY")


def test_edl_units_and_rotation_match_mtpy_reference(mt_slice):
  """raw uV / (gain 10 x 25 m) turned by the 8.2 degree declination == MTpy's miniSEED values."""
  segment = ge.read_edl_ascii(mt_slice)[1]
  ex, ey = ge.rotate_horizontal(segment.values[:, 0], segment.values[:, 1], 8.2)
  for channel, ours in (("ex", ex), ("ey", ey)):
    start, reference = read_float64_miniseed(
      mt_slice / f"BP02_20130513_microvoltpermeter_records00-15.{channel}.mseed"
    )
    assert start == segment.start
    np.testing.assert_allclose(ours, reference[: len(ours)], rtol=0, atol=1e-9)


def test_edl_decimation_to_0p1_hz_on_whole_10_s_times(mt_slice):
  series = ge.read_edl_timeseries(mt_slice)
  assert series.interval_seconds == 10 and series.channels == ("EX", "EY")
  assert series.times[0] == np.datetime64("2013-05-13T02:17:20")
  assert series.times[-1] == np.datetime64("2013-05-13T02:29:50")
  assert len(series) == 76 and not series.missing.any()
  assert "02:16:13" in series.metadata["dropped_segments"][0]
  # Smoothed over 2 minutes, the 0.1 Hz series follows the 10 Hz record.
  raw = ge.read_edl_ascii(mt_slice)[1].values[20:]  # from 02:17:20
  for c in range(2):
    ours = np.convolve(series.values[:, c], np.ones(13) / 13, mode="valid")
    ref = np.convolve(raw[:, c], np.ones(1300) / 1300, mode="valid")[::100][: len(ours)]
    assert np.sqrt(np.mean((ours - ref) ** 2)) < 0.1 * raw[:, c].std()


def test_decimation_keeps_slow_waves_and_removes_aliases():
  rate = 10.0
  t = np.arange(36_000) / rate
  slow = 3.0 * np.sin(2 * np.pi * 0.01 * t)
  fast = 5.0 * np.sin(2 * np.pi * 0.7 * t) + 2.0 * np.sin(2 * np.pi * 0.1 * t)  # alias to 0
  segment = ge.EdlSegment(
    np.datetime64("2020-01-01T00:00:00.000"), rate, (slow + fast)[:, None], ("EX",), ("synthetic",)
  )
  out = ge.decimate_segment(segment)
  expected = 3.0 * np.sin(2 * np.pi * 0.01 * np.arange(len(out)) * 10.0)
  inner = slice(10, -10)  # away from the filter's ends
  np.testing.assert_allclose(out.values[inner, 0], expected[inner], atol=0.05)


def test_edl_reader_errors(tmp_path):
  (tmp_path / "ST_200101000000.EX").write_text("1\n2\n")
  with pytest.raises(DataFormatError, match=r"no file for channel\(s\) \['EY'\]"):
    ge.read_edl_ascii(tmp_path)
  (tmp_path / "ST_200101000000.EY").write_text("")
  with pytest.raises(DataFormatError, match="ST_200101000000.EY: empty file"):
    ge.read_edl_ascii(tmp_path)
  (tmp_path / "ST_200101000000.EY").write_text("1\nx\n")
  with pytest.raises(DataFormatError, match="ST_200101000000.EY line 2"):
    ge.read_edl_ascii(tmp_path)
  (tmp_path / "ST_200101000000.EY").write_text("1\n2\n3\n")
  with pytest.raises(DataFormatError, match="differ in length"):
    ge.read_edl_ascii(tmp_path)
  (tmp_path / "ST_200101000000.EY").write_text("1\n2\n")
  (tmp_path / "ST_200101000000.EX").write_text("1\n" * 20)
  (tmp_path / "ST_200101000000.EY").write_text("1\n" * 20)
  (tmp_path / "ST_200101000001.EX").write_text("1\n")
  (tmp_path / "ST_200101000001.EY").write_text("1\n")
  with pytest.raises(DataFormatError, match="before the previous file ends"):
    ge.read_edl_ascii(tmp_path)
  with pytest.raises(ValueError, match="only electric channels"):
    ge.read_edl_ascii(tmp_path, ("BX",))


@pytest.mark.shared_data
def test_whole_mt_record_decodes_against_mtpy(shared_data_dir):
  folder = shared_data_dir / "geoelectric" / "mt_adelaide_2013"
  segments = ge.read_edl_ascii(folder / "BP02_ascii_10Hz")
  assert [len(s.values) for s in segments] == [70, 97_020]
  ex, _ = ge.rotate_horizontal(segments[1].values[:, 0], segments[1].values[:, 1], 8.2)
  start, reference = read_float64_miniseed(
    folder / "miniseed" / "BP02_1day_20130513_1_microvoltpermeter.ex.mseed"
  )
  assert start == segments[1].start
  np.testing.assert_allclose(ex, reference, rtol=0, atol=1e-9)
  series = ge.read_edl_timeseries(folder / "BP02_ascii_10Hz", declination_deg=8.2)
  assert len(series) == 970 and series.times[-1] == np.datetime64("2013-05-13T04:58:50")
  assert np.all(np.isfinite(series.values))

"""Point files (`YYYYMMDDHH[MM] value`) and the four-gauge reader, synthetic and real (Guzan)."""

import numpy as np
import pytest

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import gap_report
from precursor_jax.data import point_series

GUZAN_AZIMUTHS = (51.0, 96.0, 141.0, 6.0)


def write(path, lines, newline="\r\n"):
  path.write_text(newline.join(lines) + newline)
  return path


def test_hourly_file_missing_codes_and_skipped_hour(tmp_path):
  path = write(
    tmp_path / "h1.DAT",
    [
      " 2007041008  -61877.80",
      " 2007041009   99999.00",
      " 2007041010  999999",
      " 2007041012  -61870.10",
      " 2007041013   99999",
    ],
  )
  ts = point_series.read_point_file(path)
  assert ts.channels == ("h1",) and ts.interval_seconds == 3600 and len(ts) == 6
  np.testing.assert_array_equal(
    ts.column("h1"), [-61877.8, np.nan, np.nan, np.nan, -61870.1, np.nan]
  )
  gaps = gap_report(ts)
  assert [(g.start, g.n_samples) for g in gaps] == [
    (np.datetime64("2007-04-10T09:00"), 3),
    (np.datetime64("2007-04-10T13:00"), 1),
  ]


def test_minute_daily_and_comma_forms(tmp_path):
  minute = point_series.read_point_file(
    write(tmp_path / "m.txt", ["201303170000 1.5", "201303170001 2.5", "201303170003 4.5"])
  )
  assert minute.interval_seconds == 60 and len(minute) == 4 and np.isnan(minute.values[2, 0])
  daily = point_series.read_point_file(write(tmp_path / "d.txt", ["20130317,1", "20130318,2"]))
  assert daily.interval_seconds == 86400 and daily.times[1] == np.datetime64("2013-03-18")


@pytest.mark.parametrize(
  "lines,line,reason",
  [
    (["2013031700 1", "201303170100 2"], 2, "has 12 digits"),
    (["2013031700 1", "2013031701 x"], 2, "expected a number"),
    (["2013031700 1", "2013131701 2"], 2, "invalid timestamp"),
    (["2013031700 1", "2013031700 2"], 2, "duplicate timestamp"),
    (["2013031700 1", "2013031701"], 2, "expected 'YYYYMMDD"),
    (["201303170000 1", "201303170010 2", "201303170020 3", "201303170035 4"], 4, "whole multiple"),
  ],
)
def test_malformed_point_files_name_the_line(tmp_path, lines, line, reason):
  path = write(tmp_path / "bad.DAT", lines)
  with pytest.raises(DataFormatError, match=reason) as err:
    point_series.read_point_file(path)
  assert err.value.line == line and str(err.value).startswith(f"{path} line {line}:")


def guzan_slice(test_data_dir):
  return test_data_dir / "strain" / "guzan_2007_03_05"


def test_four_gauge_real_slice_matches_loadtxt_oracle(test_data_dir):
  folder = guzan_slice(test_data_dir)
  ts = point_series.read_four_gauge(
    folder, metadata_file=folder / "batch_guide_template_station_metadata.utf8.txt"
  )
  assert ts.channels == ("S1", "S2", "S3", "S4") and ts.interval_seconds == 3600
  assert ts.times[0] == np.datetime64("2007-03-01T00") and ts.times[-1] == np.datetime64(
    "2007-05-31T23"
  )
  assert len(ts) == (31 + 30 + 31) * 24
  meta = ts.metadata
  assert meta["azimuths_deg"] == GUZAN_AZIMUTHS
  assert (meta["latitude"], meta["longitude"], meta["elevation"]) == (30.12, 102.18, 1450.0)
  for k, gauge in enumerate(("h1", "h2", "h3", "h4")):
    raw = np.loadtxt(folder / f"{gauge}.DAT", dtype=str)
    expected = raw[:, 1].astype(float)
    expected[expected == 99999.0] = np.nan
    np.testing.assert_array_equal(ts.values[:, k], expected)
  # The 2007-04-10 10h..23h block of 99999 is missing in all four gauges.
  gaps = gap_report(ts)
  assert {(g.start, g.end, g.n_samples) for g in gaps} == {
    (np.datetime64("2007-04-10T10:00"), np.datetime64("2007-04-10T23:00"), 14)
  }
  assert len(gaps) == 4


def test_four_gauge_from_paths_and_missing_gauge(tmp_path, test_data_dir):
  folder = guzan_slice(test_data_dir)
  paths = [folder / f"h{g}.DAT" for g in (1, 2, 3, 4)]
  ts = point_series.read_four_gauge(paths)
  assert ts.channels == point_series.GAUGE_CHANNELS and "azimuths_deg" not in ts.metadata
  for g in (1, 2, 3):
    (tmp_path / f"h{g}-{g * 45}.dat").write_bytes(paths[g - 1].read_bytes())
  with pytest.raises(FileNotFoundError, match="exactly one gauge file"):
    point_series.read_four_gauge(tmp_path)


def test_gauges_with_different_spans_are_aligned(tmp_path):
  lines = [f"20130317{h:02d} {h}.0" for h in range(6)]
  for g in (1, 2, 3, 4):
    write(tmp_path / f"h{g}.DAT", lines[g - 1 :])  # each gauge starts an hour later
  ts = point_series.read_four_gauge(tmp_path)
  assert len(ts) == 6
  assert np.isnan(ts.values[:3, 3]).all() and ts.values[3, 3] == 3.0


def test_station_metadata_gb18030_and_bad_azimuths(tmp_path, test_data_dir):
  utf8 = guzan_slice(test_data_dir) / "batch_guide_template_station_metadata.utf8.txt"
  text = utf8.read_text(encoding="utf-8")
  (tmp_path / "gb.txt").write_bytes(text.encode("gb18030"))
  table = point_series.read_station_metadata(tmp_path / "gb.txt")
  assert table == point_series.read_station_metadata(utf8)
  assert tuple(table[g]["azimuth"] for g in (1, 2, 3, 4)) == GUZAN_AZIMUTHS
  assert table[1]["file"] == "h1-51.DAT"
  (tmp_path / "bad.txt").write_text(text.replace(" 141\n", " 150\n"), encoding="utf-8")
  with pytest.raises(DataFormatError, match="not 45 degrees apart"):
    point_series.read_four_gauge(guzan_slice(test_data_dir), metadata_file=tmp_path / "bad.txt")


def test_check_gauge_azimuths():
  point_series.check_gauge_azimuths(GUZAN_AZIMUTHS)
  point_series.check_gauge_azimuths((0.0, 45.0, 90.0, 135.0))
  with pytest.raises(ValueError):
    point_series.check_gauge_azimuths((0.0, 90.0, 45.0, 135.0))


@pytest.mark.shared_data
def test_whole_guzan_record(shared_data_dir):
  folder = shared_data_dir / "strain" / "guzan_4gauge_hourly_2006_2010"
  ts = point_series.read_four_gauge(
    folder, metadata_file=folder / "batch_guide_template_station_metadata.utf8.txt"
  )
  assert len(ts) == 34320 and ts.times[-1] == np.datetime64("2010-09-30T23")
  np.testing.assert_array_equal(ts.missing.sum(axis=0), [76, 76, 76, 76])
  pressure = point_series.read_point_file(folder / "hpr.DAT", channel="pressure")
  assert len(pressure) == 34320 and int(pressure.missing.sum()) == 74

"""IAGA-2002 reader: real Boulder slices, synthetic 1-second/XYZF files with 99999/88888, errors."""

import numpy as np
import pytest

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import gap_report
from precursor_jax.data import iaga2002


def header_record(keyword, value):
  return f" {keyword:<23}{value:<45}|"


def write_iaga(
  path,
  times,
  values,
  *,
  code="TST",
  components="XYZF",
  interval="1-second",
  doy_shift=0,
  extra_lines=(),
):
  """A small IAGA-2002 file written from scratch (spec layout), values (N, 4) as given."""
  lines = [
    header_record(k, v)
    for k, v in [
      ("Format", "IAGA-2002"),
      ("Source of Data", "synthetic"),
      ("Station Name", "Test Town"),
      ("IAGA CODE", code),
      ("Geodetic Latitude", "51.500"),
      ("Geodetic Longitude", "359.250"),
      ("Elevation", "120"),
      ("Reported", components),
      ("Sensor Orientation", "HDZF"),
      ("Digital Sampling", "0.01 second"),
      ("Data Interval Type", f"Average {interval}"),
      ("Data Type", "variation"),
    ]
  ]
  lines.append(" # a comment line" + " " * 52 + "|")
  lines.append(
    "DATE       TIME         DOY     " + "".join(f"{code}{c:<6}" for c in components) + "|"
  )
  for t, row in zip(times, values, strict=True):
    stamp = np.datetime_as_string(np.datetime64(t, "s"))
    day = np.datetime64(t, "D")
    doy = int((day - day.astype("datetime64[Y]")) / np.timedelta64(1, "D")) + 1 + doy_shift
    lines.append(
      f"{stamp[:10]} {stamp[11:19]}.000 {doy:03d}   " + "".join(f"{v:10.2f}" for v in row)
    )
  lines.extend(extra_lines)
  path.write_text("\n".join(lines) + "\n")
  return path


def seconds(n, start="2013-03-17T23:59:58"):
  return np.datetime64(start, "s") + np.arange(n) * np.timedelta64(1, "s")


def test_real_boulder_slice_header_and_values(test_data_dir):
  path = test_data_dir / "geomag" / "BOU201601vmin_first6h.min"
  ts = iaga2002.read_iaga2002(path)
  meta = ts.metadata
  assert (meta["station_code"], meta["station_name"], meta["data_type"]) == (
    "BOU",
    "Boulder",
    "variation",
  )
  assert (meta["latitude"], meta["longitude"], meta["elevation"]) == (40.137, 254.764, 1682.0)
  assert ts.channels == ("H", "E", "Z", "F") and ts.interval_seconds == 60
  assert meta["column_names"] == ["BOUH", "BOUE", "BOUZ", "BOUF"]
  assert any("INTERMAGNET" in c for c in meta["comments"])
  assert len(ts) == 360 and not ts.missing.any()
  # Oracle: the data lines split by hand.
  rows = [ln.split() for ln in path.read_text().splitlines()[22:]]
  np.testing.assert_array_equal(ts.values, np.array([r[3:] for r in rows], dtype=float))
  assert ts.times[0] == np.datetime64("2016-01-01T00:00") and ts.times[-1] == np.datetime64(
    "2016-01-01T05:59"
  )


def test_directory_of_daily_files_is_joined_in_time_order(test_data_dir):
  ts = iaga2002.read_iaga2002(test_data_dir / "geomag" / "bou_2014_daily")
  assert ts.channels == ("H", "D", "Z", "F") and len(ts) == 120 and not ts.missing.any()
  assert ts.times[0] == np.datetime64("2014-11-01T23:00") and ts.times[-1] == np.datetime64(
    "2014-11-02T00:59"
  )
  assert [p.rsplit("/", 1)[-1] for p in ts.metadata["source_files"]] == [
    "bou20141101vmin_last1h.min",
    "bou20141102vmin_first1h.min",
  ]
  assert ts.metadata["units"]["D"] == "minutes of arc" and ts.metadata["units"]["H"] == "nT"


def test_one_second_file_missing_codes_become_nan(tmp_path):
  rng = np.random.default_rng(1)
  values = rng.normal(20000.0, 5.0, size=(6, 4))
  values[1, 0] = 99999.00
  values[2, 3] = 88888.00
  values[3, 1] = 99999.00
  path = write_iaga(tmp_path / "tst20130317vsec.sec", seconds(6), values)
  ts = iaga2002.read_iaga2002(path)
  assert ts.channels == tuple("XYZF") and ts.interval_seconds == 1
  expected = np.where(np.isin(values, [99999.0, 88888.0]), np.nan, np.round(values, 2))
  np.testing.assert_array_equal(ts.values, expected)
  assert {(g.channel, g.n_samples) for g in gap_report(ts)} == {("X", 1), ("F", 1), ("Y", 1)}
  assert ts.times[2] == np.datetime64("2013-03-18T00:00:00")  # crosses midnight: DOY 076 -> 077


def test_list_of_files_with_duplicate_timestamps_is_an_error(tmp_path):
  a = write_iaga(
    tmp_path / "a.min", seconds(3, "2013-03-17T00:00:00"), np.zeros((3, 4)), interval="1-second"
  )
  b = write_iaga(
    tmp_path / "b.min", seconds(3, "2013-03-17T00:00:02"), np.zeros((3, 4)), interval="1-second"
  )
  with pytest.raises(DataFormatError, match=r"b.min: starts at .* overlapping .*a.min"):
    iaga2002.read_iaga2002([b, a])


def test_skipped_minute_becomes_missing_but_off_grid_step_is_an_error(tmp_path):
  minutes = np.datetime64("2013-03-17T00:00", "s") + np.array([0, 60, 180, 240]).astype(
    "timedelta64[s]"
  )
  ts = iaga2002.read_iaga2002(
    write_iaga(tmp_path / "skip.min", minutes, np.ones((4, 4)), interval="1-minute")
  )
  assert len(ts) == 5 and np.isnan(ts.values[2]).all()
  off = minutes.copy()
  off[2] = off[1] + np.timedelta64(30, "s")
  # 14 header lines, so the third sample is on line 17.
  with pytest.raises(DataFormatError, match=r"line 17: .*whole multiple of the sampling interval"):
    iaga2002.read_iaga2002(
      write_iaga(tmp_path / "off.min", off, np.ones((4, 4)), interval="1-minute")
    )


@pytest.mark.parametrize(
  "bad_line,reason",
  [
    ("2013-03-18 00:00:00.000 077     1.00      2.00      3.00", "followed by 4 values"),
    ("2013-03-18 00:00:00.000 077     1.00      2.00      x.00      4.00", "non-numeric"),
    ("2013-03-18 00:00:00.500 077     1.00      2.00      3.00      4.00", "whole seconds"),
    ("2013-02-30 00:00:00.000 061     1.00      2.00      3.00      4.00", "invalid date"),
  ],
)
def test_malformed_data_line_names_file_and_line(tmp_path, bad_line, reason):
  path = write_iaga(tmp_path / "bad.sec", seconds(2), np.ones((2, 4)), extra_lines=[bad_line])
  with pytest.raises(DataFormatError, match=reason) as err:
    iaga2002.read_iaga2002(path)
  assert err.value.line == 17 and str(err.value).startswith(f"{path} line 17: ")


def test_day_of_year_must_match_the_date(tmp_path):
  path = write_iaga(tmp_path / "doy.sec", seconds(2), np.ones((2, 4)), doy_shift=1)
  with pytest.raises(DataFormatError, match="day of year 077 does not match|day of year 77"):
    iaga2002.read_iaga2002(path)


def test_header_problems(tmp_path):
  path = write_iaga(tmp_path / "h.sec", seconds(2), np.ones((2, 4)), components="XYZF")
  text = path.read_text()
  (tmp_path / "nocode.sec").write_text(text.replace(" IAGA CODE", " IAGA KODE"))
  with pytest.raises(DataFormatError, match="lacks \\['IAGA CODE'\\]"):
    iaga2002.read_iaga2002(tmp_path / "nocode.sec")
  (tmp_path / "mismatch.sec").write_text(text.replace("XYZF" + " " * 41, "HDZF" + " " * 41, 1))
  with pytest.raises(DataFormatError, match="do not match 'Reported HDZF'"):
    iaga2002.read_iaga2002(tmp_path / "mismatch.sec")
  (tmp_path / "interval.sec").write_text(text.replace("Average 1-second", "Average sometimes"))
  with pytest.raises(DataFormatError, match="Data Interval Type"):
    iaga2002.read_iaga2002(tmp_path / "interval.sec")


def test_parse_interval():
  assert iaga2002.parse_interval("filtered 1-minute (00:15-01:45)") == np.timedelta64(60, "s")
  assert iaga2002.parse_interval("Average 1-Second") == np.timedelta64(1, "s")
  assert iaga2002.parse_interval("1-hour (00-59)") == np.timedelta64(3600, "s")


@pytest.mark.shared_data
def test_whole_shared_boulder_files(shared_data_dir):
  folder = shared_data_dir / "geomag" / "bou_usgs_iaga2002"
  month = iaga2002.read_iaga2002(folder / "BOU201601vmin.min")
  assert len(month) == 41592 and not month.missing.any()  # SOURCE.md: 41,592 minutes, no fills
  assert month.times[-1] == np.datetime64("2016-01-29T21:11")
  week = iaga2002.read_iaga2002(sorted(folder.glob("bou2014*.min")))
  assert len(week) == 7 * 1440 and not week.missing.any()
  with pytest.raises(DataFormatError, match="components HDZF differ from HEZF"):
    iaga2002.read_iaga2002(folder)  # the folder mixes HEZF and HDZF files

"""Kp (CelesTrak SW-All, CSV) and Dst (Kyoto WDC, CSV): cross-checks and known storm values."""

import numpy as np
import pytest

from precursor_jax.core.errors import DataFormatError
from precursor_jax.data import spaceweather as sw

STORM_KP_TIME = np.datetime64("2013-03-17T06:00")  # 06-09 UT
STORM_DST_TIME = np.datetime64("2013-03-17T20:00")  # 20-21 UT


def folder(test_data_dir):
  return test_data_dir / "spaceweather"


@pytest.mark.parametrize(
  "code,kp",
  [(0, 0.0), (3, 1 / 3), (7, 2 / 3), (23, 7 / 3), (27, 8 / 3), (50, 5.0), (67, 20 / 3), (90, 9.0)],
)
def test_decode_kp_thirds(code, kp):
  assert sw.decode_kp(code) == pytest.approx(kp, abs=1e-12)


@pytest.mark.parametrize("code", [25, 93, -3, 100])
def test_decode_kp_rejects_non_codes(code):
  with pytest.raises(ValueError):
    sw.decode_kp(code)


def test_sw_all_slice_observed_block_only(test_data_dir):
  kp = sw.read_kp_celestrak(folder(test_data_dir) / "SW-All_2013-03.txt")
  assert kp.channels == ("kp", "ap") and kp.interval == sw.KP_INTERVAL
  assert len(kp) == 31 * 8 and not kp.missing.any()
  # The predicted rows after END OBSERVED (2025-07-21 ...) are not read.
  assert kp.times[-1] == np.datetime64("2013-03-31T21:00")
  i = int(np.flatnonzero(kp.times == STORM_KP_TIME)[0])
  assert kp.values[i, 0] == pytest.approx(6.667, abs=1e-3) and kp.values[i, 1] == 111
  assert kp.metadata["updated"].startswith("2025 Jul 21")


def test_sw_all_equals_csv(test_data_dir):
  kp = sw.read_kp_celestrak(folder(test_data_dir) / "SW-All_2013-03.txt")
  csv = sw.read_kp_csv(folder(test_data_dir) / "kp_ap_3hourly_2013-03.csv")
  np.testing.assert_array_equal(kp.times, csv.times)
  np.testing.assert_allclose(kp.column("kp"), csv.column("kp"), atol=5e-4)  # CSV: 3 decimals
  np.testing.assert_array_equal(kp.column("ap"), csv.column("ap"))


def test_wdc_dst_equals_csv_and_storm_minimum(test_data_dir):
  dst = sw.read_dst_wdc(folder(test_data_dir) / "DSTFILE_2013-03.TXT")
  csv = sw.read_dst_csv(folder(test_data_dir) / "dst_hourly_2013-03.csv")
  assert dst.interval == sw.DST_INTERVAL and len(dst) == 31 * 24
  np.testing.assert_array_equal(dst.times, csv.times)
  np.testing.assert_array_equal(dst.values, csv.values)
  assert dst.values[dst.times == STORM_DST_TIME, 0] == -132.0
  assert np.nanmin(dst.column("dst")) == -132.0


def wdc_record(yy_mm_dd, hourly, *, tag="  X2", century="20", base=0, mean=9999):
  """A WDC record built field by field: DSTyymm*dd, tag, century, base, 24 values, daily mean."""
  yy, mm, dd = yy_mm_dd
  line = (
    f"DST{yy:02d}{mm:02d}*{dd:02d}{tag}{century:>2}{base:4d}"
    + "".join(f"{v:4d}" for v in hourly)
    + f"{mean:4d}"
  )
  assert len(line) == 120
  return line


def test_wdc_missing_base_value_and_century(tmp_path):
  hourly = list(range(-10, 14))
  hourly[5] = 9999
  lines = [
    wdc_record((99, 12, 31), hourly, century="  "),  # blank century: 19xx
    wdc_record((0, 1, 1), hourly, base=-1),  # base value in units of 100 nT
    wdc_record((0, 1, 2), hourly, tag="SET1", century="00"),
  ]  # SET tag: yy < 57 -> 20yy
  path = tmp_path / "dst.txt"
  path.write_text("\n".join(lines) + "\n")
  dst = sw.read_dst_wdc(path)
  assert dst.times[0] == np.datetime64("1999-12-31T00:00") and len(dst) == 72
  expected = np.array(hourly, dtype=float)
  expected[5] = np.nan
  np.testing.assert_array_equal(dst.column("dst")[:24], expected)
  np.testing.assert_array_equal(dst.column("dst")[24:48], expected - 100.0)
  np.testing.assert_array_equal(dst.column("dst")[48:], expected)


def test_wdc_malformed_record_names_the_line(tmp_path):
  good = wdc_record((13, 3, 1), [0] * 24)
  path = tmp_path / "dst.txt"
  path.write_text(good + "\n" + good[:119] + "\n")
  with pytest.raises(DataFormatError, match="line 2: expected a 120-character WDC record"):
    sw.read_dst_wdc(path)
  path.write_text(
    good + "\n" + good.replace("DST1303*01", "DST1303*02")[:40] + "  x" + good[43:] + "\n"
  )
  with pytest.raises(DataFormatError, match="line 2: expected a date, a base value"):
    sw.read_dst_wdc(path)


def test_sw_all_malformed_lines(tmp_path, test_data_dir):
  lines = (folder(test_data_dir) / "SW-All_2013-03.txt").read_text().splitlines()
  first = lines.index("BEGIN OBSERVED") + 1
  bad_sum = list(lines)
  bad_sum[first] = bad_sum[first][:42] + " 351" + bad_sum[first][46:]  # Sum 350 -> 351
  (tmp_path / "sum.txt").write_text("\n".join(bad_sum) + "\n")
  with pytest.raises(DataFormatError, match=f"line {first + 1}: the Kp codes .* Sum column is 351"):
    sw.read_kp_celestrak(tmp_path / "sum.txt")
  bad_code = list(lines)
  bad_code[first + 2] = bad_code[first + 2][:18] + " 25" + bad_code[first + 2][21:]
  (tmp_path / "code.txt").write_text("\n".join(bad_code) + "\n")
  with pytest.raises(DataFormatError, match=f"line {first + 3}: .*25 is not a Kp x10 code"):
    sw.read_kp_celestrak(tmp_path / "code.txt")
  (tmp_path / "noend.txt").write_text("\n".join(lines[: first + 3]) + "\n")
  with pytest.raises(DataFormatError, match="END OBSERVED"):
    sw.read_kp_celestrak(tmp_path / "noend.txt")


def test_csv_errors(tmp_path):
  (tmp_path / "a.csv").write_text("time,kp\n2013-03-01T00:00:00Z,1\n")
  with pytest.raises(DataFormatError, match="line 1: expected a header"):
    sw.read_kp_csv(tmp_path / "a.csv")
  (tmp_path / "b.csv").write_text(
    "time_utc_hour_start,dst_nT\n2013-03-01T00:00:00Z,-5\n"
    "2013-03-01T01:00:00Z,-6\n2013-03-01T2:00Z,-7\n"
  )
  with pytest.raises(DataFormatError, match="line 4: expected ISO time"):
    sw.read_dst_csv(tmp_path / "b.csv")
  (tmp_path / "c.csv").write_text(
    "time_utc_hour_start,dst_nT\n2013-03-01T00:00:00Z,-5\n"
    "2013-03-01T01:00:00Z,\n2013-03-01T02:00:00Z,-7\n"
  )
  np.testing.assert_array_equal(sw.read_dst_csv(tmp_path / "c.csv").column("dst"), [-5, np.nan, -7])


@pytest.mark.shared_data
def test_whole_shared_files_agree(shared_data_dir):
  kp = sw.read_kp_celestrak(shared_data_dir / "spaceweather/kp_ap_celestrak/SW-All.txt")
  kp_csv = sw.read_kp_csv(
    shared_data_dir / "spaceweather/kp_ap_celestrak/kp_ap_3hourly_2011-2014.csv"
  )
  assert kp.times[0] == np.datetime64("1957-10-01T00:00") and not kp.missing.any()
  assert len(kp) == 24765 * 8  # NUM_OBSERVED_POINTS days
  overlap = kp.slice_time(kp_csv.times[0], kp_csv.end)
  np.testing.assert_array_equal(overlap.times, kp_csv.times)
  np.testing.assert_allclose(overlap.values, kp_csv.values, atol=5e-4)
  dst = sw.read_dst_wdc(shared_data_dir / "spaceweather/dst_kyoto/DSTFILE.TXT")
  dst_csv = sw.read_dst_csv(shared_data_dir / "spaceweather/dst_kyoto/dst_hourly_2011-2014.csv")
  assert dst.times[0] == np.datetime64("1996-12-20T00:00") and dst.times[-1] == np.datetime64(
    "2023-03-20T23:00"
  )
  overlap = dst.slice_time(dst_csv.times[0], dst_csv.end)
  np.testing.assert_array_equal(overlap.values, dst_csv.values)
  # SOURCE.md: 2011-10-25 minimum -137 nT.
  assert np.nanmin(dst.slice_time("2011-10-25", "2011-10-26").values) == -137.0

"""Earthquake catalogues: USGS CSV (UTC) and the CENC-style list (Beijing time -> UTC), filters."""

import numpy as np
import pytest

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.geodesy import haversine_km
from precursor_jax.data import catalogs

LUSHAN_CENC_UTC = np.datetime64("2013-04-20T00:02:46.000")
LUSHAN_USGS_UTC = np.datetime64("2013-04-20T00:02:48.000")


def cenc(test_data_dir):
  return catalogs.read_cenc_text(
    test_data_dir / "catalogs" / "cenc_style_catalog_2013_beijing_time.txt"
  )


def usgs(test_data_dir):
  return catalogs.read_usgs_csv(test_data_dir / "catalogs" / "usgs_significant_M5.5plus_2013.csv")


def test_cenc_beijing_time_becomes_utc_and_fields_parse(test_data_dir):
  cat = cenc(test_data_dir)
  assert len(cat) == 186 and np.all(np.diff(cat.time) >= np.timedelta64(0))
  lushan = cat.select(np.char.find(cat.place.astype(str), "芦山") >= 0).with_magnitude(7.0)
  assert len(lushan) == 1
  assert lushan.time[0] == LUSHAN_CENC_UTC  # listed 2013-04-20 08:02:46.0 Beijing time
  assert (lushan.latitude[0], lushan.longitude[0], lushan.depth_km[0]) == (30.3, 103.0, 13.0)
  assert lushan.magnitude_type[0] == "M" and lushan.place[0] == "四川省雅安市芦山县"
  assert set(cat.magnitude_type) == {"M"}  # 2013 lists only "M"; Ms and Mw appear earlier


def test_cenc_oracle_on_every_line(test_data_dir):
  """Each event equals its line parsed by hand (local time minus 8 h)."""
  path = test_data_dir / "catalogs" / "cenc_style_catalog_2013_beijing_time.txt"
  cat = cenc(test_data_dir)
  rows = []
  for line in path.read_text(encoding="utf-8").splitlines():
    date, clock, lat, lon, depth, mag, place = line.split(maxsplit=6)
    local = np.datetime64(f"{date}T{clock}", "ms")
    value = float(mag.lstrip("Msw"))
    rows.append((local - np.timedelta64(8, "h"), float(lat), float(lon), value, place))
  rows.sort(key=lambda r: r[0])
  assert [r[0] for r in rows] == list(cat.time)
  np.testing.assert_array_equal([r[3] for r in rows], cat.magnitude)
  assert [r[4] for r in rows] == list(cat.place)
  # Events before 08:00 Beijing time fall on the previous UTC day.
  local_days = sorted(
    np.datetime64(ln.split()[0]) for ln in path.read_text(encoding="utf-8").splitlines()
  )
  utc_days = list(cat.time.astype("datetime64[D]"))
  assert sum(u != d for u, d in zip(utc_days, local_days, strict=True)) > 0


def test_usgs_lushan_and_columns(test_data_dir):
  cat = usgs(test_data_dir)
  assert len(cat) == 461
  lushan = cat.select(cat.event_id == "USB000GCDD")
  assert lushan.time[0] == LUSHAN_USGS_UTC
  assert (lushan.magnitude[0], lushan.magnitude_type[0]) == (6.6, "MWW")
  assert (lushan.latitude[0], lushan.longitude[0], lushan.depth_km[0]) == (30.308, 102.888, 14.0)
  assert set(cat.event_type) == {"Earthquake"}


def test_lushan_is_the_same_event_in_both_catalogs(test_data_dir):
  a, b = cenc(test_data_dir), usgs(test_data_dir)
  ref = a.select(np.char.find(a.place.astype(str), "芦山") >= 0).with_magnitude(7.0)
  near = b.within_km(ref.latitude[0], ref.longitude[0], 50.0).between(
    ref.time[0] - np.timedelta64(1, "m"), ref.time[0] + np.timedelta64(1, "m")
  )
  assert len(near) == 1 and near.event_id[0] == "USB000GCDD"
  assert near.time[0] - ref.time[0] == np.timedelta64(2, "s")


def test_filters_against_loops(test_data_dir):
  cat = usgs(test_data_dir)
  start, end = np.datetime64("2013-04-01"), np.datetime64("2013-05-01")
  window = cat.between(start, end)
  assert len(window) == sum(start <= t < end for t in cat.time)
  strong = cat.with_magnitude(6.5, 7.0)
  assert len(strong) == sum(6.5 <= m <= 7.0 for m in cat.magnitude)
  sichuan = cat.in_box(26.0, 34.0, 97.0, 106.0)
  assert len(sichuan) == sum(
    26 <= la <= 34 and 97 <= lo <= 106 for la, lo in zip(cat.latitude, cat.longitude, strict=True)
  )
  # SOURCE.md lists three M>=5.5 events in this box in 2013: 04-20 Lushan, 08-11, 08-31.
  assert [str(t)[:10] for t in sichuan.time] == ["2013-04-20", "2013-08-11", "2013-08-31"]
  near = cat.within_km(30.12, 102.18, 1023.3)
  assert len(near) == sum(
    haversine_km(30.12, 102.18, la, lo) <= 1023.3
    for la, lo in zip(cat.latitude, cat.longitude, strict=True)
  )


def test_box_across_the_dateline():
  n = 4
  cat = catalogs.Catalog(
    time=np.arange(n).astype("datetime64[ms]"),
    latitude=np.zeros(n),
    longitude=np.array([175.0, -175.0, 10.0, 185.0]),
    depth_km=np.zeros(n),
    magnitude=np.full(n, 6.0),
    magnitude_type=np.array(["Mw"] * n),
    place=np.array([""] * n),
    event_id=np.array(["a", "b", "c", "d"]),
    event_type=np.array(["Earthquake"] * n),
  )
  assert list(cat.in_box(-1, 1, 170.0, -170.0).event_id) == ["a", "b", "d"]


def test_malformed_catalog_lines(tmp_path):
  good = "2013-04-20  08:02:46.0   30.3   103.0   13  M7.0  芦山"
  for bad, reason in [
    ("2013-04-20  09:00:00.0   30.3   103.0   13  7.0  芦山", "a magnitude like"),
    ("2013-04-20  09:61:00.0   30.3   103.0   13  M7.0  芦山", "a time hh:mm"),
    ("2013-02-30  09:00:00.0   30.3   103.0   13  M7.0  芦山", "expected 'YYYY"),
  ]:
    (tmp_path / "c.txt").write_text(f"{good}\n{bad}\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"line 2: .*{reason}"):
      catalogs.read_cenc_text(tmp_path / "c.txt")
  # Unpadded seconds occur in the real list ("01:53:0.6").
  (tmp_path / "ok.txt").write_text(
    "1999-10-02  01:53:0.6    23.5   121.6    0  Ms6.6  台湾花莲\n", encoding="utf-8"
  )
  assert catalogs.read_cenc_text(tmp_path / "ok.txt").time[0] == np.datetime64(
    "1999-10-01T17:53:00.600"
  )
  (tmp_path / "u.csv").write_text("Date,Time,Latitude\n01/02/1965,13:44:18,19.246\n")
  with pytest.raises(DataFormatError, match="line 1: expected columns"):
    catalogs.read_usgs_csv(tmp_path / "u.csv")


def test_cenc_gb18030_file_reads_the_same(tmp_path, test_data_dir):
  path = test_data_dir / "catalogs" / "cenc_style_catalog_2013_beijing_time.txt"
  (tmp_path / "gb.txt").write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
  a, b = cenc(test_data_dir), catalogs.read_cenc_text(tmp_path / "gb.txt")
  assert list(a.place) == list(b.place) and np.array_equal(a.time, b.time)


@pytest.mark.shared_data
def test_whole_shared_catalogs(shared_data_dir):
  a = catalogs.read_cenc_text(
    shared_data_dir / "catalogs" / "cenc_style_catalog_1999-2013_beijing_time.txt"
  )
  b = catalogs.read_usgs_csv(
    shared_data_dir / "catalogs" / "usgs_significant_M5.5plus_1965-2016.csv"
  )
  assert (len(a), len(b)) == (1220, 23412)
  types, counts = np.unique(a.magnitude_type, return_counts=True)
  assert dict(zip(types.tolist(), counts.tolist(), strict=True)) == {"M": 282, "Ms": 937, "Mw": 1}
  box = b.in_box(26.0, 34.0, 97.0, 106.0).between("2012-01-01", "2015-01-01")
  # SOURCE.md: eight events in the Sichuan box 2012-2014.
  assert [str(t)[:10] for t in box.time] == [
    "2012-06-24",
    "2012-09-07",
    "2013-04-20",
    "2013-08-11",
    "2013-08-31",
    "2014-08-03",
    "2014-11-22",
    "2014-11-25",
  ]
  assert int((b.event_type == "Nuclear Explosion").sum()) == 175

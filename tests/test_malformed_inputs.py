"""Malformed and unusual inputs for every reader, VMD and the QC command (issue 11).

Each malformed case corrupts a copy of a real test file (tests/data/*/PROVENANCE.md) in tmp_path
and asserts the exception type AND that the message names the file, the line (and the field where
there is one) and what was expected. The valid-but-unusual files (BOM, CRLF, CR, GB18030, gzip,
1-second IAGA-2002, IAGA-2002 named *.txt) must read with exact sample counts. The rules checked
here are documented in core/ranges.py and core/textio.py.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import io
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precursor_jax import qc
from precursor_jax.core import ranges, textio
from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.ranges import ImplausibleValueError
from precursor_jax.data import catalogs, ett, geoelectric, iaga2002, point_series
from precursor_jax.data import spaceweather as sw
from precursor_jax.signal.vmd import vmd

DATA = pathlib.Path(__file__).resolve().parent / "data"
BOU = DATA / "geomag" / "BOU201601vmin_first6h.min"  # 22 header lines, 360 data lines
BOU_FIRST_DATA = 23
BOU_DAILY = DATA / "geomag" / "bou_2014_daily"
GUZAN = DATA / "strain" / "guzan_2007_03_05"  # 2,208 hourly lines per gauge, CRLF
GUZAN_META = GUZAN / "batch_guide_template_station_metadata.utf8.txt"
SPACE = DATA / "spaceweather"
KP_CSV = SPACE / "kp_ap_3hourly_2013-03.csv"  # header + 248 rows
DST_CSV = SPACE / "dst_hourly_2013-03.csv"  # header + 744 rows
DST_WDC = SPACE / "DSTFILE_2013-03.TXT"  # 31 records
SW_ALL = SPACE / "SW-All_2013-03.txt"  # observed block from line 18
USGS = DATA / "catalogs" / "usgs_significant_M5.5plus_2013.csv"  # header + 461 rows
CENC = DATA / "catalogs" / "cenc_style_catalog_2013_beijing_time.txt"  # 186 lines
COMCAT = DATA / "catalogs" / "comcat_composed_2013.csv"  # header + 6 rows
ETT = DATA / "ett" / "ETTh1_head720.csv"  # header + 720 rows
EDL = DATA / "geoelectric" / "mt_adelaide_2013_slice"
EDL_PAIR = ("BP02_130513021613.EX", "BP02_130513021613.EY")  # 70 lines each
DAY_SAMPLES = 8640


# ---------------------------------------------------------------------------------------------
# File editing helpers.
# ---------------------------------------------------------------------------------------------


def edited(source: pathlib.Path, target: pathlib.Path, edits: dict) -> pathlib.Path:
  """A copy of a text file with 1-based lines replaced; each line keeps its own line end.

  edits: line -> new text, or a function of the old text (without its end); None deletes.
  """
  lines = [ln.decode("utf-8") for ln in source.read_bytes().splitlines(keepends=True)]
  for number, edit in edits.items():
    body = lines[number - 1].rstrip("\r\n")
    end = lines[number - 1][len(body) :]
    lines[number - 1] = None if edit is None else (edit(body) if callable(edit) else edit) + end
  target.write_bytes("".join(line for line in lines if line is not None).encode("utf-8"))
  return target


def token(index: int, value: str) -> Callable[[str], str]:
  """Edit: replace the whitespace-separated token `index` (the line is re-spaced)."""

  def edit(line: str) -> str:
    tokens = line.split()
    tokens[index] = value
    return "  ".join(tokens)

  return edit


def csv_field(index: int, value: str) -> Callable[[str], str]:
  """Edit: replace CSV field `index` (quoting kept by the csv module)."""

  def edit(line: str) -> str:
    row = next(csv.reader([line]))
    row[index] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()

  return edit


def columns(start: int, stop: int, value: str) -> Callable[[str], str]:
  """Edit: replace 0-based columns [start, stop) of a fixed-width record, right-aligned."""
  return lambda line: line[:start] + value.rjust(stop - start) + line[stop:]


def header_value(value: str) -> Callable[[str], str]:
  """Edit: the value of a 70-column IAGA-2002 header record."""
  return lambda line: line[:24] + f"{value:<45}|"


def day_file(path: pathlib.Path, values=None, replace: dict | None = None) -> pathlib.Path:
  """A geoelectric day file: a comment line, then 8640 values; replace: {sample: text}."""
  texts = [f"{v:.3f}" for v in (np.linspace(-50, 50, DAY_SAMPLES) if values is None else values)]
  for sample, text in (replace or {}).items():
    texts[sample] = text
  path.write_text("# dipole EW, mV/km\n" + "\n".join(texts) + "\n", encoding="utf-8")
  return path


def edl_copy(tmp: pathlib.Path, edits: dict | None = None, channel: str = "EX") -> pathlib.Path:
  """The first EX/EY pair of the MT slice in its own folder, the `channel` file edited."""
  folder = tmp / "edl"
  folder.mkdir()
  for name in EDL_PAIR:
    if name.endswith(channel) and edits:
      edited(EDL / name, folder / name, edits)
    else:
      shutil.copy(EDL / name, folder / name)
  return folder


# ---------------------------------------------------------------------------------------------
# The malformed cases: each builds a file and says what the error must say.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
  read: Callable[[], object]
  error: type[BaseException]
  path: pathlib.Path
  line: int | None
  fragments: tuple[str, ...]


CASES: dict[str, Callable[[pathlib.Path], Case]] = {}


def case(name: str):
  def register(build):
    CASES[name] = build
    return build

  return register


def iaga(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: iaga2002.read_iaga2002(path), error, path, line, fragments)


@case("iaga_inf_in_z")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {27: token(5, "inf")})
  return iaga(path, 27, "field BOUZ", "inf is not a number", "-100000..100000 nT")


@case("iaga_1e30_in_h")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {30: token(3, "1e30")})
  return iaga(
    path, 30, "field BOUH: 1e+30 is outside the plausible range -100000..100000 nT",
    "geomagnetic component",
  )  # fmt: skip


@case("iaga_minus_inf_in_f")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {382: token(6, "-inf")})
  return iaga(path, 382, "field BOUF", "-inf", "0..100000 nT")


@case("iaga_negative_total_field")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {100: token(6, "-5.00")})
  return iaga(path, 100, "field BOUF: -5.0 is outside", "0..100000 nT", "total geomagnetic field")


@case("iaga_unknown_fill_code_is_not_missing")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {200: token(4, "999999.00")})
  return iaga(path, 200, "field BOUE: 999999.0 is outside", "-100000..100000 nT")


@case("iaga_declination_out_of_range")
def _(tmp):
  source = BOU_DAILY / "bou20141101vmin_last1h.min"
  path = edited(source, tmp / "bou.min", {30: token(4, "20000.00")})
  return iaga(path, 30, "field BOUD: 20000.0", "-10800..10800 minutes of arc", "declination")


@case("iaga_header_latitude_123")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {5: header_value("123.000")})
  return iaga(path, 5, "field Geodetic Latitude: 123.0", "-90..90 degrees")


@case("iaga_header_longitude_400")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {6: header_value("400.0")})
  return iaga(path, 6, "field Geodetic Longitude: 400.0", "-180..360 degrees")


@case("iaga_two_minute_steps_under_one_minute_header")
def _(tmp):
  drop = dict.fromkeys(range(BOU_FIRST_DATA + 1, 383, 2))  # every other minute
  path = edited(BOU, tmp / "BOU.min", drop)
  return iaga(
    path, 24, "step by 120 s (2 minutes)", "'Data Interval Type'", "declares 60 s (1 minute)",
    "1 missing sample(s) between every pair", error=DataFormatError,
  )  # fmt: skip


@case("iaga_unparsable_interval_type")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {11: header_value("now and then")})
  return iaga(
    path, None, "'Data Interval Type'", "<n>-second/minute/hour/day", error=DataFormatError
  )


@case("iaga_wrong_format_record")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {1: header_value("IAGA-2000")})
  return iaga(path, None, "'Format' is 'IAGA-2000', expected 'IAGA-2002'", error=DataFormatError)


@case("iaga_non_numeric_value")
def _(tmp):
  path = edited(BOU, tmp / "BOU.min", {40: token(5, "4737O.21")})
  return iaga(path, 40, "followed by 4 values", "non-numeric", error=DataFormatError)


@case("iaga_utf16_file")
def _(tmp):
  path = tmp / "BOU.min"
  path.write_bytes(BOU.read_text().encode("utf-16"))
  return iaga(path, 1, "UTF-16", "expected UTF-8 or GB18030", error=DataFormatError)


@case("iaga_undecodable_bytes")
def _(tmp):
  lines = BOU.read_bytes().split(b"\n")
  lines[29] = lines[29][:40] + b"\xff\xfe\xff" + lines[29][43:]
  path = tmp / "BOU.min"
  path.write_bytes(b"\n".join(lines))
  return iaga(path, 30, "byte 0xff", "utf-8, gb18030", "expected a UTF-8", error=DataFormatError)


@case("iaga_damaged_gzip")
def _(tmp):
  path = tmp / "BOU.min.gz"
  path.write_bytes(gzip.compress(BOU.read_bytes())[:500])
  return iaga(path, None, "expected a gzip-compressed file", error=DataFormatError)


@case("iaga_binary_file")
def _(tmp):
  path = tmp / "BOU.min"
  path.write_bytes(BOU.read_bytes()[:300] + b"\x00\x01\x02")
  return iaga(path, 5, "NUL byte", "expected a text file", error=DataFormatError)


def point(path, line, *fragments, error=ImplausibleValueError, **kwargs):
  return Case(lambda: point_series.read_point_file(path, **kwargs), error, path, line, fragments)


@case("point_inf")
def _(tmp):
  path = edited(GUZAN / "h1.DAT", tmp / "h1.DAT", {10: token(1, "inf")})
  return point(path, 10, "field h1: inf is not a number", "raw instrument reading")


@case("point_1e30")
def _(tmp):
  path = edited(GUZAN / "h1.DAT", tmp / "h1.DAT", {11: token(1, "1e30")})
  return point(path, 11, "field h1: 1e+30 is outside the plausible range -1e+09..1e+09")


@case("point_narrowed_range_override")
def _(tmp):
  path = edited(GUZAN / "h1.DAT", tmp / "h1.DAT", {})
  return point(
    path, 1, "field h1", "-10000..10000", ranges={"raw_reading": (-1e4, 1e4)}
  )  # every Guzan h1 value is below -12,000


@case("point_given_interval_is_half_the_steps")
def _(tmp):
  path = edited(GUZAN / "h2.DAT", tmp / "h2.DAT", {})
  return point(
    path, 2, "step by 3600 s (1 hour)", "interval= declares 1800 s (30 minutes)",
    error=DataFormatError, interval=1800,
  )  # fmt: skip


@case("point_value_missing")
def _(tmp):
  path = edited(GUZAN / "h2.DAT", tmp / "h2.DAT", {7: lambda line: line.split()[0]})
  return point(path, 7, "expected 'YYYYMMDD[HH[MM]] value'", error=DataFormatError)


@case("four_gauge_corrupt_gauge_names_its_file")
def _(tmp):
  folder = tmp / "guzan"
  folder.mkdir()
  for g in (1, 2, 4):
    shutil.copy(GUZAN / f"h{g}.DAT", folder / f"h{g}.DAT")
  path = edited(GUZAN / "h3.DAT", folder / "h3.DAT", {500: token(1, "-3.4e38")})
  return Case(
    lambda: point_series.read_four_gauge(folder),
    ImplausibleValueError,
    path,
    500,
    ("field S3: -3.4e+38 is outside", "raw strain gauge reading"),
  )


@case("station_metadata_latitude_123")
def _(tmp):
  path = edited(GUZAN_META, tmp / "meta.txt", {3: token(2, "123.0")})
  return Case(
    lambda: point_series.read_station_metadata(path),
    ImplausibleValueError,
    path,
    3,
    ("field latitude: 123.0", "-90..90"),
  )


def kp(path, line, *fragments, reader=sw.read_kp_csv, error=ImplausibleValueError):
  return Case(lambda: reader(path), error, path, line, fragments)


@case("kp_csv_kp_12")
def _(tmp):
  path = edited(KP_CSV, tmp / "kp.csv", {5: csv_field(1, "12")})
  return kp(path, 5, "field kp: 12.0 is outside the plausible range 0..9")


@case("kp_csv_kp_minus_1")
def _(tmp):
  path = edited(KP_CSV, tmp / "kp.csv", {9: csv_field(1, "-1")})
  return kp(path, 9, "field kp: -1.0 is outside the plausible range 0..9")


@case("kp_csv_ap_500")
def _(tmp):
  path = edited(KP_CSV, tmp / "kp.csv", {20: csv_field(3, "500")})
  return kp(path, 20, "field ap: 500.0", "0..400")


@case("kp_csv_six_hour_steps")
def _(tmp):
  path = edited(KP_CSV, tmp / "kp.csv", dict.fromkeys(range(3, 250, 2)))
  return kp(
    path, 3, "step by 21600 s (6 hours)", "the format declares 10800 s (3 hours)",
    error=DataFormatError,
  )  # fmt: skip


@case("dst_csv_minus_3000")
def _(tmp):
  path = edited(DST_CSV, tmp / "dst.csv", {50: csv_field(1, "-3000")})
  return kp(path, 50, "field dst_nT: -3000.0", "-2000..500 nT", reader=sw.read_dst_csv)


@case("dst_csv_inf")
def _(tmp):
  path = edited(DST_CSV, tmp / "dst.csv", {51: csv_field(1, "inf")})
  return kp(path, 51, "field dst_nT: inf is not a number", "Dst", reader=sw.read_dst_csv)


@case("dst_csv_bad_time")
def _(tmp):
  path = edited(DST_CSV, tmp / "dst.csv", {52: csv_field(0, "2nd of March")})
  return kp(path, 52, "expected ISO time", reader=sw.read_dst_csv, error=DataFormatError)


@case("dst_wdc_hour_5000")
def _(tmp):
  path = edited(DST_WDC, tmp / "dst.txt", {4: columns(32, 36, "5000")})
  return kp(path, 4, "field hour 03 (columns 33-36): 5000.0", "-2000..500", reader=sw.read_dst_wdc)


@case("dst_wdc_short_record")
def _(tmp):
  path = edited(DST_WDC, tmp / "dst.txt", {6: lambda line: line[:100]})
  return kp(
    path, 6, "expected a 120-character WDC record", reader=sw.read_dst_wdc, error=DataFormatError
  )


@case("sw_all_ap_999")
def _(tmp):
  path = edited(SW_ALL, tmp / "sw.txt", {20: columns(46, 50, "999")})
  return kp(path, 20, "field ap (columns 47-78): 999.0", "0..400", reader=sw.read_kp_celestrak)


@case("sw_all_kp_code_not_a_third")
def _(tmp):
  path = edited(SW_ALL, tmp / "sw.txt", {21: columns(18, 21, "95")})
  return kp(path, 21, "95 is not a Kp x10 code", reader=sw.read_kp_celestrak, error=DataFormatError)


def usgs(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: catalogs.read_usgs_csv(path), error, path, line, fragments)


@case("usgs_latitude_123")
def _(tmp):
  return usgs(edited(USGS, tmp / "u.csv", {10: csv_field(2, "123")}), 10, "field Latitude: 123.0")


@case("usgs_longitude_400")
def _(tmp):
  path = edited(USGS, tmp / "u.csv", {11: csv_field(3, "400")})
  return usgs(path, 11, "field Longitude: 400.0", "-180..360")


@case("usgs_magnitude_15")
def _(tmp):
  path = edited(USGS, tmp / "u.csv", {12: csv_field(8, "15")})
  return usgs(path, 12, "field Magnitude: 15.0", "-2..10")


@case("usgs_depth_5000")
def _(tmp):
  path = edited(USGS, tmp / "u.csv", {13: csv_field(5, "5000")})
  return usgs(path, 13, "field Depth: 5000.0", "-15..1000 km")


@case("usgs_truncated_row")
def _(tmp):
  path = edited(USGS, tmp / "u.csv", {100: lambda line: ",".join(line.split(",")[:5])})
  return usgs(path, 100, "row has 5 fields, the header has 21", error=DataFormatError)


@case("usgs_row_with_extra_fields")
def _(tmp):
  path = edited(USGS, tmp / "u.csv", {101: lambda line: line + ",x,y"})
  return usgs(path, 101, "row has 23 fields, the header has 21", error=DataFormatError)


@case("usgs_truncated_last_row")
def _(tmp):
  path = tmp / "u.csv"
  path.write_bytes(USGS.read_bytes()[:-40])  # a download cut short
  return usgs(path, 462, "row has", "a truncated file?", error=DataFormatError)


def cenc(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: catalogs.read_cenc_text(path), error, path, line, fragments)


@case("cenc_latitude_123")
def _(tmp):
  path = edited(CENC, tmp / "c.txt", {3: token(2, "123.0")})
  return cenc(path, 3, "field latitude (column 3): 123.0", "-90..90")


@case("cenc_longitude_400")
def _(tmp):
  path = edited(CENC, tmp / "c.txt", {4: token(3, "400.0")})
  return cenc(path, 4, "field longitude (column 4): 400.0", "-180..360")


@case("cenc_magnitude_15")
def _(tmp):
  path = edited(CENC, tmp / "c.txt", {5: token(5, "M15.0")})
  return cenc(path, 5, "field magnitude (column 6): 15.0", "-2..10")


def comcat(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: catalogs.read_comcat_csv(path), error, path, line, fragments)


@case("comcat_magnitude_15")
def _(tmp):
  path = edited(COMCAT, tmp / "q.csv", {4: csv_field(4, "15")})
  return comcat(path, 4, "field mag: 15.0", "-2..10")


@case("comcat_latitude_inf")
def _(tmp):
  path = edited(COMCAT, tmp / "q.csv", {3: csv_field(1, "inf")})
  return comcat(path, 3, "field latitude: inf is not a number", "-90..90")


@case("comcat_time_not_iso")
def _(tmp):
  path = edited(COMCAT, tmp / "q.csv", {5: csv_field(0, "2013/01/08 14:16:09")})
  return comcat(path, 5, "field time", "ISO UTC time like", error=DataFormatError)


@case("comcat_truncated_row")
def _(tmp):
  path = edited(COMCAT, tmp / "q.csv", {6: lambda line: line[:30]})
  return comcat(path, 6, "row has 2 fields, the header has 22", error=DataFormatError)


@case("comcat_missing_column")
def _(tmp):
  path = edited(COMCAT, tmp / "q.csv", {1: lambda line: line.replace(",mag,", ",magnitude,")})
  return comcat(path, 1, "lacking ['mag']", error=DataFormatError)


def day(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: geoelectric.read_day_file(path), error, path, line, fragments)


@case("day_file_inf_is_an_error_not_a_gap")
def _(tmp):
  path = day_file(tmp / "20000101.txt", replace={100: "inf"})
  return day(path, 102, "field value: inf is not a number", "mV/km")


@case("day_file_implausible_field")
def _(tmp):
  path = day_file(tmp / "20000101.txt", replace={5000: "3e9"})
  return day(path, 5002, "field value: 3000000000.0 is outside", "-1e+06..1e+06 mV/km")


@case("day_file_undecodable")
def _(tmp):
  path = day_file(tmp / "20000101.txt")
  raw = path.read_bytes().split(b"\n")
  raw[9] = b"\xff" + raw[9]
  path.write_bytes(b"\n".join(raw))
  return day(path, 10, "byte 0xff", "utf-8, gb18030", error=DataFormatError)


@case("edl_inf")
def _(tmp):
  folder = edl_copy(tmp, {12: "inf"})
  return Case(
    lambda: geoelectric.read_edl_ascii(folder),
    ImplausibleValueError,
    folder / EDL_PAIR[0],
    12,
    ("field EX (raw value x 0.004): inf is not a number",),
  )


@case("edl_nan")
def _(tmp):
  folder = edl_copy(tmp, {7: "nan"}, channel="EY")
  return Case(
    lambda: geoelectric.read_edl_ascii(folder),
    DataFormatError,
    folder / EDL_PAIR[1],
    7,
    ("NaN: EDL files have no missing-value code",),
  )


@case("edl_implausible")
def _(tmp):
  folder = edl_copy(tmp, {3: "1e12"})
  return Case(
    lambda: geoelectric.read_edl_ascii(folder),
    ImplausibleValueError,
    folder / EDL_PAIR[0],
    3,
    ("field EX (raw value x 0.004): 4000000000.0 is outside", "mV/km"),
  )


def ett_case(path, line, *fragments, error=ImplausibleValueError):
  return Case(lambda: ett.read_ett_csv(path), error, path, line, fragments)


@case("ett_inf")
def _(tmp):
  path = edited(ETT, tmp / "e.csv", {5: csv_field(7, "inf")})
  return ett_case(path, 5, "field OT: inf is not a number")


@case("ett_implausible")
def _(tmp):
  path = edited(ETT, tmp / "e.csv", {6: csv_field(1, "1e6")})
  return ett_case(path, 6, "field HUFL: 1000000.0 is outside", "-10000..10000")


@case("ett_nan")
def _(tmp):
  path = edited(ETT, tmp / "e.csv", {7: csv_field(2, "nan")})
  return ett_case(path, 7, "non-finite value nan", error=DataFormatError)


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_names_file_line_field_and_expectation(name, tmp_path):
  built = CASES[name](tmp_path)
  with pytest.raises(built.error) as info:
    built.read()
  message = str(info.value)
  assert message.startswith(str(built.path)), message
  if built.line is not None:
    assert message.startswith(f"{built.path} line {built.line}: "), message
    assert info.value.line == built.line
  for fragment in built.fragments:
    assert fragment in message, (fragment, message)


def test_unknown_quantity_in_an_override_is_refused(tmp_path):
  with pytest.raises(KeyError, match=r"unknown quantities \['kp_index'\]; known are \["):
    sw.read_kp_csv(KP_CSV, ranges={"kp_index": (0, 9)})


# ---------------------------------------------------------------------------------------------
# Property-based corruption of real files.
# ---------------------------------------------------------------------------------------------

# An implausible number: inf, -inf, or beyond 1e5 in either direction (no fill code is).
IMPLAUSIBLE = st.one_of(
  st.sampled_from([np.inf, -np.inf]),
  st.floats(min_value=1.5e5, max_value=1e300),
  st.floats(min_value=-1e300, max_value=-1.5e5),
)
PROPERTY = settings(
  max_examples=12,
  derandomize=True,
  deadline=None,
  suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(line=st.integers(BOU_FIRST_DATA, 382), column=st.integers(0, 3), value=IMPLAUSIBLE)
def test_any_implausible_iaga_value_is_named(tmp_path, line, column, value):
  path = edited(BOU, tmp_path / "BOU.min", {line: token(3 + column, repr(value))})
  with pytest.raises(ImplausibleValueError) as info:
    iaga2002.read_iaga2002(path)
  error = info.value
  assert (error.line, error.field) == (line, f"BOU{'HEZF'[column]}")
  assert error.value == value and str(error).startswith(f"{path} line {line}: field BOU")


@PROPERTY
@given(
  line=st.integers(1, 2208),
  value=st.one_of(
    st.just(np.inf), st.floats(min_value=1.01e9, max_value=1e300), st.floats(-1e300, -1.01e9)
  ),
)
def test_any_implausible_strain_reading_is_named(tmp_path, line, value):
  path = edited(GUZAN / "h2.DAT", tmp_path / "h2.DAT", {line: token(1, repr(value))})
  with pytest.raises(ImplausibleValueError) as info:
    point_series.read_four_gauge([GUZAN / "h1.DAT", path, GUZAN / "h3.DAT", GUZAN / "h4.DAT"])
  assert (info.value.line, info.value.field, info.value.quantity) == (
    line,
    "S2",
    "strain_gauge_raw",
  )


@PROPERTY
@given(
  row=st.integers(2, 249),
  kp_value=st.one_of(st.floats(-1e6, -0.01), st.floats(9.01, 1e6), st.just(np.inf)),
)
def test_any_kp_outside_0_to_9_is_named(tmp_path, row, kp_value):
  path = edited(KP_CSV, tmp_path / "kp.csv", {row: csv_field(1, repr(kp_value))})
  with pytest.raises(ImplausibleValueError) as info:
    sw.read_kp_csv(path)
  assert (info.value.line, info.value.field) == (row, "kp") and "0..9" in str(info.value)


@PROPERTY
@given(
  row=st.integers(2, 462),
  field=st.sampled_from([(2, "Latitude", 90.0), (3, "Longitude", 360.0), (8, "Magnitude", 10.0)]),
  excess=st.floats(0.01, 1e6),
  sign=st.sampled_from([1.0, -1.0]),
)
def test_any_impossible_catalogue_entry_is_named(tmp_path, row, field, excess, sign):
  index, name, bound = field
  low = {"Latitude": -90.0, "Longitude": -180.0, "Magnitude": -2.0}[name]
  value = bound + excess if sign > 0 else low - excess
  path = edited(USGS, tmp_path / "u.csv", {row: csv_field(index, repr(value))})
  with pytest.raises(ImplausibleValueError) as info:
    catalogs.read_usgs_csv(path)
  assert (info.value.line, info.value.field) == (row, name)


@PROPERTY
@given(
  encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
  newline=st.sampled_from(["\n", "\r\n", "\r"]),
  compress=st.booleans(),
)
def test_any_encoding_line_end_and_compression_reads_the_same_catalogue(
  tmp_path, encoding, newline, compress
):
  text = CENC.read_text(encoding="utf-8").replace("\n", newline)
  raw = text.encode(encoding)
  path = tmp_path / ("c.txt.gz" if compress else "c.txt")
  path.write_bytes(gzip.compress(raw) if compress else raw)
  reference = catalogs.read_cenc_text(CENC)
  ours = catalogs.read_cenc_text(path)
  assert len(ours) == 186
  assert list(ours.place) == list(reference.place)
  np.testing.assert_array_equal(ours.time, reference.time)
  np.testing.assert_array_equal(ours.magnitude, reference.magnitude)


# ---------------------------------------------------------------------------------------------
# Valid but unusual files: exact sample counts.
# ---------------------------------------------------------------------------------------------


def bou_reference():
  return iaga2002.read_iaga2002(BOU)


def test_iaga_with_bom_and_crlf_reads_every_sample(tmp_path):
  path = tmp_path / "BOU.min"
  path.write_bytes(textio.UTF8_BOM + BOU.read_bytes().replace(b"\n", b"\r\n"))
  ts = iaga2002.read_iaga2002(path)
  assert len(ts) == 360 and not ts.missing.any()
  np.testing.assert_array_equal(ts.values, bou_reference().values)
  assert ts.metadata["assumptions"] == []


def test_one_second_iaga_file(tmp_path):
  lines = BOU.read_text().splitlines()
  header = [
    ln.replace("filtered 1-minute (00:15-01:45)", "1-second".ljust(31)) for ln in lines[:22]
  ]
  start = np.datetime64("2016-01-01T23:59:00", "s")
  body = []
  for k in range(180):  # three minutes of 1-second samples crossing midnight
    t = start + np.timedelta64(k, "s")
    stamp = str(t)
    doy = 1 if stamp < "2016-01-02" else 2
    body.append(
      f"{stamp[:10]} {stamp[11:]}.000 {doy:03d}     20735.93    -99.77  47370.21  99999.00"
    )
  path = tmp_path / "bou20160101vsec.sec"
  path.write_text("\n".join(header + body) + "\n")
  ts = iaga2002.read_iaga2002(path)
  assert len(ts) == 180 and ts.interval_seconds == 1
  assert ts.times[60] == np.datetime64("2016-01-02T00:00:00")
  assert ts.missing[:, 3].all() and not ts.missing[:, :3].any()  # 99999 -> missing


def test_iaga_directory_of_txt_files_found_by_header(tmp_path):
  folder = tmp_path / "bou"
  folder.mkdir()
  for p in BOU_DAILY.iterdir():
    shutil.copy(p, folder / (p.stem + ".txt"))
  (folder / "README.txt").write_text("Boulder daily files, renamed by the data centre\n")
  (folder / ".hidden.min").write_bytes(BOU.read_bytes())  # hidden: skipped even if IAGA-2002
  (folder / "sub").mkdir()
  gzip_name = folder / "notes.gz"
  gzip_name.write_bytes(gzip.compress(b"not a geomagnetic file\n"))
  ts = iaga2002.read_iaga2002(folder)
  reference = iaga2002.read_iaga2002(BOU_DAILY)
  assert len(ts) == 120 and not ts.missing.any()
  np.testing.assert_array_equal(ts.values, reference.values)
  assert ts.metadata["skipped_files"] == [".hidden.min", "README.txt", "notes.gz", "sub"]
  (folder / "bou20141101vmin_last1h.txt").unlink()
  (folder / "bou20141102vmin_first1h.txt").unlink()
  with pytest.raises(FileNotFoundError, match=r"no IAGA-2002 files in .*'Format  IAGA-2002'"):
    iaga2002.read_iaga2002(folder)


def test_iaga_gzip_month_and_gzip_directory(tmp_path):
  month = iaga2002.read_iaga2002(DATA / "geomag" / "bou_2016_01" / "BOU201601vmin.min.gz")
  assert len(month) == 41_592 and not month.missing.any()  # PROVENANCE: 41,592 minutes
  assert month.times[-1] == np.datetime64("2016-01-29T21:11")
  for p in BOU_DAILY.iterdir():
    (tmp_path / (p.name + ".gz")).write_bytes(gzip.compress(p.read_bytes()))
  days = iaga2002.read_iaga2002(tmp_path)
  assert len(days) == 120 and days.channels == ("H", "D", "Z", "F")


def test_odd_header_values_are_read_and_recorded(tmp_path, capsys):
  path = edited(
    BOU,
    tmp_path / "BOU.min",
    {11: header_value("Filtered 1-minut"), 12: header_value("varaition")},
  )
  ts = iaga2002.read_iaga2002(path)
  assert len(ts) == 360 and ts.interval_seconds == 60
  np.testing.assert_array_equal(ts.values, bou_reference().values)
  assumptions = ts.metadata["assumptions"]
  assert len(assumptions) == 2
  assert "'Filtered 1-minut' is not a standard IAGA-2002 value; read as 60 s" in assumptions[0]
  assert "'Data Type' 'varaition' is none of variation" in assumptions[1]
  report = qc.gap_lines(ts)
  assert report[-3:] == ["2 assumption(s) about the header:", *(f"  {a}" for a in assumptions)]


def test_explicit_interval_reads_a_mislabelled_file_and_says_so(tmp_path):
  drop = dict.fromkeys(range(BOU_FIRST_DATA + 1, 383, 2))
  path = edited(BOU, tmp_path / "BOU.min", drop)
  ts = iaga2002.read_iaga2002(path, interval=120)
  assert len(ts) == 180 and not ts.missing.any()
  assert "sampling interval 120 s given by the caller" in ts.metadata["assumptions"][0]


def test_gzip_four_gauge_directory(test_data_dir):
  folder = test_data_dir / "strain" / "guzan_4gauge_hourly_2006_2010"
  ts = point_series.read_four_gauge(
    folder, metadata_file=folder / "batch_guide_template_station_metadata.utf8.txt"
  )
  assert len(ts) == 34_320 and ts.times[-1] == np.datetime64("2010-09-30T23")
  np.testing.assert_array_equal(ts.missing.sum(axis=0), [76, 76, 76, 76])


def test_point_file_with_bom_and_cr_line_ends(tmp_path):
  raw = (GUZAN / "h1.DAT").read_bytes()
  path = tmp_path / "h1.DAT"
  path.write_bytes(textio.UTF8_BOM + raw.replace(b"\r\n", b"\r"))
  ts = point_series.read_point_file(path)
  reference = point_series.read_point_file(GUZAN / "h1.DAT")
  assert len(ts) == 2208 and int(ts.missing.sum()) == 14
  np.testing.assert_array_equal(ts.values, reference.values)


def test_gb18030_station_table_with_crlf(tmp_path):
  text = GUZAN_META.read_text(encoding="utf-8").replace("\n", "\r\n")
  path = tmp_path / "meta.txt"
  path.write_bytes(text.encode("gb18030"))
  assert point_series.read_station_metadata(path) == point_series.read_station_metadata(GUZAN_META)


def test_kp_csv_and_usgs_csv_with_bom_and_crlf(tmp_path):
  kp_path, usgs_path = tmp_path / "kp.csv", tmp_path / "u.csv"
  kp_path.write_bytes(textio.UTF8_BOM + KP_CSV.read_bytes().replace(b"\n", b"\r\n"))
  usgs_path.write_bytes(textio.UTF8_BOM + USGS.read_bytes().replace(b"\n", b"\r\n"))
  kp = sw.read_kp_csv(kp_path)
  assert len(kp) == 248 and not kp.missing.any()
  np.testing.assert_array_equal(kp.values, sw.read_kp_csv(KP_CSV).values)
  events = catalogs.read_usgs_csv(usgs_path)
  assert len(events) == 461 and "USB000GCDD" in set(events.event_id)


def test_dst_csv_fill_codes_are_missing_not_quiet(tmp_path):
  path = edited(
    DST_CSV, tmp_path / "dst.csv", {10: csv_field(1, "9999"), 11: csv_field(1, "99999")}
  )
  dst = sw.read_dst_csv(path)
  assert len(dst) == 744 and int(dst.missing.sum()) == 2
  assert np.isnan(dst.values[8:10, 0]).all()  # rows on lines 10 and 11


def test_gzip_space_weather_files():
  kp = sw.read_kp_celestrak(SPACE / "SW-All_2006-2010.txt.gz")
  dst = sw.read_dst_wdc(SPACE / "DSTFILE_2006-2010.TXT.gz")
  assert len(kp) == 1826 * 8 and len(dst) == 1826 * 24  # 2006-01-01 .. 2010-12-31
  assert dst.times[0] == np.datetime64("2006-01-01T00:00") and not kp.missing.any()
  assert "took yy < 57 as 20yy" in dst.metadata["assumptions"][0]


def test_comcat_csv_reads_the_composed_file():
  events = catalogs.read_comcat_csv(COMCAT)
  assert len(events) == 6 and np.all(np.diff(events.time) > np.timedelta64(0))
  lushan = events.select(events.event_id == "usb000gcdd")
  reference = catalogs.read_usgs_csv(USGS)
  ref = reference.select(reference.event_id == "USB000GCDD")
  for name in ("time", "latitude", "longitude", "depth_km", "magnitude"):
    np.testing.assert_array_equal(getattr(lushan, name), getattr(ref, name))
  assert lushan.place[0] == "Lushan County, Sichuan, China" and lushan.magnitude_type[0] == "mww"
  blast = events.select(events.event_type == "explosion")
  assert len(blast) == 1 and np.isnan(blast.magnitude[0]) and blast.depth_km[0] == 0.2
  assert len(events.with_magnitude(0.0)) == 5  # the NaN magnitude is never selected


def test_catalogue_longitudes_are_normalised(tmp_path):
  path = edited(CENC, tmp_path / "c.txt", {1: token(3, "200.0"), 2: token(3, "360.0")})
  events = catalogs.read_cenc_text(path)
  reference = catalogs.read_cenc_text(CENC)
  changed = events.longitude != reference.longitude
  assert sorted(events.longitude[changed]) == [-160.0, 0.0]
  assert np.all((events.longitude >= -180.0) & (events.longitude <= 180.0))


def test_gzip_day_files_in_a_directory(tmp_path):
  text = day_file(tmp_path / "20000101.txt").read_bytes()
  (tmp_path / "20000102.txt.gz").write_bytes(gzip.compress(text))
  (tmp_path / "20000101.txt.gz").write_bytes(gzip.compress(text))  # a second file for 01-01
  records = geoelectric.load_day_directory(tmp_path)
  np.testing.assert_array_equal(
    records.dates, np.array(["2000-01-01", "2000-01-02"], dtype="datetime64[D]")
  )
  assert records.days.shape == (2, DAY_SAMPLES)
  assert records.rejected == [("20000101.txt.gz", "a second file for 2000-01-01")]


def test_ett_with_bom_and_crlf(tmp_path):
  path = tmp_path / "e.csv"
  path.write_bytes(textio.UTF8_BOM + ETT.read_bytes().replace(b"\n", b"\r\n"))
  times, values, names = ett.read_ett_csv(path)
  assert values.shape == (720, 7) and names[-1] == "OT"
  np.testing.assert_array_equal(values, ett.read_ett_csv(ETT)[1])


def test_textio_rules(tmp_path):
  assert (
    textio.logical_name("a/h1.DAT.gz") == "h1.DAT" and textio.logical_name("h1.DAT") == "h1.DAT"
  )
  hidden = tmp_path / "renamed"  # gzip recognised by its magic number, not its name
  hidden.write_bytes(gzip.compress("一\r\n二\r三\n".encode("gb18030")))
  assert textio.read_lines(hidden) == ["一", "二", "三"]


def test_range_table_is_consistent():
  for name, limit in ranges.PLAUSIBLE_RANGES.items():
    assert limit.low < limit.high and limit.what, name
  assert ranges.plausible_range("kp", {"kp": (0, 10)}).text() == "0..10"
  with pytest.raises(ValueError, match="finite low <= high"):
    ranges.plausible_range("kp", {"kp": (5, 1)})
  np.testing.assert_array_equal(
    ranges.normalise_longitude([-180, 0, 180, 180.5, 359, 360]), [-180, 0, 180, -179.5, -1, 0]
  )


# ---------------------------------------------------------------------------------------------
# VMD: non-finite input under jit, large float32 inputs.
# ---------------------------------------------------------------------------------------------


def vmd_signal(length=512, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  return (
    np.sin(2 * np.pi * t / 40) + 0.5 * np.sin(2 * np.pi * t / 6) + 0.1 * rng.normal(size=length)
  )


_JITTED_VMD = jax.jit(functools.partial(vmd, num_modes=3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_vmd_traced_non_finite_input_gives_nan_not_plausible_modes(bad):
  x = vmd_signal()
  x[17] = bad
  result = _JITTED_VMD(x)
  assert np.isnan(np.asarray(result.modes)).all() and np.isnan(np.asarray(result.omega)).all()
  assert int(result.num_iterations) == 0


def test_vmd_traced_batch_marks_only_the_bad_member():
  batch = np.stack([vmd_signal(seed=1), vmd_signal(seed=2), vmd_signal(seed=3)])
  batch[1, 300] = np.nan
  result = _JITTED_VMD(batch)
  modes = np.asarray(result.modes)
  assert np.isnan(modes[1]).all() and np.isfinite(modes[[0, 2]]).all()
  assert int(result.num_iterations[1]) == 0 and np.all(
    np.asarray(result.num_iterations)[[0, 2]] > 0
  )
  single = _JITTED_VMD(batch[2])
  np.testing.assert_allclose(modes[2], single.modes, rtol=0, atol=1e-5)


def test_vmd_eager_non_finite_and_overflowing_inputs_are_refused():
  x = vmd_signal()
  x[17] = np.nan
  with pytest.raises(ValueError, match=r"1 NaN/Inf value\(s\), the first at index \(17,\)"):
    vmd(x, num_modes=3)
  with jax.enable_x64(False):
    with pytest.raises(ValueError, match=r"\|x\| = 3e\+39, beyond the largest float32"):
      vmd(3e39 * np.sign(vmd_signal()), num_modes=3)


def test_vmd_large_float32_input_does_not_overflow():
  x = vmd_signal()
  with jax.enable_x64(False):
    big = vmd((1e20 * x).astype(np.float32), num_modes=3, stopping="relative", tol=1e-6)
    unit = vmd(x.astype(np.float32), num_modes=3, stopping="relative", tol=1e-6)
  assert np.isfinite(np.asarray(big.omega)).all() and np.isfinite(np.asarray(big.modes)).all()
  np.testing.assert_allclose(big.omega, unit.omega, atol=1e-4)
  scale = float(np.abs(unit.modes).max())
  np.testing.assert_allclose(np.asarray(big.modes) / 1e20, unit.modes, rtol=0, atol=1e-3 * scale)


def test_vmd_power_of_two_scaling_is_exact_in_float32():
  """2^66 x decomposes to exactly 2^66 times the modes of x: the internal scaling is exact."""
  x = vmd_signal(seed=4).astype(np.float32)
  with jax.enable_x64(False):
    big = vmd(x * np.float32(2.0**66), num_modes=3, stopping="relative", tol=1e-6)
    unit = vmd(x, num_modes=3, stopping="relative", tol=1e-6)
  np.testing.assert_array_equal(np.asarray(big.modes), np.asarray(unit.modes) * np.float32(2.0**66))
  np.testing.assert_array_equal(big.omega, unit.omega)
  assert int(big.num_iterations) == int(unit.num_iterations)


# ---------------------------------------------------------------------------------------------
# The QC command on bad and odd files.
# ---------------------------------------------------------------------------------------------


def run_qc(*args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  env.pop("PRECURSOR_JAX_TRACEBACK", None)
  return subprocess.run(
    [sys.executable, "-m", "precursor_jax.qc", *args],
    cwd=pathlib.Path(__file__).resolve().parent.parent,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_qc_command_reports_a_corrupt_file_in_one_line(tmp_path):
  path = edited(BOU, tmp_path / "BOU.min", {27: token(5, "1e30")})
  done = run_qc("--iaga2002", str(path))
  assert done.returncode == 2, done.stderr
  assert done.stderr.strip().splitlines()[-1] == (
    f"error: {path} line 27: field BOUZ: 1e+30 is outside the plausible range -100000..100000 nT "
    "for a geomagnetic component (core/ranges.py; override with "
    "ranges={'geomagnetic_component': (low, high)})"
  )


def test_qc_command_prints_the_header_assumptions(tmp_path):
  folder = tmp_path / "bou"
  folder.mkdir()
  edited(BOU, folder / "BOU.txt", {12: header_value("preliminary")})
  done = run_qc("--iaga2002", str(folder))
  assert done.returncode == 0, done.stderr
  assert "1 assumption(s) about the header:" in done.stdout
  assert "'Data Type' 'preliminary' is none of variation" in done.stdout

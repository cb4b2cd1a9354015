"""Geomagnetic activity indices: Kp/ap (3-hourly) and Dst (hourly), as TimeSeries.

- CelesTrak `SW-All.txt` (CssiSpaceWeather 1.2): only the `BEGIN OBSERVED` .. `END OBSERVED` block
  is read (the predicted blocks that follow are ignored). Fixed columns per the file's
  FORMAT(I4,I3,I3,I5,I3,8I3,I4,8I4,...): the eight Kp are coded x10 with thirds as 0/3/7
  (23 = 2+ = 2 1/3, 27 = 3- = 2 2/3), checked against the day's Sum column.
- Kyoto WDC 120-byte Dst records (`DSTyymm*dd`, 24 hourly I4 values in columns 21-116 plus a base
  value in units of 100 nT in columns 17-20; 9999 = missing); the first value is hour 00-01 UT.
- The CSV forms `time_utc_interval_start,kp,...,ap` and `time_utc_hour_start,dst_nT`.

Every sample is stamped with the START of its interval (Kp 06:00 = 06-09 UT; Dst 20:00 = 20-21 UT).
"""

from __future__ import annotations

import csv
import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import TimeSeries, to_regular_grid

KP_INTERVAL = np.timedelta64(3 * 3600, "s")
DST_INTERVAL = np.timedelta64(3600, "s")
_KP_THIRDS = {0: 0.0, 3: 1.0 / 3.0, 7: 2.0 / 3.0}
_DST_RECORD_RE = re.compile(r"DST(\d{2})(\d{2})\*(\d{2})")


def decode_kp(code: int) -> float:
  """Kp from its x10 code with thirds as 0/3/7: 23 -> 2.333 (2+), 27 -> 2.667 (3-), 90 -> 9."""
  tens, third = divmod(int(code), 10)
  if third not in _KP_THIRDS or not 0 <= code <= 90:
    raise ValueError(f"{code} is not a Kp x10 code (0..90 ending in 0, 3 or 7)")
  return tens + _KP_THIRDS[third]


def _read_lines(path) -> list[str]:
  with open(path, encoding="ascii", errors="replace") as f:
    return f.read().splitlines()


def read_kp_celestrak(path: str | os.PathLike) -> TimeSeries:
  """Kp and ap from CelesTrak SW-All.txt (observed block only), channels ("kp", "ap"), 3 h."""
  path = pathlib.Path(path)
  lines = _read_lines(path)
  try:
    begin = lines.index("BEGIN OBSERVED")
  except ValueError:
    raise DataFormatError(path, None, "expected a 'BEGIN OBSERVED' line") from None
  updated = next(
    (ln[len("UPDATED ") :].strip() for ln in lines[:begin] if ln.startswith("UPDATED")), None
  )
  days, kp, ap, numbers = [], [], [], []
  for i in range(begin + 1, len(lines)):
    line = lines[i]
    if line.strip() == "END OBSERVED":
      break
    try:
      day = np.datetime64(f"{int(line[0:4]):04d}-{int(line[4:7]):02d}-{int(line[7:10]):02d}", "D")
      codes = [int(line[18 + 3 * k : 21 + 3 * k]) for k in range(8)]
      day_sum = int(line[42:46])
      ap_day = [float(line[46 + 4 * k : 50 + 4 * k]) for k in range(8)]
      kp_day = [decode_kp(c) for c in codes]
    except ValueError as e:
      raise DataFormatError(
        path,
        i + 1,
        "expected 'yyyy mm dd BSRN ND' then 8 Kp codes (I3), "
        f"Sum (I4) and 8 ap (I4): {e}; got {line!r}",
      ) from None
    if round(10 * sum(kp_day)) != day_sum:
      raise DataFormatError(
        path,
        i + 1,
        f"the Kp codes {codes} add up to {10 * sum(kp_day):.1f}, but the Sum column is {day_sum}",
      )
    days.append(day)
    kp.extend(kp_day)
    ap.extend(ap_day)
    numbers.extend([i + 1] * 8)
  else:
    raise DataFormatError(path, None, "expected an 'END OBSERVED' line after the observed block")
  if not days:
    raise DataFormatError(path, None, "the observed block is empty")
  times = np.repeat(np.asarray(days, dtype="datetime64[s]"), 8) + np.tile(
    np.arange(8) * KP_INTERVAL, len(days)
  )
  meta = {
    "index": "Kp",
    "source_file": str(path),
    "source": "CelesTrak SW-All (observed)",
    "updated": updated,
    "units": {"kp": "Kp (0..9, thirds)", "ap": "2 nT"},
    "time_convention": "start of the 3-hour interval, UTC",
  }
  return to_regular_grid(
    times,
    np.stack([kp, ap], axis=1),
    channels=("kp", "ap"),
    interval=KP_INTERVAL,
    metadata=meta,
    path=path,
    line_numbers=numbers,
  )


def read_dst_wdc(path: str | os.PathLike) -> TimeSeries:
  """Hourly Dst (nT) from Kyoto WDC 120-byte records, channel ("dst",), 1 h; 9999 -> missing.

  The century comes from columns 15-16 when they read 19 or 20 (blank means 19 in the WDC format);
  redistributions that overwrite those columns (SET's `SET100` tag) fall back to yy < 57 -> 20yy.
  The daily mean (columns 117-120) is not read.
  """
  path = pathlib.Path(path)
  lines = _read_lines(path)
  times, values, numbers = [], [], []
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    match = _DST_RECORD_RE.match(line)
    if len(line) != 120 or match is None:
      raise DataFormatError(
        path,
        i + 1,
        "expected a 120-character WDC record 'DSTyymm*dd...', "
        f"got {len(line)} characters: {line[:30]!r}...",
      )
    yy, mm, dd = match.groups()
    century = line[14:16]
    if century.strip() == "":
      century = "19"
    elif century not in ("19", "20"):
      century = "20" if int(yy) < 57 else "19"
    try:
      day = np.datetime64(f"{century}{yy}-{mm}-{dd}", "s")
      base = int(line[16:20]) if line[16:20].strip() else 0
      hourly = np.array([int(line[20 + 4 * h : 24 + 4 * h]) for h in range(24)], dtype=np.float64)
    except ValueError as e:
      raise DataFormatError(
        path,
        i + 1,
        f"expected a date, a base value (I4) and 24 hourly values (I4) in columns 21-116: {e}",
      ) from None
    hourly[hourly == 9999] = np.nan
    times.append(day + np.arange(24) * DST_INTERVAL)
    values.append(hourly + 100.0 * base)
    numbers.extend([i + 1] * 24)
  if not times:
    raise DataFormatError(path, None, "no DST records")
  meta = {
    "index": "Dst",
    "source_file": str(path),
    "source": "WDC for Geomagnetism, Kyoto",
    "units": {"dst": "nT"},
    "time_convention": "start of the hour, UTC",
  }
  return to_regular_grid(
    np.concatenate(times),
    np.concatenate(values),
    channels=("dst",),
    interval=DST_INTERVAL,
    metadata=meta,
    path=path,
    line_numbers=numbers,
  )


def _read_index_csv(
  path,
  time_column: str,
  columns: Sequence[str],
  channels: Sequence[str],
  interval: np.timedelta64,
  meta: dict,
) -> TimeSeries:
  """A `time,value...` CSV with ISO UTC times (a trailing Z allowed); empty cells are missing."""
  path = pathlib.Path(path)
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    wanted = [time_column, *columns]
    if header is None or any(c not in header for c in wanted):
      raise DataFormatError(path, 1, f"expected a header with columns {wanted}, got {header}")
    index = [header.index(c) for c in wanted]
    stamps, values, numbers = [], [], []
    for row in reader:
      if not row:
        continue
      number = reader.line_num
      try:
        stamps.append(np.datetime64(row[index[0]].rstrip("Z"), "s"))
        values.append([float(row[j]) if row[j].strip() else np.nan for j in index[1:]])
      except (ValueError, IndexError):
        raise DataFormatError(
          path, number, f"expected ISO time and numbers in columns {wanted}, got {row}"
        ) from None
      numbers.append(number)
  return to_regular_grid(
    np.asarray(stamps),
    np.asarray(values),
    channels=channels,
    interval=interval,
    metadata={**meta, "source_file": str(path)},
    path=path,
    line_numbers=numbers,
  )


def read_kp_csv(path: str | os.PathLike) -> TimeSeries:
  """Kp and ap from `time_utc_interval_start,kp,kp_x10_celestrak,ap`, channels ("kp", "ap")."""
  return _read_index_csv(
    path,
    "time_utc_interval_start",
    ("kp", "ap"),
    ("kp", "ap"),
    KP_INTERVAL,
    {
      "index": "Kp",
      "units": {"kp": "Kp (0..9, thirds)", "ap": "2 nT"},
      "time_convention": "start of the 3-hour interval, UTC",
    },
  )


def read_dst_csv(path: str | os.PathLike) -> TimeSeries:
  """Hourly Dst from `time_utc_hour_start,dst_nT`, channel ("dst",)."""
  return _read_index_csv(
    path,
    "time_utc_hour_start",
    ("dst_nT",),
    ("dst",),
    DST_INTERVAL,
    {"index": "Dst", "units": {"dst": "nT"}, "time_convention": "start of the hour, UTC"},
  )

"""Geomagnetic activity indices: Kp/ap (3-hourly) and Dst (hourly), as TimeSeries.

- CelesTrak `SW-All.txt` (CssiSpaceWeather 1.2): only the `BEGIN OBSERVED` .. `END OBSERVED` block
  is read (the predicted blocks that follow are ignored). Fixed columns per the file's
  FORMAT(I4,I3,I3,I5,I3,8I3,I4,8I4,...): the eight Kp are coded x10 with thirds as 0/3/7
  (23 = 2+ = 2 1/3, 27 = 3- = 2 2/3), checked against the day's Sum column.
- Kyoto WDC 120-byte Dst records (`DSTyymm*dd`, 24 hourly I4 values in columns 21-116 plus a base
  value in units of 100 nT in columns 17-20; 9999 = missing); the first value is hour 00-01 UT.
- The CSV forms `time_utc_interval_start,kp,...,ap` and `time_utc_hour_start,dst_nT`.

Every sample is stamped with the START of its interval (Kp 06:00 = 06-09 UT; Dst 20:00 = 20-21 UT).
Files may be gzip-compressed (`SW-All_2006-2010.txt.gz`), carry a UTF-8 byte-order mark and CRLF
line ends (core/textio.py).

Fill codes and ranges (core/ranges.py; `ranges=` overrides the bounds for one call):
- Kp must be 0..9 and ap 0..400, Dst -2000..+500 nT; anything else, and any inf, is a
  DataFormatError naming the file, the line and the field.
- Kyoto WDC Dst: 9999 in an hourly field is missing (`DST_WDC_FILL_CODES`), before the base value
  is added.
- Dst CSV: an empty cell, 9999 or 99999 is missing (`DST_CSV_FILL_CODES`: the WDC code, and the
  5-digit form OMNIWeb-style exports use), so a missing hour never reads as a quiet +9999 nT.
- Kp CSV: only an empty cell is missing (`KP_CSV_FILL_CODES` is empty). The project's CSV is
  written from CelesTrak's observed block, which has no fills; GFZ's own files write -1 for a
  missing Kp, but a -1 here is refused as out of range rather than guessed to be GFZ's code.
- CelesTrak SW-All: the observed block has no fill codes; Kp codes are checked by `decode_kp`.
The interval is fixed by each format (3 h for Kp, 1 h for Dst): a file whose most common step is
a multiple of it (6-hourly Kp rows) is refused naming both (ranges.check_sampling_interval), as is
any off-grid step; a single skipped step becomes missing samples.
"""

from __future__ import annotations

import csv
import io
import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import TimeSeries, to_regular_grid

KP_INTERVAL = np.timedelta64(3 * 3600, "s")
DST_INTERVAL = np.timedelta64(3600, "s")
_KP_THIRDS = {0: 0.0, 3: 1.0 / 3.0, 7: 2.0 / 3.0}
_DST_RECORD_RE = re.compile(r"DST(\d{2})(\d{2})\*(\d{2})")
DST_WDC_FILL_CODES = (9999.0,)
DST_CSV_FILL_CODES = (9999.0, 99999.0)
KP_CSV_FILL_CODES = ()


def decode_kp(code: int) -> float:
  """Kp from its x10 code with thirds as 0/3/7: 23 -> 2.333 (2+), 27 -> 2.667 (3-), 90 -> 9."""
  tens, third = divmod(int(code), 10)
  if third not in _KP_THIRDS or not 0 <= code <= 90:
    raise ValueError(f"{code} is not a Kp x10 code (0..90 ending in 0, 3 or 7)")
  return tens + _KP_THIRDS[third]


def _check_interval(path, times, interval, numbers) -> None:
  """The format's fixed interval must be the most common step (module docstring)."""
  ranges_lib.check_sampling_interval(
    times, interval, path=path, lines=numbers, declared_by="the format"
  )


def read_kp_celestrak(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> TimeSeries:
  """Kp and ap from CelesTrak SW-All.txt (observed block only), channels ("kp", "ap"), 3 h."""
  path = pathlib.Path(path)
  lines = textio.read_lines(path)
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
  values = ranges_lib.clean_values(
    np.stack([kp, ap], axis=1),
    ("kp", "ap"),
    path=path,
    lines=numbers,
    fields=("Kp (columns 19-42)", "ap (columns 47-78)"),
    ranges=ranges,
  )
  _check_interval(path, times, KP_INTERVAL, numbers)
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
    values,
    channels=("kp", "ap"),
    interval=KP_INTERVAL,
    metadata=meta,
    path=path,
    line_numbers=numbers,
  )


def read_dst_wdc(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> TimeSeries:
  """Hourly Dst (nT) from Kyoto WDC 120-byte records, channel ("dst",), 1 h; 9999 -> missing.

  The century comes from columns 15-16 when they read 19 or 20 (blank means 19 in the WDC format);
  redistributions that overwrite those columns (SET's `SET100` tag) fall back to yy < 57 -> 20yy,
  which is noted in metadata["assumptions"]. The daily mean (columns 117-120) is not read.
  """
  path = pathlib.Path(path)
  lines = textio.read_lines(path)
  times, values, numbers = [], [], []
  guessed_century = 0
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
      guessed_century += 1
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
    hourly = ranges_lib.mask_fill_codes(hourly, DST_WDC_FILL_CODES)
    times.append(day + np.arange(24) * DST_INTERVAL)
    values.append(hourly + 100.0 * base)
    numbers.append(i + 1)
  if not times:
    raise DataFormatError(path, None, "no DST records")
  ranges_lib.check_values(
    np.stack(values),
    "dst",
    path=path,
    lines=numbers,
    fields=[f"hour {h:02d} (columns {21 + 4 * h}-{24 + 4 * h})" for h in range(24)],
    ranges=ranges,
  )
  numbers = np.repeat(numbers, 24)
  _check_interval(path, np.concatenate(times), DST_INTERVAL, numbers)
  meta = {
    "index": "Dst",
    "source_file": str(path),
    "source": "WDC for Geomagnetism, Kyoto",
    "units": {"dst": "nT"},
    "time_convention": "start of the hour, UTC",
    "assumptions": [
      f"{guessed_century} record(s) have no century in columns 15-16; took yy < 57 as 20yy"
    ]
    if guessed_century
    else [],
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
  quantities: Sequence[str],
  fill_codes: Sequence[float],
  ranges: ranges_lib.RangeOverrides | None,
) -> TimeSeries:
  """A `time,value...` CSV with ISO UTC times (a trailing Z allowed); empty cells are missing."""
  path = pathlib.Path(path)
  reader = csv.reader(io.StringIO(textio.read_text(path)))
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
  if not stamps:
    raise DataFormatError(path, None, "no data rows after the header")
  values = ranges_lib.clean_values(
    values,
    quantities,
    fill_codes=fill_codes,
    path=path,
    lines=numbers,
    fields=columns,
    ranges=ranges,
  )
  times = np.asarray(stamps, dtype="datetime64[s]")
  _check_interval(path, times, interval, numbers)
  return to_regular_grid(
    times,
    values,
    channels=channels,
    interval=interval,
    metadata={**meta, "source_file": str(path)},
    path=path,
    line_numbers=numbers,
  )


def read_kp_csv(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> TimeSeries:
  """Kp and ap from `time_utc_interval_start,kp,kp_x10_celestrak,ap`, channels ("kp", "ap").

  Only an empty cell is missing; Kp outside 0..9 (a -1 too) or ap outside 0..400 is an error.
  """
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
    ("kp", "ap"),
    KP_CSV_FILL_CODES,
    ranges,
  )


def read_dst_csv(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> TimeSeries:
  """Hourly Dst from `time_utc_hour_start,dst_nT`, channel ("dst",); empty, 9999, 99999: missing."""
  return _read_index_csv(
    path,
    "time_utc_hour_start",
    ("dst_nT",),
    ("dst",),
    DST_INTERVAL,
    {"index": "Dst", "units": {"dst": "nT"}, "time_convention": "start of the hour, UTC"},
    ("dst",),
    DST_CSV_FILL_CODES,
    ranges,
  )

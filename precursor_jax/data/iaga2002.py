"""IAGA-2002 reader (INTERMAGNET 1-second, 1-minute, hourly files; any four components).

Format (www.intermagnet.org, "IAGA-2002 Data Exchange Format"): a fixed header of 70-column records
` <keyword, cols 2-24><value, cols 25-69>|`, comment records starting ` #`, one column-header line
`DATE TIME DOY <IAGA><c1> .. <IAGA><c4> |`, then one data line per sample
`YYYY-MM-DD hh:mm:ss.sss DDD v1 v2 v3 v4`. 99999.00 marks a missing value and 88888.00 an element
that was not recorded; both become missing (NaN), never numbers. Times are UTC.

`read_iaga2002` reads one file, a list of files or a directory of (daily) files, checks every
timestamp against the declared "Data Interval Type", and joins the files in time order; duplicate or
overlapping timestamps are an error. A skipped timestamp (not allowed by the format, but seen in the
wild) becomes a missing sample that `gap_report` shows.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import TimeSeries, concatenate, to_regular_grid

MISSING_CODES = (99999.0, 88888.0)
FILE_SUFFIXES = (".min", ".sec", ".hor", ".day")
# Header keywords that must be present, and the metadata keys they go to.
_REQUIRED = {
  "Format": "format",
  "IAGA CODE": "station_code",
  "Geodetic Latitude": "latitude",
  "Geodetic Longitude": "longitude",
  "Elevation": "elevation",
  "Reported": "reported",
  "Data Interval Type": "interval_type",
  "Data Type": "data_type",
}
_OPTIONAL = {
  "Source of Data": "source_of_data",
  "Station Name": "station_name",
  "Sensor Orientation": "sensor_orientation",
  "Digital Sampling": "digital_sampling",
  "Publication Date": "publication_date",
}
_NUMERIC = ("latitude", "longitude", "elevation")
_UNIT_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
_INTERVAL_RE = re.compile(r"(\d+)\s*-?\s*(second|sec|minute|min|hour|day)", re.IGNORECASE)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}\.000")
_ANGLE_COMPONENTS = ("D", "I")  # IAGA-2002 gives angles in minutes of arc


def parse_interval(text: str) -> np.timedelta64:
  """The sampling interval named by a "Data Interval Type" value, e.g. "filtered 1-minute ..."."""
  match = _INTERVAL_RE.search(text)
  if match is None:
    raise ValueError(f"no '<n>-second/minute/hour/day' in {text!r}")
  return np.timedelta64(int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()], "s")


def _parse_header(path, lines: list[str]) -> tuple[dict, list[str], int]:
  """Header metadata, the component names and the index of the column-header line."""
  meta: dict = {"comments": []}
  for i, line in enumerate(lines):
    if line.startswith("DATE"):
      break
    if not line.strip():
      continue
    if line[1:2] == "#":
      meta["comments"].append(line[2:].rstrip(" |\r\n").strip())
      continue
    keyword, value = line[1:24].strip(), line[24:69].strip()
    key = _REQUIRED.get(keyword) or _OPTIONAL.get(keyword)
    if key is None:
      meta.setdefault("other_header", {})[keyword] = value
    elif key in _NUMERIC:
      try:
        meta[key] = float(value)
      except ValueError:
        raise DataFormatError(
          path, i + 1, f"expected a number for '{keyword}', got {value!r}"
        ) from None
    else:
      meta[key] = value
  else:
    raise DataFormatError(path, None, "expected a column-header line starting with 'DATE'")
  header_line = i
  missing = [k for k, v in _REQUIRED.items() if v not in meta]
  if missing:
    raise DataFormatError(path, None, f"header lacks {missing} (expected the IAGA-2002 header)")
  if meta["format"].upper() != "IAGA-2002":
    raise DataFormatError(path, None, f"'Format' is {meta['format']!r}, expected 'IAGA-2002'")
  names = lines[header_line].replace("|", " ").split()
  if names[:3] != ["DATE", "TIME", "DOY"] or len(names) < 4:
    raise DataFormatError(
      path, header_line + 1, f"expected 'DATE TIME DOY' and component columns, got {names}"
    )
  code = meta["station_code"].upper()
  components = [
    n[len(code) :] if n.upper().startswith(code) and len(n) > len(code) else n for n in names[3:]
  ]
  if "".join(components).upper() != meta["reported"].upper():
    raise DataFormatError(
      path, header_line + 1, f"columns {names[3:]} do not match 'Reported {meta['reported']}'"
    )
  meta["column_names"] = names[3:]
  return meta, components, header_line


def read_iaga2002_file(path: str | os.PathLike) -> TimeSeries:
  """One IAGA-2002 file as a TimeSeries with one channel per reported component."""
  path = pathlib.Path(path)
  with open(path, encoding="utf-8", errors="replace") as f:
    lines = f.read().splitlines()
  meta, components, header_line = _parse_header(path, lines)
  try:
    interval = parse_interval(meta["interval_type"])
  except ValueError as e:
    raise DataFormatError(path, None, f"'Data Interval Type': {e}") from None
  n = len(components)
  expected = f"expected 'DATE TIME DOY' followed by {n} values"
  stamps, values, line_numbers, doys = [], [], [], []
  for i in range(header_line + 1, len(lines)):
    line = lines[i]
    tokens = line.split()
    if not tokens:
      continue
    if (
      len(tokens) != 3 + n
      or not _DATE_RE.fullmatch(tokens[0])
      or not _TIME_RE.fullmatch(tokens[1])
      or not tokens[2].isdigit()
    ):
      raise DataFormatError(path, i + 1, f"{expected} (time on whole seconds), got {line!r}")
    try:
      values.append([float(t) for t in tokens[3:]])
    except ValueError:
      raise DataFormatError(
        path, i + 1, f"{expected}, got non-numeric values in {line!r}"
      ) from None
    stamps.append(f"{tokens[0]}T{tokens[1][:8]}")
    doys.append(int(tokens[2]))
    line_numbers.append(i + 1)
  if not stamps:
    raise DataFormatError(path, None, "no data lines after the column header")
  try:
    times = np.array(stamps, dtype="datetime64[s]")
  except ValueError:
    for stamp, number in zip(stamps, line_numbers, strict=True):
      try:
        np.datetime64(stamp, "s")
      except ValueError:
        raise DataFormatError(path, number, f"invalid date/time {stamp!r}") from None
    raise
  day = times.astype("datetime64[D]")
  expected_doy = (day - day.astype("datetime64[Y]")).astype(np.int64) + 1
  wrong = np.flatnonzero(expected_doy != np.asarray(doys))
  if len(wrong):
    j = int(wrong[0])
    raise DataFormatError(
      path,
      line_numbers[j],
      f"day of year {doys[j]} does not match the date {day[j]} (expected {expected_doy[j]:03d})",
    )
  values = np.asarray(values, dtype=np.float64)
  values[np.isin(values, MISSING_CODES)] = np.nan
  meta.update(
    source_file=str(path),
    units={c: ("minutes of arc" if c.upper() in _ANGLE_COMPONENTS else "nT") for c in components},
  )
  return to_regular_grid(
    times,
    values,
    channels=components,
    interval=interval,
    metadata=meta,
    path=path,
    line_numbers=line_numbers,
  )


def _list_files(source) -> list[pathlib.Path]:
  if isinstance(source, (str, os.PathLike)):
    source = pathlib.Path(source)
    if source.is_dir():
      files = sorted(p for p in source.iterdir() if p.suffix.lower() in FILE_SUFFIXES)
      if not files:
        raise FileNotFoundError(f"no IAGA-2002 files ({', '.join(FILE_SUFFIXES)}) in {source}")
      return files
    return [source]
  return [pathlib.Path(p) for p in source]


def read_iaga2002(source: str | os.PathLike | Sequence[str | os.PathLike]) -> TimeSeries:
  """A file, a list of files or a directory of IAGA-2002 files as one TimeSeries in time order.

  All files must come from the same station with the same components and interval; overlapping or
  duplicate timestamps between files raise a DataFormatError naming both files.
  """
  series = [read_iaga2002_file(p) for p in _list_files(source)]
  if len(series) == 1:
    return series[0]
  first = series[0]
  for s in series[1:]:
    if s.metadata["station_code"] != first.metadata["station_code"]:
      raise DataFormatError(
        s.metadata["source_file"],
        None,
        f"station {s.metadata['station_code']} differs from "
        f"{first.metadata['station_code']} in {first.metadata['source_file']}",
      )
    if s.channels != first.channels:
      raise DataFormatError(
        s.metadata["source_file"],
        None,
        f"components {''.join(s.channels)} differ from "
        f"{''.join(first.channels)} in {first.metadata['source_file']}",
      )
  return concatenate(series)

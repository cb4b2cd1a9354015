"""IAGA-2002 reader (INTERMAGNET 1-second, 1-minute, hourly files; any four components).

Format (www.intermagnet.org, "IAGA-2002 Data Exchange Format"): a fixed header of 70-column records
` <keyword, cols 2-24><value, cols 25-69>|`, comment records starting ` #`, one column-header line
`DATE TIME DOY <IAGA><c1> .. <IAGA><c4> |`, then one data line per sample
`YYYY-MM-DD hh:mm:ss.sss DDD v1 v2 v3 v4`. Times are UTC.

What becomes of the values (core/ranges.py holds the shared rules and the range table):
- 99999.00 (missing) and 88888.00 (not recorded) are the format's fill codes (`FILL_CODES`): both
  become missing (NaN), never numbers.
- Every other value must be finite and plausible for its element: X Y Z H E V G in nT
  ("geomagnetic_component"), F and S in nT ("geomagnetic_total_field"), D and I in minutes of arc
  ("declination", "inclination"); an inf or 1e30 is a DataFormatError naming the file, the line and
  the column (e.g. BOUZ). Header latitude, longitude and elevation are checked the same way.
  `ranges=` overrides the table for one call.

Sampling interval: the header's "Data Interval Type" declares it. When the most common step between
the timestamps is another one (2-minute steps under a 1-minute header), the file is refused naming
both intervals and the first such line (ranges.check_sampling_interval); pass `interval=` to read
it at an interval of your choosing (recorded as an assumption). A single skipped timestamp (not
allowed by the format, but seen in the wild) becomes a missing sample that `gap_report` shows.

Odd header values that the reader interprets anyway are recorded, one sentence each, in
metadata["assumptions"] (a list; empty for a clean header) and printed by `python -m
precursor_jax.qc --iaga2002`: a "Data Interval Type" that is not a standard form but still names an
interval ("1-minut"), an unknown "Data Type", a "Format" spelt other than `IAGA-2002`, a component
letter the format does not define (taken to be in nT).

`read_iaga2002` reads one file, a list of files or a directory, and joins the files in time order;
duplicate or overlapping timestamps are an error. In a directory, files are recognised by their
header, not their name (data centres rename `.min` files to `.txt`): every regular file whose first
non-blank line is the `Format  IAGA-2002` record is read (compressed `.gz` files too, see
core/textio.py); hidden files (`.name`), subdirectories and files without that record are skipped
and listed in metadata["skipped_files"].
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import TimeSeries, as_seconds, concatenate, to_regular_grid

FILL_CODES = (99999.0, 88888.0)
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
# Numeric header values and the quantity of core/ranges.py each must satisfy.
_NUMERIC = {"latitude": "latitude", "longitude": "longitude", "elevation": "elevation_m"}
_UNIT_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
_INTERVAL_RE = re.compile(r"(\d+)\s*-?\s*(second|sec|minute|min|hour|day)", re.IGNORECASE)
# The forms the format and INTERMAGNET use: "1-minute", "Filtered 1-minute (00:15-01:45)", ...
_STANDARD_INTERVAL_RE = re.compile(
  r"(?:(?:filtered|average|averaged)\s+)?1-(?:second|minute|hour|day)(?:\s*\(.*\))?",
  re.IGNORECASE,
)
KNOWN_DATA_TYPES = (
  "variation",
  "reported",
  "adjusted",
  "provisional",
  "quasi-definitive",
  "definitive",
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}\.000")
# IAGA-2002 elements and the quantity (core/ranges.py) of each; D and I are in minutes of arc.
ELEMENT_QUANTITIES = {
  **dict.fromkeys("XYZHEVG", "geomagnetic_component"),
  **dict.fromkeys("FS", "geomagnetic_total_field"),
  "D": "declination",
  "I": "inclination",
}


def parse_interval(text: str) -> np.timedelta64:
  """The sampling interval named by a "Data Interval Type" value, e.g. "filtered 1-minute ..."."""
  match = _INTERVAL_RE.search(text)
  if match is None:
    raise ValueError(f"no '<n>-second/minute/hour/day' in {text!r}")
  return np.timedelta64(int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()], "s")


def _header_record(line: str) -> tuple[str, str]:
  """(keyword, value) of a 70-column header record."""
  return line[1:24].strip(), line[24:69].strip().rstrip("|").strip()


def _format_is_iaga2002(value: str) -> bool:
  """'IAGA-2002', or a variant that only differs in case, blanks or the hyphen."""
  return re.sub(r"[\s_-]", "", value).upper() == "IAGA2002"


def is_iaga2002(path: str | os.PathLike) -> bool:
  """True when the file's first non-blank line is the `Format  IAGA-2002` header record."""
  for line in textio.read_head(path).split("\n"):
    if line.strip():
      keyword, value = _header_record(line)
      return keyword.lower() == "format" and _format_is_iaga2002(value)
  return False


def _parse_header(path, lines: list[str], ranges) -> tuple[dict, list[str], int]:
  """Header metadata, the component names and the index of the column-header line."""
  meta: dict = {"comments": [], "assumptions": []}
  for i, line in enumerate(lines):
    if line.startswith("DATE"):
      break
    if not line.strip():
      continue
    if line[1:2] == "#":
      meta["comments"].append(line[2:].rstrip(" |").strip())
      continue
    keyword, value = _header_record(line)
    key = _REQUIRED.get(keyword) or _OPTIONAL.get(keyword)
    if key is None:
      meta.setdefault("other_header", {})[keyword] = value
    elif key in _NUMERIC:
      try:
        number = float(value)
      except ValueError:
        raise DataFormatError(
          path, i + 1, f"expected a number for '{keyword}', got {value!r}"
        ) from None
      ranges_lib.check_values(
        [number], _NUMERIC[key], path=path, lines=[i + 1], fields=keyword, ranges=ranges
      )
      meta[key] = number
    else:
      meta[key] = value
  else:
    raise DataFormatError(path, None, "expected a column-header line starting with 'DATE'")
  header_line = i
  missing = [k for k, v in _REQUIRED.items() if v not in meta]
  if missing:
    raise DataFormatError(path, None, f"header lacks {missing} (expected the IAGA-2002 header)")
  if not _format_is_iaga2002(meta["format"]):
    raise DataFormatError(path, None, f"'Format' is {meta['format']!r}, expected 'IAGA-2002'")
  if meta["format"] != "IAGA-2002":
    meta["assumptions"].append(f"'Format' {meta['format']!r} taken to be IAGA-2002")
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


def _interval(path, meta: dict, interval) -> np.timedelta64:
  """The declared interval (or the caller's), noting non-standard header values as assumptions."""
  text = meta["interval_type"]
  try:
    declared = parse_interval(text)
  except ValueError as e:
    if interval is None:
      raise DataFormatError(path, None, f"'Data Interval Type': {e}") from None
    declared = None
  if declared is not None and not _STANDARD_INTERVAL_RE.fullmatch(text):
    meta["assumptions"].append(
      f"'Data Interval Type' {text!r} is not a standard IAGA-2002 value; read as "
      f"{int(declared / np.timedelta64(1, 's'))} s"
    )
  if interval is None:
    return declared
  interval = as_seconds(interval)
  meta["assumptions"].append(
    f"sampling interval {int(interval / np.timedelta64(1, 's'))} s given by the caller, "
    f"not the header's 'Data Interval Type' {text!r}"
  )
  return interval


def _element_quantities(meta: dict, components: Sequence[str]) -> list[str]:
  """The range quantity of each component; unknown letters are assumed to be nT components."""
  data_type = meta["data_type"]
  if data_type.lower() not in KNOWN_DATA_TYPES:
    meta["assumptions"].append(
      f"'Data Type' {data_type!r} is none of {', '.join(KNOWN_DATA_TYPES)}; "
      "the values are used as they are"
    )
  quantities = []
  for c in components:
    quantity = ELEMENT_QUANTITIES.get(c.upper())
    if quantity is None:
      meta["assumptions"].append(
        f"component {c!r} is not an IAGA-2002 element; taken to be a component in nT"
      )
      quantity = "geomagnetic_component"
    quantities.append(quantity)
  return quantities


def read_iaga2002_file(
  path: str | os.PathLike,
  *,
  interval=None,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> TimeSeries:
  """One IAGA-2002 file (`.gz` too) as a TimeSeries with one channel per reported component.

  interval: read at this interval instead of the header's (recorded in metadata["assumptions"]).
  ranges: overrides of the plausible ranges (core/ranges.py), e.g. {"geomagnetic_component":
  (-2e5, 2e5)}.
  """
  path = pathlib.Path(path)
  lines = textio.read_lines(path)
  meta, components, header_line = _parse_header(path, lines, ranges)
  declared = _interval(path, meta, interval)
  quantities = _element_quantities(meta, components)
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
  values = ranges_lib.clean_values(
    values,
    quantities,
    fill_codes=FILL_CODES,
    path=path,
    lines=line_numbers,
    fields=meta["column_names"],
    ranges=ranges,
  )
  ranges_lib.check_sampling_interval(
    times,
    declared,
    path=path,
    lines=line_numbers,
    declared_by=(
      f"the header's 'Data Interval Type' {meta['interval_type']!r}"
      if interval is None
      else "interval="
    ),
    remedy="correct the header, or pass interval= to read the file at another interval",
  )
  meta.update(
    source_file=str(path),
    units={
      c: ("minutes of arc" if q in ("declination", "inclination") else "nT")
      for c, q in zip(components, quantities, strict=True)
    },
  )
  return to_regular_grid(
    times,
    values,
    channels=components,
    interval=declared,
    metadata=meta,
    path=path,
    line_numbers=line_numbers,
  )


def _list_files(source) -> tuple[list[pathlib.Path], list[str]]:
  """The files to read and, for a directory, the names skipped (module docstring)."""
  if isinstance(source, (str, os.PathLike)):
    source = pathlib.Path(source)
    if source.is_dir():
      files, skipped = [], []
      for p in sorted(source.iterdir()):
        if p.name.startswith(".") or not p.is_file() or not is_iaga2002(p):
          skipped.append(p.name)
        else:
          files.append(p)
      if not files:
        raise FileNotFoundError(
          f"no IAGA-2002 files in {source} (looked for a first header record "
          f"'Format  IAGA-2002' in every file; skipped {skipped[:10]})"
        )
      return files, skipped
    return [source], []
  return [pathlib.Path(p) for p in source], []


def read_iaga2002(
  source: str | os.PathLike | Sequence[str | os.PathLike],
  *,
  interval=None,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> TimeSeries:
  """A file, a list of files or a directory of IAGA-2002 files as one TimeSeries in time order.

  All files must come from the same station with the same components and interval; overlapping or
  duplicate timestamps between files raise a DataFormatError naming both files. A directory is
  searched by header, not by extension (module docstring). interval, ranges: as read_iaga2002_file.
  metadata["assumptions"] gathers those of every file, each prefixed with its file name when
  several files are joined.
  """
  files, skipped = _list_files(source)
  series = [read_iaga2002_file(p, interval=interval, ranges=ranges) for p in files]
  extra = {"skipped_files": skipped} if skipped else {}
  if len(series) == 1:
    return series[0].with_values(series[0].values, **extra) if extra else series[0]
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
  joined = concatenate(series)
  assumptions = [
    f"{pathlib.Path(s.metadata['source_file']).name}: {a}"
    for s in series
    for a in s.metadata["assumptions"]
  ]
  return joined.with_values(joined.values, assumptions=assumptions, **extra)

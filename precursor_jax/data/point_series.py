"""Point files of the Chinese precursor network: one `YYYYMMDDHH[MM] value` sample per line.

Borehole strain, barometric pressure, water level... are distributed as text with one timestamp
(the station's convention, taken as given: the Guzan files carry no time-zone statement) and one
value per line, e.g. ` 2006110100  -12544.50`. `YYYYMMDD` (daily), `YYYYMMDDHH` (hourly) and
`YYYYMMDDHHMM` (minute) stamps are accepted, separated from the value by blanks or a comma.
Files may be UTF-8 (with or without BOM) or GB18030, with any line ends, and gzip-compressed
(`h1.DAT.gz`): core/textio.py opens them.

Values (core/ranges.py): 99999 and 999999 (any number of decimals) are the fill codes
(`FILL_CODES`) and become missing; a NaN is missing too. Every other value must be finite and
within the plausible range of the file's quantity ("raw_reading" by default, "strain_gauge_raw"
for the four gauges; both +-1e9, see core/ranges.py for why so wide), else a DataFormatError
names the file, the line and the field; `ranges=` overrides the bounds.

The interval is the most common step between timestamps, or the one given. A given interval is
checked against the timestamps (ranges.check_sampling_interval): when their most common step is a
whole multiple k > 1 of it (hourly stamps read with interval=1800 s) the file is refused, naming
both intervals and the line, since reading it would put k - 1 missing samples between every pair
of real ones. A step that is not a whole multiple of the interval, a duplicate or a step
backwards is an error naming the line; skipped timestamps become missing samples (they are never
closed up).

`read_four_gauge` reads the four gauges S1..S4 of a four-gauge borehole strainmeter onto one grid,
with the gauge azimuths and station position from a station metadata table when one is given.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import TimeSeries, merge_channels, to_regular_grid

FILL_CODES = (99999.0, 999999.0)
_STAMP_FORMATS = {8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M"}
_GAUGE_FILE_RE = re.compile(r"^h?([1-4])(?:-(\d+(?:\.\d+)?))?$", re.IGNORECASE)
GAUGE_CHANNELS = ("S1", "S2", "S3", "S4")


def _iso(stamp: str) -> str:
  """'2006110100' -> '2006-11-01T00:00' (a form numpy parses; it validates the fields)."""
  iso = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"
  if len(stamp) >= 10:
    iso += f"T{stamp[8:10]}:{stamp[10:12] if len(stamp) == 12 else '00'}"
  return iso


def read_point_file(
  path: str | os.PathLike,
  *,
  channel: str | None = None,
  interval=None,
  fill_codes: Sequence[float] = FILL_CODES,
  quantity: str = "raw_reading",
  ranges: ranges_lib.RangeOverrides | None = None,
  metadata: Mapping[str, Any] | None = None,
) -> TimeSeries:
  """A `YYYYMMDD[HH[MM]] value` file as a one-channel TimeSeries (channel: the file stem).

  interval: the sampling interval (None: the most common step); fill_codes: values that mean
  missing; quantity: the core/ranges.py quantity the values must be plausible for; ranges: its
  overrides (module docstring).
  """
  path = pathlib.Path(path)
  lines = textio.read_lines(path)
  stamps, values, line_numbers = [], [], []
  width = None
  for i, line in enumerate(lines):
    tokens = line.replace(",", " ").split()
    if not tokens:
      continue
    if len(tokens) != 2 or not tokens[0].isdigit() or len(tokens[0]) not in _STAMP_FORMATS:
      raise DataFormatError(path, i + 1, f"expected 'YYYYMMDD[HH[MM]] value', got {line.strip()!r}")
    if width is None:
      width = len(tokens[0])
    elif len(tokens[0]) != width:
      raise DataFormatError(
        path,
        i + 1,
        f"timestamp {tokens[0]!r} has {len(tokens[0])} digits, "
        f"earlier lines have {width} ({_STAMP_FORMATS[width]})",
      )
    try:
      values.append(float(tokens[1]))
    except ValueError:
      raise DataFormatError(
        path, i + 1, f"expected a number after the timestamp, got {tokens[1]!r}"
      ) from None
    stamps.append(tokens[0])
    line_numbers.append(i + 1)
  if not stamps:
    raise DataFormatError(path, None, "no data lines")
  isos = [_iso(s) for s in stamps]
  try:
    times = np.array(isos, dtype="datetime64[s]")
  except ValueError:
    for iso, stamp, number in zip(isos, stamps, line_numbers, strict=True):
      try:
        np.datetime64(iso, "s")
      except ValueError:
        raise DataFormatError(path, number, f"invalid timestamp {stamp!r}") from None
    raise
  name = channel or textio.logical_name(path).rsplit(".", 1)[0]
  values = ranges_lib.clean_values(
    values,
    quantity,
    fill_codes=fill_codes,
    path=path,
    lines=line_numbers,
    fields=name,
    ranges=ranges,
  )
  if interval is not None:
    ranges_lib.check_sampling_interval(
      times,
      interval,
      path=path,
      lines=line_numbers,
      declared_by="interval=",
      remedy="pass the file's own interval, or interval=None to infer it",
    )
  meta = {"source_file": str(path), "timestamp_format": _STAMP_FORMATS[width], **(metadata or {})}
  return to_regular_grid(
    times,
    values,
    channels=(name,),
    interval=interval,
    metadata=meta,
    path=path,
    line_numbers=line_numbers,
  )


def read_station_metadata(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> dict[int, dict[str, Any]]:
  """Gauge number -> {file, data_type, latitude, longitude, elevation, azimuth} from a table.

  The table is the batch-guide layout of the Chinese strain software: a header line
  (文件名 数据类型 纬度(度) 经度(度) 高程(米) 方位角(度)), then `file type lat lon elev azimuth` per gauge,
  the gauge number taken from the file name (`h1-51.DAT` -> gauge 1). UTF-8 or GB18030 (textio).
  Latitude, longitude and elevation must be plausible (core/ranges.py).
  """
  path = pathlib.Path(path)
  rows: dict[int, dict[str, Any]] = {}
  for i, line in enumerate(textio.read_lines(path)):
    tokens = line.split()
    if i == 0 or not tokens:
      continue  # the header line
    if len(tokens) != 6:
      raise DataFormatError(
        path, i + 1, f"expected 'file type latitude longitude elevation azimuth', got {line!r}"
      )
    name = re.split(r"[\\/]", tokens[0])[-1]
    match = _GAUGE_FILE_RE.match(name.rsplit(".", 1)[0])
    if match is None:
      raise DataFormatError(path, i + 1, f"cannot tell the gauge number (1-4) from {name!r}")
    try:
      lat, lon, elev, azimuth = (float(t) for t in tokens[2:])
    except ValueError:
      raise DataFormatError(
        path, i + 1, f"expected four numbers after the type, got {tokens[2:]}"
      ) from None
    ranges_lib.check_values(
      [[lat, lon, elev]],
      ("latitude", "longitude", "elevation_m"),
      path=path,
      lines=[i + 1],
      fields=("latitude", "longitude", "elevation"),
      ranges=ranges,
    )
    gauge = int(match.group(1))
    if gauge in rows:
      raise DataFormatError(path, i + 1, f"gauge {gauge} listed twice")
    rows[gauge] = dict(
      file=name, data_type=tokens[1], latitude=lat, longitude=lon, elevation=elev, azimuth=azimuth
    )
  return rows


def check_gauge_azimuths(azimuths: Sequence[float], tolerance_deg: float = 1.0) -> None:
  """Raises ValueError unless the gauges are 45 degrees apart in sequence (S1 ⊥ S3, S2 ⊥ S4)."""
  for a, b in zip(azimuths, list(azimuths[1:]) + [azimuths[0]], strict=True):
    step = (b - a) % 180.0
    if abs(step - 45.0) > tolerance_deg:
      raise ValueError(
        f"gauge azimuths {list(azimuths)} are not 45 degrees apart in sequence "
        f"({a} -> {b} is {step} mod 180); S13, S24, Sa and the self-consistency "
        "check assume S1 ⊥ S3 and S2 ⊥ S4"
      )


def _gauge_files(directory: pathlib.Path) -> list[pathlib.Path]:
  """h1..h4 of a directory, matched on the name without `.gz` (h1.DAT or h1.DAT.gz)."""
  found: dict[int, list[pathlib.Path]] = {}
  for p in sorted(directory.iterdir()):
    stem, _, suffix = textio.logical_name(p).rpartition(".")
    match = _GAUGE_FILE_RE.match(stem)
    if p.is_file() and suffix.lower() == "dat" and match:
      found.setdefault(int(match.group(1)), []).append(p)
  if sorted(found) != [1, 2, 3, 4] or any(len(v) != 1 for v in found.values()):
    raise FileNotFoundError(
      f"expected exactly one gauge file h1..h4 (.dat or .dat.gz) each in {directory}, "
      f"found { ({k: [p.name for p in v] for k, v in found.items()}) }"
    )
  return [found[g][0] for g in (1, 2, 3, 4)]


def read_four_gauge(
  source: str | os.PathLike | Sequence[str | os.PathLike],
  *,
  metadata_file: str | os.PathLike | None = None,
  interval=None,
  ranges: ranges_lib.RangeOverrides | None = None,
  metadata: Mapping[str, Any] | None = None,
) -> TimeSeries:
  """The four gauges of a four-gauge borehole strainmeter as one TimeSeries, channels S1..S4.

  source: a directory holding h1..h4 (`h1.DAT` or `h1-51.DAT`, any case, or the same names
  gzip-compressed, `h1.DAT.gz`) or the four files in gauge order. Values must be plausible raw
  gauge readings ("strain_gauge_raw", core/ranges.py; `ranges=` overrides). The gauges are
  aligned on one grid spanning all four (missing where a gauge has no sample). With
  `metadata_file` (see read_station_metadata) the metadata gains the gauge azimuths and the
  station position, and the azimuths are checked to be 45 degrees apart in sequence.
  """
  if isinstance(source, (str, os.PathLike)):
    files = _gauge_files(pathlib.Path(source))
  else:
    files = [pathlib.Path(p) for p in source]
    if len(files) != 4:
      raise ValueError(f"need the four gauge files in order S1..S4, got {len(files)}")
  gauges = [
    read_point_file(p, channel=c, interval=interval, quantity="strain_gauge_raw", ranges=ranges)
    for p, c in zip(files, GAUGE_CHANNELS, strict=True)
  ]
  meta: dict[str, Any] = {
    "source_files": [str(p) for p in files],
    "units": "raw gauge reading",
    "instrument": "four-gauge borehole strainmeter",
  }
  if metadata_file is not None:
    table = read_station_metadata(metadata_file, ranges=ranges)
    if sorted(table) != [1, 2, 3, 4]:
      raise DataFormatError(metadata_file, None, f"expected gauges 1..4, found {sorted(table)}")
    for key in ("latitude", "longitude", "elevation"):
      distinct = {table[g][key] for g in table}
      if len(distinct) != 1:
        raise DataFormatError(metadata_file, None, f"gauges disagree on {key}: {sorted(distinct)}")
      meta[key] = distinct.pop()
    meta["azimuths_deg"] = tuple(table[g]["azimuth"] for g in (1, 2, 3, 4))
    meta["metadata_file"] = str(metadata_file)
    try:
      check_gauge_azimuths(meta["azimuths_deg"])
    except ValueError as e:
      raise DataFormatError(metadata_file, None, str(e)) from None
  meta.update(metadata or {})
  return merge_channels(gauges, meta)

"""Earthquake catalogues in one form: numpy arrays of UTC time, position, depth, magnitude, place.

Readers:
- `read_usgs_csv`: the "Significant Earthquakes 1965-2016" USGS/ComCat table (UTC, columns
  Date MM/DD/YYYY, Time, Latitude, Longitude, Type, Depth, Magnitude, Magnitude Type, ID, ...).
- `read_comcat_csv`: the USGS FDSN event web service CSV (ComCat, `format=csv`: columns time,
  latitude, longitude, depth, mag, magType, nst, gap, dmin, rms, net, id, updated, place, type, ...,
  ISO UTC times like 2013-04-20T00:02:47.530Z). An empty depth or mag (ComCat leaves them empty
  when undetermined) becomes NaN, which every magnitude filter leaves out.
- `read_cenc_text`: the CENC-style list `YYYY-MM-DD hh:mm:ss.s lat lon depth_km <type><mag> place`,
  written in Beijing time (UTC+8, converted here to UTC), magnitude type `Ms`, `M`, `Mw`...,
  Chinese place names kept as written.

Every reader opens its file with core/textio.py (UTF-8 with or without BOM, or GB18030; CRLF; `.gz`)
and checks every event against core/ranges.py: latitude -90..90, longitude -180..360 (then
normalised to -180..180, east positive), depth -15..1000 km, magnitude -2..10; an inf or an
out-of-range value is a DataFormatError naming the file, the line and the field (`ranges=`
overrides the bounds for one call). A CSV row with fewer or more fields than the header (a
truncated download) is a DataFormatError naming the line.

Filters (`between`, `with_magnitude`, `in_box`, `within_km`) return new catalogues.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import re
from collections.abc import Iterator, Sequence

import numpy as np

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.geodesy import haversine_km

BEIJING_UTC_OFFSET = np.timedelta64(8, "h")
_MAGNITUDE_RE = re.compile(r"^([A-Za-z]+)(\d+(?:\.\d+)?)$")
_CENC_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The list writes seconds unpadded now and then ("01:53:0.6").
_CENC_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2}):(\d{1,2}(?:\.\d+)?)")
_USGS_REQUIRED = (
  "Date",
  "Time",
  "Latitude",
  "Longitude",
  "Type",
  "Depth",
  "Magnitude",
  "Magnitude Type",
  "ID",
)
_COMCAT_REQUIRED = (
  "time",
  "latitude",
  "longitude",
  "depth",
  "mag",
  "magType",
  "id",
  "place",
  "type",
)
_COMCAT_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z?")
_COLUMNS = (
  "time",
  "latitude",
  "longitude",
  "depth_km",
  "magnitude",
  "magnitude_type",
  "place",
  "event_id",
  "event_type",
)
_CHECKED = ("latitude", "longitude", "depth_km", "magnitude")


@dataclasses.dataclass(frozen=True, eq=False)
class Catalog:
  """N events sorted by time. All fields are (N,) arrays.

  Attributes:
    time: datetime64[ms], UTC.
    latitude, longitude: degrees (north, east), longitude in -180..180.
    depth_km: km as listed (the CENC list writes 0 where the depth was not determined; NaN where
      ComCat leaves it empty).
    magnitude: float (NaN where ComCat leaves it empty); magnitude_type: str ("Ms", "M", "MWW",
      ...; "" when the source has none).
    place: str (Chinese names in the CENC list, "" in the USGS table).
    event_id: str (USGS ID; "" in the CENC list); event_type: str ("Earthquake",
      "Nuclear Explosion", ... in the USGS table; "earthquake" in the CENC list).
    source: the file(s) it came from.
  """

  time: np.ndarray
  latitude: np.ndarray
  longitude: np.ndarray
  depth_km: np.ndarray
  magnitude: np.ndarray
  magnitude_type: np.ndarray
  place: np.ndarray
  event_id: np.ndarray
  event_type: np.ndarray
  source: str = ""

  def __post_init__(self):
    n = len(self.time)
    for field in dataclasses.fields(self):
      if field.name != "source" and len(getattr(self, field.name)) != n:
        raise ValueError(f"{field.name} has {len(getattr(self, field.name))} entries, time has {n}")

  def __len__(self) -> int:
    return len(self.time)

  def __repr__(self) -> str:
    span = f"{self.time[0]} .. {self.time[-1]}" if len(self) else "empty"
    return f"Catalog({len(self)} events, {span}, source={self.source!r})"

  def select(self, mask) -> Catalog:
    """The events where the (N,) bool mask (or index array) selects."""
    arrays = {
      f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self) if f.name != "source"
    }
    return Catalog(**arrays, source=self.source)

  def between(self, start=None, end=None) -> Catalog:
    """Events with start <= time (UTC) < end; None leaves that side open."""
    keep = np.ones(len(self), dtype=bool)
    if start is not None:
      keep &= self.time >= np.datetime64(start, "ms")
    if end is not None:
      keep &= self.time < np.datetime64(end, "ms")
    return self.select(keep)

  def with_magnitude(self, minimum: float | None = None, maximum: float | None = None) -> Catalog:
    """Events with minimum <= magnitude <= maximum (any magnitude type)."""
    keep = np.ones(len(self), dtype=bool)
    if minimum is not None:
      keep &= self.magnitude >= minimum
    if maximum is not None:
      keep &= self.magnitude <= maximum
    return self.select(keep)

  def in_box(self, lat_min: float, lat_max: float, lon_min: float, lon_max: float) -> Catalog:
    """Events inside a latitude/longitude box (longitudes in -180..180 or 0..360 both work)."""
    keep = (self.latitude >= lat_min) & (self.latitude <= lat_max)
    if lon_max - lon_min < 360.0:  # measure east of lon_min, so boxes across 180 E work too
      keep &= np.mod(self.longitude - lon_min, 360.0) <= np.mod(lon_max - lon_min, 360.0)
    return self.select(keep)

  def within_km(self, latitude: float, longitude: float, radius_km: float) -> Catalog:
    """Events whose epicentre is within radius_km (great circle) of a point."""
    distance = haversine_km(latitude, longitude, self.latitude, self.longitude)
    return self.select(distance <= radius_km)


def _new_columns() -> dict[str, list]:
  return {k: [] for k in _COLUMNS}


def _finish(
  columns: dict,
  lines: Sequence[int],
  path: pathlib.Path,
  fields: Sequence[str],
  ranges: ranges_lib.RangeOverrides | None,
) -> Catalog:
  """Range checks (module docstring), longitudes to -180..180, events sorted by time."""
  if not columns["time"]:
    raise DataFormatError(path, None, "no events")
  ranges_lib.check_values(
    np.stack([np.asarray(columns[k], dtype=np.float64) for k in _CHECKED], axis=1),
    _CHECKED,
    path=path,
    lines=lines,
    fields=fields,
    ranges=ranges,
  )
  columns = dict(columns, longitude=ranges_lib.normalise_longitude(columns["longitude"]))
  order = np.argsort(np.asarray(columns["time"]), kind="stable")
  return Catalog(**{k: np.asarray(v)[order] for k, v in columns.items()}, source=str(path))


def _csv_rows(path: pathlib.Path, required: Sequence[str]) -> Iterator[tuple[int, dict]]:
  """(line, row) of a headed CSV; DataFormatError for missing columns or a short or long row."""
  reader = csv.DictReader(io.StringIO(textio.read_text(path)))
  header = reader.fieldnames or []
  missing = [c for c in required if c not in header]
  if missing:
    raise DataFormatError(path, 1, f"expected columns {list(required)}, lacking {missing}")
  for row in reader:
    # DictReader files extra fields under the key None and gives absent fields the value None.
    if None in row or None in row.values():
      count = (
        len(header) + len(row.get(None, ()))
        if None in row
        else sum(v is not None for v in row.values())
      )
      raise DataFormatError(
        path,
        reader.line_num,
        f"row has {count} fields, the header has {len(header)} ({', '.join(header[:6])}, ...); "
        "expected one complete event per row (a truncated file?)",
      )
    yield reader.line_num, row


def _number_or_nan(text: str) -> float:
  """float(text), NaN for an empty cell (ComCat's undetermined depth or magnitude)."""
  return float(text) if text.strip() else np.nan


def read_usgs_csv(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> Catalog:
  """The USGS significant-earthquakes CSV (UTC) as a Catalog, every row kept (see event_type)."""
  path = pathlib.Path(path)
  cols, lines = _new_columns(), []
  for line, row in _csv_rows(path, _USGS_REQUIRED):
    try:
      month, day, year = row["Date"].split("/")
      cols["time"].append(np.datetime64(f"{year}-{month}-{day}T{row['Time']}", "ms"))
      for key, column in zip(
        _CHECKED, ("Latitude", "Longitude", "Depth", "Magnitude"), strict=True
      ):
        cols[key].append(float(row[column]))
    except ValueError:
      raise DataFormatError(
        path,
        line,
        "expected Date MM/DD/YYYY, Time hh:mm:ss and "
        "numeric Latitude, Longitude, Depth, Magnitude; got "
        f"{[row[c] for c in _USGS_REQUIRED]}",
      ) from None
    cols["magnitude_type"].append(row["Magnitude Type"])
    cols["place"].append("")
    cols["event_id"].append(row["ID"])
    cols["event_type"].append(row["Type"])
    lines.append(line)
  return _finish(cols, lines, path, ("Latitude", "Longitude", "Depth", "Magnitude"), ranges)


def read_comcat_csv(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> Catalog:
  """A ComCat (USGS FDSN event service) CSV as a Catalog in UTC, sorted by time.

  Uses time, latitude, longitude, depth (km), mag, magType, id, place and type; the other columns
  (nst, gap, errors, status, ...) are not kept. Empty depth or mag -> NaN (module docstring).
  """
  path = pathlib.Path(path)
  cols, lines = _new_columns(), []
  for line, row in _csv_rows(path, _COMCAT_REQUIRED):
    stamp = row["time"].strip()
    if not _COMCAT_TIME_RE.fullmatch(stamp):
      raise DataFormatError(
        path,
        line,
        f"field time: expected an ISO UTC time like 2013-04-20T00:02:47.530Z, got {stamp!r}",
      )
    try:
      cols["time"].append(np.datetime64(stamp.rstrip("Z"), "ms"))
      cols["latitude"].append(float(row["latitude"]))
      cols["longitude"].append(float(row["longitude"]))
      cols["depth_km"].append(_number_or_nan(row["depth"]))
      cols["magnitude"].append(_number_or_nan(row["mag"]))
    except ValueError:
      raise DataFormatError(
        path,
        line,
        "expected a valid time and numeric latitude, longitude (depth and mag numeric or empty); "
        f"got {[row[c] for c in _COMCAT_REQUIRED[:5]]}",
      ) from None
    cols["magnitude_type"].append(row["magType"])
    cols["place"].append(row["place"])
    cols["event_id"].append(row["id"])
    cols["event_type"].append(row["type"])
    lines.append(line)
  return _finish(cols, lines, path, ("latitude", "longitude", "depth", "mag"), ranges)


def read_cenc_text(
  path: str | os.PathLike,
  utc_offset: np.timedelta64 = BEIJING_UTC_OFFSET,
  *,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> Catalog:
  """The CENC-style list (Beijing time by default) as a Catalog in UTC, sorted by time."""
  path = pathlib.Path(path)
  cols, lines = _new_columns(), []
  expected = "expected 'YYYY-MM-DD hh:mm:ss.s lat lon depth <type><magnitude> place'"
  for i, line in enumerate(textio.read_lines(path)):
    tokens = line.split(maxsplit=6)
    if not tokens:
      continue
    if len(tokens) < 6 or not _CENC_TIME_RE.fullmatch(tokens[0]):
      raise DataFormatError(path, i + 1, f"{expected}, got {line!r}")
    magnitude = _MAGNITUDE_RE.match(tokens[5])
    if magnitude is None:
      raise DataFormatError(
        path, i + 1, f"expected a magnitude like 'Ms6.0' or 'M7.0', got {tokens[5]!r}"
      )
    clock = _CENC_CLOCK_RE.fullmatch(tokens[1])
    if (
      clock is None
      or int(clock.group(1)) > 23
      or int(clock.group(2)) > 59
      or float(clock.group(3)) >= 60
    ):
      raise DataFormatError(path, i + 1, f"expected a time hh:mm:ss.s, got {tokens[1]!r}")
    try:
      hours, minutes, secs = int(clock.group(1)), int(clock.group(2)), float(clock.group(3))
      local = (
        np.datetime64(tokens[0], "ms")
        + np.timedelta64(hours * 3600 + minutes * 60, "s")
        + np.timedelta64(round(secs * 1000), "ms")
      )
      lat, lon, depth = float(tokens[2]), float(tokens[3]), float(tokens[4])
    except ValueError:
      raise DataFormatError(path, i + 1, f"{expected}, got {line!r}") from None
    cols["time"].append(local - utc_offset)
    cols["latitude"].append(lat)
    cols["longitude"].append(lon)
    cols["depth_km"].append(depth)
    cols["magnitude_type"].append(magnitude.group(1))
    cols["magnitude"].append(float(magnitude.group(2)))
    cols["place"].append(tokens[6].strip() if len(tokens) == 7 else "")
    cols["event_id"].append("")
    cols["event_type"].append("earthquake")
    lines.append(i + 1)
  return _finish(
    cols,
    lines,
    path,
    ("latitude (column 3)", "longitude (column 4)", "depth (column 5)", "magnitude (column 6)"),
    ranges,
  )

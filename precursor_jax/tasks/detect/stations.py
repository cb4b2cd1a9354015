"""The stations of a detect study: their description, checked, and their records, read.

A station is a JSON object (a list of them in `config.stations_file`, or the same list inline in
`config.stations`):

  {"name": "Guzan", "kind": "strain", "format": "four_gauge",
   "path": "tests/data/strain/guzan_4gauge_hourly_2006_2010",
   "metadata_file": ".../batch_guide_template_station_metadata.utf8.txt",
   "component": "Sa", "latitude": 30.12, "longitude": 102.18, "timezone": "+08:00",
   "interval": "1h"}

  name       unique, used in file names and the report.
  kind       "geomagnetic" or "strain": which VMD modes are kept and which day threshold applies.
  format     "iaga2002" (a file or a directory of IAGA-2002 files), "point" (`YYYYMMDDHH[MM] value`
             lines: the component is its single value column) or "four_gauge" (a directory holding
             the gauges h1..h4, optionally with the station table `metadata_file`).
  component  IAGA-2002: a reported component, default "Z"; four_gauge: "Sa" (default, areal
             strain), "S13" or "S24" (shear strains, signal/strain.py); point: none.
  latitude, longitude   degrees; may be left out where the file's header gives them (IAGA-2002,
             the four-gauge station table). Longitudes 180..360 are written as -180..0.
  timezone   the UTC offset of the file's time stamps, "+08:00" (Beijing time) or hours (8);
             default "+00:00". Stamps are converted to UTC on reading.
  interval   optional: the sampling interval the record must have ("1min", "1h", "3600s"); a
             record at another interval is an error naming the station.
  start, end, background_end   optional: this station's own study window and background end
             (the seed paper studies geomagnetic stations over four months and strain over a
             year); default the config's window and background.

Relative paths are relative to the stations file (or to the working directory for inline
stations). Every problem is a StationError naming the station and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from precursor_jax.core.timeseries import TimeSeries
from precursor_jax.data import iaga2002, point_series
from precursor_jax.signal import strain as strain_lib

KINDS = ("geomagnetic", "strain")
FORMATS = ("iaga2002", "point", "four_gauge")
FOUR_GAUGE_COMPONENTS = ("Sa", "S13", "S24")
FIELDS = (
  "name",
  "kind",
  "format",
  "path",
  "component",
  "latitude",
  "longitude",
  "timezone",
  "interval",
  "metadata_file",
  "start",
  "end",
  "background_end",
)
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|hour|d|day)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
  "s": 1,
  "sec": 1,
  "min": 60,
  "m": 60,
  "h": 3600,
  "hour": 3600,
  "d": 86400,
  "day": 86400,
}
_OFFSET_RE = re.compile(r"^\s*(?:UTC)?\s*([+-])(\d{1,2})(?::?(\d{2}))?\s*$", re.IGNORECASE)


class StationError(ValueError):
  """A station that cannot be used as described; the message names it."""


@dataclasses.dataclass(frozen=True)
class Station:
  """One checked station description (module doc)."""

  name: str
  kind: str
  format: str
  path: pathlib.Path
  component: str | None
  latitude: float | None
  longitude: float | None
  utc_offset: np.timedelta64  # of the file's stamps
  interval: np.timedelta64 | None
  metadata_file: pathlib.Path | None
  window: dict  # the station's own "start", "end", "background_end" (strings) where given

  def describe(self) -> dict[str, Any]:
    """The description as the report writes it."""
    return {
      "name": self.name,
      "kind": self.kind,
      "format": self.format,
      "path": str(self.path),
      "component": self.component,
      "latitude": self.latitude,
      "longitude": self.longitude,
      "utc_offset_hours": float(self.utc_offset / np.timedelta64(1, "h")),
    }


def parse_interval(text: Any, name: str) -> np.timedelta64:
  """ "1min" / "1h" / "3600s" / a number of seconds -> timedelta64[s]."""
  if isinstance(text, int | float) and not isinstance(text, bool):
    seconds = float(text)
  else:
    match = _INTERVAL_RE.match(str(text))
    if match is None:
      raise StationError(
        f"station {name!r}: interval {text!r}; expected e.g. '1min', '1h', '3600s'"
      )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
  if seconds <= 0 or not seconds.is_integer():
    raise StationError(
      f"station {name!r}: interval {text!r} is not a whole positive number of seconds"
    )
  return np.timedelta64(int(seconds), "s")


def parse_utc_offset(text: Any, name: str) -> np.timedelta64:
  """ "+08:00" / "UTC+8" / 8 / -5.5 -> timedelta64[m] (the offset of the stamps from UTC)."""
  if text is None:
    return np.timedelta64(0, "m")
  if isinstance(text, int | float) and not isinstance(text, bool):
    minutes = float(text) * 60
  else:
    match = _OFFSET_RE.match(str(text))
    if match is None:
      raise StationError(
        f"station {name!r}: timezone {text!r}; expected a UTC offset like '+08:00'"
      )
    sign = -1 if match.group(1) == "-" else 1
    minutes = sign * (int(match.group(2)) * 60 + int(match.group(3) or 0))
  if not -14 * 60 <= minutes <= 14 * 60 or not float(minutes).is_integer():
    raise StationError(f"station {name!r}: timezone {text!r} is not a UTC offset within +-14 h")
  return np.timedelta64(int(minutes), "m")


def _coordinate(entry, key, low, high, name) -> float | None:
  value = entry.get(key)
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
    raise StationError(f"station {name!r}: {key} {value!r} is not a number")
  if key == "longitude" and value > 180:
    value -= 360.0
  if not low <= value <= high:
    raise StationError(f"station {name!r}: {key} {value!r} is outside {low}..{high}")
  return float(value)


def parse_station(entry: Mapping[str, Any], base: pathlib.Path) -> Station:
  """A checked Station from one JSON object; paths relative to `base`."""
  if not isinstance(entry, Mapping):
    raise StationError(
      f"a station must be a JSON object with fields {', '.join(FIELDS)}; got {entry!r}"
    )
  name = entry.get("name")
  if not isinstance(name, str) or not name.strip():
    raise StationError(f"a station needs a non-empty 'name'; got {dict(entry)!r}")
  unknown = sorted(set(entry) - set(FIELDS))
  if unknown:
    raise StationError(
      f"station {name!r}: unknown field(s) {unknown}; the fields are {', '.join(FIELDS)}"
    )
  kind, fmt = entry.get("kind"), entry.get("format")
  if kind not in KINDS:
    raise StationError(f"station {name!r}: kind {kind!r}; expected one of {', '.join(KINDS)}")
  if fmt not in FORMATS:
    raise StationError(f"station {name!r}: format {fmt!r}; expected one of {', '.join(FORMATS)}")
  if not entry.get("path"):
    raise StationError(f"station {name!r}: no 'path' to its record")
  component = entry.get("component")
  if fmt == "iaga2002":
    component = component or "Z"
  elif fmt == "four_gauge":
    component = component or "Sa"
    if component not in FOUR_GAUGE_COMPONENTS:
      raise StationError(
        f"station {name!r}: four-gauge component {component!r}; expected one of "
        f"{', '.join(FOUR_GAUGE_COMPONENTS)}"
      )
  elif component:
    raise StationError(f"station {name!r}: a point file has one value column; give no component")
  resolve = lambda p: (base / pathlib.Path(p).expanduser()) if p else None
  return Station(
    name=name.strip(),
    kind=kind,
    format=fmt,
    path=resolve(entry["path"]),
    component=component,
    latitude=_coordinate(entry, "latitude", -90.0, 90.0, name),
    longitude=_coordinate(entry, "longitude", -180.0, 180.0, name),
    utc_offset=parse_utc_offset(entry.get("timezone"), name),
    interval=parse_interval(entry["interval"], name) if entry.get("interval") else None,
    metadata_file=resolve(entry.get("metadata_file")),
    window={k: str(entry[k]) for k in ("start", "end", "background_end") if entry.get(k)},
  )


def load_stations(stations_file: str | None, inline: Sequence[Mapping] | None) -> list[Station]:
  """The checked stations of a config (exactly one of the file and the inline list)."""
  if bool(stations_file) == bool(inline):
    raise StationError(
      "give the stations either in config.stations_file or inline in config.stations"
    )
  if stations_file:
    path = pathlib.Path(stations_file).expanduser()
    if not path.is_file():
      raise StationError(f"config.stations_file: no file {path}")
    try:
      entries = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
      raise StationError(f"{path}: not valid JSON ({error})") from None
    base = path.resolve().parent
  else:
    entries, base = [dict(e) for e in inline], pathlib.Path.cwd()
  if not isinstance(entries, list) or not entries:
    raise StationError("the stations must be a non-empty JSON list of station objects")
  stations = [parse_station(entry, base) for entry in entries]
  names = [s.name for s in stations]
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise StationError(f"station name(s) {repeated} used more than once")
  return stations


@dataclasses.dataclass(frozen=True)
class StationRecord:
  """A station's chosen component on a regular UTC grid, and what reading it established."""

  station: Station
  series: TimeSeries  # one channel: the component, times in UTC
  latitude: float
  longitude: float
  self_consistency: dict | None  # four-gauge: k per month (signal/strain.py)


def _read_component(station: Station) -> tuple[TimeSeries, dict | None]:
  if not station.path.exists():
    raise StationError(f"station {station.name!r}: no file or directory {station.path}")
  if station.format == "iaga2002":
    ts = iaga2002.read_iaga2002(station.path)
    if station.component not in ts.channels:
      raise StationError(
        f"station {station.name!r}: component {station.component!r} not in {station.path} "
        f"(it reports {', '.join(ts.channels)})"
      )
    return ts.select(station.component), None
  if station.format == "point":
    ts = point_series.read_point_file(station.path)
    return ts.with_values(ts.values, (station.name,)), None
  if not station.path.is_dir():
    raise StationError(f"station {station.name!r}: a four-gauge path must be a directory of h1..h4")
  gauges = point_series.read_four_gauge(station.path, metadata_file=station.metadata_file)
  columns = [gauges.column(g) for g in strain_lib.GAUGES]
  months = gauges.times.astype("datetime64[M]")
  consistency = strain_lib.self_consistency(*columns, months)
  report = {
    "months": [str(m) for m in consistency.label],
    "k": [None if not np.isfinite(k) else float(k) for k in consistency.k],
  }
  return strain_lib.strain_series(gauges).select(station.component), report


def _coordinates(station: Station, ts: TimeSeries) -> tuple[float, float]:
  latitude = station.latitude if station.latitude is not None else ts.metadata.get("latitude")
  longitude = station.longitude if station.longitude is not None else ts.metadata.get("longitude")
  if latitude is None or longitude is None:
    raise StationError(
      f"station {station.name!r}: give latitude and longitude (the file's header has none)"
    )
  longitude = float(longitude) - 360.0 if float(longitude) > 180 else float(longitude)
  return float(latitude), longitude


def read_station(station: Station) -> StationRecord:
  """The station's component in UTC, checked against its declared interval."""
  ts, consistency = _read_component(station)
  if station.interval is not None and ts.interval != station.interval:
    raise StationError(
      f"station {station.name!r}: {station.path} is sampled every {ts.interval}, but the station "
      f"says interval {station.interval}"
    )
  if station.utc_offset != np.timedelta64(0, "m"):
    shifted = ts.times - station.utc_offset.astype("timedelta64[s]")
    ts = dataclasses.replace(ts, times=shifted)
  latitude, longitude = _coordinates(station, ts)
  return StationRecord(station, ts, latitude, longitude, consistency)

"""What a value read from a file may be: plausible physical ranges, fill codes, declared intervals.

Every reader in precursor_jax.data passes the numbers it parsed through `clean_values` before they
become a TimeSeries or a Catalog, so the rules below hold for all of them:

1. Fill codes first. Each format's codes for "no value" (IAGA-2002 99999/88888, point files
   99999/999999, Kyoto Dst 9999, ...) are a module-level constant of its reader, `FILL_CODES`, and
   become missing (NaN) BEFORE anything else looks at the numbers; a NaN written in a file is
   missing too. A code the format does not define is not a fill: it meets rule 2.
2. inf and -inf are never data: a DataFormatError (an `ImplausibleValueError`).
3. Every other value must lie in the plausible range of its quantity (table below, bounds
   inclusive), else an `ImplausibleValueError` naming the file, the line, the field and the range,
   e.g. "BOU.min line 27: field BOUZ: 1e+30 is outside the plausible range -100000..100000 nT for a
   geomagnetic component". Out-of-range values are never silently made missing.
4. Overrides: every reader takes `ranges={quantity: (low, high)}` (or a `Range`), which replaces
   those entries of the table for that call, e.g. `read_four_gauge(d, ranges={"strain_gauge_raw":
   (-1e12, 1e12)})` for an instrument with a wider count range. Unknown quantities are an error.

The ranges are physical bounds with a margin, meant to catch corrupt and overflowed numbers (1e30,
3.4e38, a fill code the reader does not know), not to judge data quality:

| quantity | range | unit | why the bound |
|---|---|---|---|
| geomagnetic_component | -1e5..1e5 | nT | |B| at the surface is 22,000..67,000 nT |
| geomagnetic_total_field | 0..1e5 | nT | F is a magnitude |
| declination | -10800..10800 | arcmin | +-180 degrees (IAGA-2002 writes D in minutes) |
| inclination | -5400..5400 | arcmin | +-90 degrees |
| strain_gauge_raw | -1e9..1e9 | gauge units | see below |
| raw_reading | -1e9..1e9 | as recorded | a point file's unstated unit (pressure, level) |
| kp | 0..9 | | the index's scale |
| ap | 0..400 | 2 nT | the largest ap of the Kp-to-ap table |
| dst | -2000..500 | nT | 1859 is estimated at -850..-1760 nT; Dst > 0 stays < ~100 |
| latitude | -90..90 | degrees | |
| longitude | -180..360 | degrees | both conventions; catalogues normalise to -180..180 |
| depth_km | -15..1000 | km | ComCat: above sea level to ~-4 km; deepest events ~735 km |
| magnitude | -2..10 | | microseismic -2 up to beyond the largest possible |
| elevation_m | -1000..9000 | m | station heights (Dead Sea shore -430 m) |
| geoelectric_field | -1e6..1e6 | mV/km | storms ~20 V/km; short dipoles add large offsets |
| ett_value | -1e4..1e4 | MW or degC | all four ETT files stay within -32..108 |

Raw strain gauge readings are instrument counts whose zero and scale differ between instrument
types (YRY-4 capacitive gauges, RZB, ...) and drift by 1e5 counts over years (Guzan h4 runs from
-31,358 to -123,431 in four years), so no narrow bound is right for all of them; +-1e9 is far
above any 24-bit or 32-bit-with-decimals reading and still rejects overflowed values. The
unit-aware check of strain data is the four-gauge self-consistency (signal/strain.py).

Declared and observed sampling intervals (`check_sampling_interval`): when a file (or the caller)
declares an interval and the most common step between its timestamps is a whole multiple k > 1 of
it, the file is refused, naming both intervals and the line where the first such step ends:
reading it at the declared interval would put k - 1 missing samples between every pair of real
ones (a 2-minute file under a 1-minute header) and say nothing. A most common step that is not a
multiple of the declared one (1-second steps under a 1-minute header) is refused by the grid check
of core/timeseries.to_regular_grid, which names the first off-grid line. The fix belongs in the
header or the call, never in the reader's guess.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping, Sequence

import numpy as np

from precursor_jax.core.errors import DataFormatError
from precursor_jax.core.timeseries import infer_interval


@dataclasses.dataclass(frozen=True)
class Range:
  """Inclusive plausible bounds of one quantity, its unit and what it is ("a geomagnetic ...")."""

  low: float
  high: float
  unit: str
  what: str

  def __post_init__(self):
    if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low <= self.high):
      raise ValueError(f"a range needs finite low <= high, got {self.low}..{self.high}")

  def text(self) -> str:
    """'-100000..100000 nT' ('0..9' for a unitless index)."""
    return f"{self.low:g}..{self.high:g}" + (f" {self.unit}" if self.unit else "")


PLAUSIBLE_RANGES: Mapping[str, Range] = types.MappingProxyType(
  {
    "geomagnetic_component": Range(-1e5, 1e5, "nT", "a geomagnetic component"),
    "geomagnetic_total_field": Range(0.0, 1e5, "nT", "the total geomagnetic field F"),
    "declination": Range(-10800.0, 10800.0, "minutes of arc", "declination"),
    "inclination": Range(-5400.0, 5400.0, "minutes of arc", "inclination"),
    "strain_gauge_raw": Range(-1e9, 1e9, "gauge units", "a raw strain gauge reading"),
    "raw_reading": Range(-1e9, 1e9, "(unit as recorded)", "a raw instrument reading"),
    "kp": Range(0.0, 9.0, "", "Kp"),
    "ap": Range(0.0, 400.0, "(2 nT)", "ap"),
    "dst": Range(-2000.0, 500.0, "nT", "Dst"),
    "latitude": Range(-90.0, 90.0, "degrees", "a latitude"),
    "longitude": Range(-180.0, 360.0, "degrees", "a longitude"),
    "depth_km": Range(-15.0, 1000.0, "km", "a hypocentre depth"),
    "magnitude": Range(-2.0, 10.0, "", "an earthquake magnitude"),
    "elevation_m": Range(-1000.0, 9000.0, "m", "a station elevation"),
    "geoelectric_field": Range(-1e6, 1e6, "mV/km", "a geoelectric field"),
    "ett_value": Range(-1e4, 1e4, "(MW or degC)", "an ETT load or oil temperature"),
  }
)

RangeOverrides = Mapping[str, "Range | tuple[float, float]"]


class ImplausibleValueError(DataFormatError):
  """A value outside its quantity's plausible range, or an inf; names file, line and field."""

  def __init__(self, path, line, field: str, value: float, quantity: str, message: str):
    self.field = field
    self.value = value
    self.quantity = quantity
    super().__init__(path, line, message)


def plausible_range(quantity: str, ranges: RangeOverrides | None = None) -> Range:
  """The Range of `quantity`, from `ranges` when it overrides it, else from PLAUSIBLE_RANGES."""
  _check_overrides(ranges)
  base = PLAUSIBLE_RANGES[quantity]
  override = (ranges or {}).get(quantity)
  if override is None:
    return base
  if isinstance(override, Range):
    return override
  low, high = override
  return Range(float(low), float(high), base.unit, base.what)


def _check_overrides(ranges) -> None:
  unknown = sorted(set(ranges or ()) - set(PLAUSIBLE_RANGES))
  if unknown:
    raise KeyError(f"ranges: unknown quantities {unknown}; known are {sorted(PLAUSIBLE_RANGES)}")


def mask_fill_codes(values, fill_codes: Sequence[float]) -> np.ndarray:
  """A float64 copy of `values` with every fill code replaced by NaN (missing)."""
  values = np.array(values, dtype=np.float64)
  if len(fill_codes):
    values[np.isin(values, np.asarray(fill_codes, dtype=np.float64))] = np.nan
  return values


def _per_column(item, count: int, name: str) -> list:
  if isinstance(item, str):
    return [item] * count
  item = list(item)
  if len(item) != count:
    raise ValueError(f"{name}: need {count} entries (one per column), got {len(item)}")
  return item


def check_values(
  values,
  quantities: str | Sequence[str],
  *,
  path: str | os.PathLike | None,
  lines: Sequence[int] | None,
  fields: str | Sequence[str],
  ranges: RangeOverrides | None = None,
) -> None:
  """Raises ImplausibleValueError for the first (by line, then column) inf or out-of-range value.

  values: (N,) or (N, C) as read (NaN = missing, ignored); quantities and fields: one per column
  (or one for all); lines: the file line of each row (None: rows are named by index).
  """
  array = np.asarray(values, dtype=np.float64)
  table = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
  columns = table.shape[1]
  names = _per_column(quantities, columns, "quantities")
  labels = _per_column(fields, columns, "fields")
  limits = [plausible_range(q, ranges) for q in names]
  low = np.array([r.low for r in limits])
  high = np.array([r.high for r in limits])
  with np.errstate(invalid="ignore"):
    bad = np.isinf(table) | (table < low) | (table > high)  # NaN compares False: missing
  if not bad.any():
    return
  row, col = (int(i) for i in np.argwhere(bad)[0])
  value, limit, quantity = float(table[row, col]), limits[col], names[col]
  line = None if lines is None else int(lines[row])
  field = labels[col] if lines is not None else f"{labels[col]} (row {row})"
  if np.isinf(value):
    reason = (
      f"{value!r} is not a number; expected {limit.what} in {limit.text()} (inf is never data)"
    )
  else:
    reason = (
      f"{value!r} is outside the plausible range {limit.text()} for {limit.what} "
      f"(core/ranges.py; override with ranges={{'{quantity}': (low, high)}})"
    )
  raise ImplausibleValueError(path, line, field, value, quantity, f"field {field}: {reason}")


def clean_values(
  values,
  quantities: str | Sequence[str],
  *,
  fill_codes: Sequence[float] = (),
  path: str | os.PathLike | None,
  lines: Sequence[int] | None,
  fields: str | Sequence[str],
  ranges: RangeOverrides | None = None,
) -> np.ndarray:
  """Rules 1-3 of the module docstring: fill codes -> NaN, then `check_values`; float64 copy."""
  cleaned = mask_fill_codes(values, fill_codes)
  check_values(cleaned, quantities, path=path, lines=lines, fields=fields, ranges=ranges)
  return cleaned


def normalise_longitude(longitude) -> np.ndarray:
  """Longitudes in -180..360 -> -180..180 (east positive); 180 stays 180, 360 becomes 0."""
  longitude = np.asarray(longitude, dtype=np.float64)
  return np.where(longitude > 180.0, longitude - 360.0, longitude)


def _duration(step: np.timedelta64) -> str:
  """'60 s (1 minute)'-style text of a timedelta64."""
  seconds = int(step / np.timedelta64(1, "s"))
  for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
    if seconds % size == 0 and seconds >= size:
      count = seconds // size
      return f"{seconds} s ({count} {unit}{'s' if count != 1 else ''})"
  return f"{seconds} s"


def check_sampling_interval(
  times,
  declared,
  *,
  path: str | os.PathLike | None,
  lines: Sequence[int] | None,
  declared_by: str,
  remedy: str = "",
) -> None:
  """Raises DataFormatError when the most common step of `times` is k > 1 times `declared`.

  times: (N,) sample times in file order; declared: the interval the header (or the caller)
  states, named by `declared_by` ("the header's 'Data Interval Type'"). The error names both
  intervals, how many steps have the observed one, and the line where the first such step ends;
  `remedy` is appended. Steps that are not multiples of `declared` are left to the grid check
  (module docstring); fewer than two increasing times: nothing to compare, no error.
  """
  times = np.asarray(times, dtype="datetime64[s]")
  declared = np.timedelta64(declared).astype("timedelta64[s]")
  steps = np.diff(times)
  if not np.any(steps > np.timedelta64(0, "s")):
    return
  observed = infer_interval(times)
  if observed <= declared or observed % declared != np.timedelta64(0, "s"):
    return
  first = int(np.argmax(steps == observed)) + 1
  count = int(np.sum(steps == observed))
  raise DataFormatError(
    path,
    None if lines is None else int(lines[first]),
    f"the timestamps step by {_duration(observed)} ({count} of {len(steps)} steps; the first "
    f"such step ends on this line), but {declared_by} declares {_duration(declared)}: read at "
    f"that interval the file would have {int(observed // declared) - 1} missing sample(s) "
    f"between every pair of real ones{'; ' + remedy if remedy else ''}",
  )

"""Real geoelectric records: day files of 0.1 Hz field and EarthDataLogger magnetotelluric files.

A "day" is one (8640,) float64 array: 24 h of one dipole's electric field in mV/km (= uV/m),
sampled every 10 s, sample 0 at 00:00 local time (core.constants).

1. A directory of the user's own records, one file per local day (`read_day_file`):
   `YYYYMMDD.txt` (or `YYYYMMDD.txt.gz`), 8640 lines, one value per line in mV/km, sample i at
   00:00 + 10 i s local time; lines starting with "#" are comments; "nan", an empty value or a fill
   code (`FILL_CODES`: 99999, 999999) marks a missing sample. A day with any missing sample is
   rejected with a message that names the file and the gap; it is never patched.
   `days_from_timeseries` cuts any 10-s `TimeSeries` into such days.

2. EarthDataLogger ASCII magnetotelluric files (10 Hz, 5-minute files named
   `STATION_YYMMDDhhmmss.EX`), the format of the real MT test records, with anti-alias decimation to
   0.1 Hz (`read_edl_timeseries`).

Both readers open files with core/textio.py (UTF-8 or GB18030, BOM, CRLF, `.gz`) and check every
value against core/ranges.py ("geoelectric_field", -1e6..1e6 mV/km; `ranges=` overrides): an inf or
an implausible value is a DataFormatError naming the file, the line and the field, never a gap
and never data. EDL files have no missing-value code, so a NaN in one is an error too.

The synthetic background model the SES datasets use by default is precursor_jax.synthetic.geoelectric.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import pathlib
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.signal

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core import timeseries as ts_lib
from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES, GEOELECTRIC_INTERVAL_S
from precursor_jax.core.errors import DataFormatError

# ---------------------------------------------------------------------------------------------
# Real records: one file per local day.
# ---------------------------------------------------------------------------------------------

DAY_FILE_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})\.txt$")
FILL_CODES = (99999.0, 999999.0)


class DayGapError(DataFormatError):
  """A day file with missing samples: it is rejected, never patched."""


class DayRecords(NamedTuple):
  """Accepted days of a directory (or a TimeSeries) and the rejected ones with their reasons.

  days: (D, 8640) float64 mV/km; dates: (D,) datetime64[D] local dates, increasing;
  rejected: (name, reason) for each day or file that was not accepted.
  """

  days: np.ndarray
  dates: np.ndarray
  rejected: list[tuple[str, str]]


def _clock(sample: int) -> str:
  """hh:mm:ss of a sample index of a day."""
  return str(datetime.timedelta(seconds=sample * GEOELECTRIC_INTERVAL_S)).zfill(8)


def _describe_gaps(missing: np.ndarray, line_of: np.ndarray, unit: str = "lines") -> str:
  """A sentence about the runs of missing samples of a day (first run in full)."""
  padded = np.concatenate([[False], missing, [False]]).astype(np.int8)
  starts = np.flatnonzero(np.diff(padded) == 1)
  stops = np.flatnonzero(np.diff(padded) == -1)
  a, b = int(starts[0]), int(stops[0])
  first = (
    f"samples {a}..{b - 1} ({_clock(a)}..{_clock(b - 1)}, {unit} "
    f"{line_of[a]}..{line_of[b - 1]}, {b - a} missing)"
  )
  more = ""
  if len(starts) > 1:
    more = f"; {len(starts) - 1} more gap(s), {int(missing.sum())} missing samples in all"
  return f"gap at {first}{more}; days with gaps are rejected, not patched"


def read_day_file(
  path: str | os.PathLike,
  missing_values: Sequence[float] = FILL_CODES,
  *,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> np.ndarray:
  """One day file: 8640 values (mV/km), one per line, "#" comments; (8640,) float64.

  Raises DataFormatError naming the file and line for an unreadable, infinite or implausible value
  or a wrong count, and DayGapError naming the gap ("nan", an empty line or a fill code) for a
  day with gaps.
  """
  path = pathlib.Path(path)
  values, lines = [], []
  for number, raw in enumerate(textio.read_lines(path), start=1):
    text = raw.strip()
    if text.startswith("#"):
      continue
    if not text:
      value = math.nan
    else:
      try:
        value = float(text)
      except ValueError:
        raise DataFormatError(
          path, number, f"expected one number (mV/km) per line, got {text[:40]!r}"
        ) from None
    values.append(value)
    lines.append(number)
  if len(values) != GEOELECTRIC_DAY_SAMPLES:
    raise DataFormatError(
      path,
      None,
      f"expected {GEOELECTRIC_DAY_SAMPLES} values (one day at 0.1 Hz), got {len(values)}",
    )
  day = ranges_lib.clean_values(
    values,
    "geoelectric_field",
    fill_codes=missing_values,
    path=path,
    lines=lines,
    fields="value",
    ranges=ranges,
  )
  missing = np.isnan(day)
  if missing.any():
    raise DayGapError(
      path, int(lines[int(np.argmax(missing))]), _describe_gaps(missing, np.asarray(lines))
    )
  return day


def write_day_file(path: str | os.PathLike, day: np.ndarray, comment: str | None = None) -> None:
  """Writes one day (8640,) in the format `read_day_file` reads (NaN written as "nan")."""
  day = np.asarray(day, dtype=np.float64)
  if day.shape != (GEOELECTRIC_DAY_SAMPLES,):
    raise ValueError(f"a day has shape ({GEOELECTRIC_DAY_SAMPLES},), got {day.shape}")
  with open(path, "w", encoding="utf-8") as f:
    if comment:
      f.writelines(f"# {line}\n" for line in comment.splitlines())
    np.savetxt(f, day, fmt="%.6f")


def load_day_directory(
  directory: str | os.PathLike,
  *,
  on_bad_day: str = "skip",
  missing_values: Sequence[float] = FILL_CODES,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> DayRecords:
  """All `YYYYMMDD.txt` (or `.txt.gz`) day files of a directory, in date order.

  on_bad_day: "skip" leaves out a day with gaps or a malformed file (listed in `rejected` with the
  reason); "raise" re-raises its error. Other *.txt names, and a second file of the same date
  (`19990101.txt` and `19990101.txt.gz`), are listed in `rejected`. Raises ValueError when no day
  is accepted.
  """
  if on_bad_day not in ("skip", "raise"):
    raise ValueError(f"on_bad_day must be 'skip' or 'raise', got {on_bad_day!r}")
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise FileNotFoundError(f"no directory {directory}")
  days, dates, rejected = [], [], []
  candidates = [p for p in sorted(directory.iterdir()) if textio.logical_name(p).endswith(".txt")]
  for path in candidates:
    match = DAY_FILE_NAME.match(textio.logical_name(path))
    if match is None:
      rejected.append((path.name, "name is not YYYYMMDD.txt"))
      continue
    try:
      date = np.datetime64("-".join(match.groups()), "D")
    except ValueError:
      rejected.append((path.name, "name is not a valid date"))
      continue
    if date in dates:
      rejected.append((path.name, f"a second file for {date}"))
      continue
    try:
      day = read_day_file(path, missing_values, ranges=ranges)
    except DataFormatError as e:
      if on_bad_day == "raise":
        raise
      rejected.append((path.name, str(e)))
      continue
    days.append(day)
    dates.append(date)
  if not days:
    reasons = "; ".join(f"{n}: {r}" for n, r in rejected[:5]) or "no *.txt files"
    raise ValueError(f"no usable day file in {directory} ({reasons})")
  return DayRecords(np.stack(days), np.array(dates, dtype="datetime64[D]"), rejected)


def days_from_timeseries(
  ts: ts_lib.TimeSeries, channel: str, utc_offset_hours: float = 0.0
) -> DayRecords:
  """Cuts a 10-s series into local days (00:00 local = UTC + offset); incomplete days rejected."""
  if ts.interval_seconds != GEOELECTRIC_INTERVAL_S:
    raise ValueError(
      f"need a {GEOELECTRIC_INTERVAL_S}-s series, got interval {ts.interval}; decimate first"
    )
  offset = np.timedelta64(int(round(utc_offset_hours * 3600)), "s")
  local = ts.times + offset
  values = ts.column(channel)
  dates = local.astype("datetime64[D]")
  days, kept, rejected = [], [], []
  for date in np.unique(dates):
    sel = dates == date
    start = int(np.argmax(sel))
    count = int(sel.sum())
    name = f"{date} ({channel})"
    expected_start = date.astype("datetime64[s]")
    if count != GEOELECTRIC_DAY_SAMPLES or local[start] != expected_start:
      rejected.append(
        (
          name,
          f"only {count} of {GEOELECTRIC_DAY_SAMPLES} samples, "
          f"{local[start]} .. {local[start + count - 1]} local time",
        )
      )
      continue
    day = values[start : start + count]
    missing = np.isnan(day)
    if missing.any():
      rejected.append(
        (name, _describe_gaps(missing, np.arange(start, start + count), unit="series indices"))
      )
      continue
    days.append(np.array(day))
    kept.append(date)
  days_array = np.stack(days) if days else np.zeros((0, GEOELECTRIC_DAY_SAMPLES))
  return DayRecords(days_array, np.array(kept, dtype="datetime64[D]"), rejected)


# ---------------------------------------------------------------------------------------------
# EarthDataLogger ASCII magnetotelluric records (10 Hz, one value per line, 5-minute files).
# ---------------------------------------------------------------------------------------------

EDL_FILE_NAME = re.compile(r"^(?P<station>.+)_(?P<stamp>\d{12})\.(?P<channel>[A-Z]{2})$")


@dataclasses.dataclass(frozen=True)
class EdlSegment:
  """A gap-free run of EDL files: (T, C) E field in mV/km from `start` (UTC) at `rate_hz`."""

  start: np.datetime64
  rate_hz: float
  values: np.ndarray
  channels: tuple[str, ...]
  source_files: tuple[str, ...]

  @property
  def end(self) -> np.datetime64:
    """Time just after the last sample."""
    return self.start + np.timedelta64(int(round(len(self.values) * 1000 / self.rate_hz)), "ms")


def _read_column(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  """One number per line ("#" comments and blank lines skipped): (values, their line numbers).

  DataFormatError names the first bad line, or an empty file.
  """
  numbered = [
    (number, text)
    for number, text in enumerate((t.strip() for t in textio.read_lines(path)), start=1)
    if text and not text.startswith("#")
  ]
  if not numbered:
    raise DataFormatError(path, None, "empty file, expected one number per line")
  lines = np.array([n for n, _ in numbered])
  texts = [t for _, t in numbered]
  try:
    return np.array(texts, dtype=np.float64), lines
  except ValueError:
    for number, text in numbered:
      try:
        float(text)
      except ValueError:
        raise DataFormatError(
          path, int(number), f"expected one number per line, got {text[:40]!r}"
        ) from None
    raise


def read_edl_ascii(
  directory: str | os.PathLike,
  channels: Sequence[str] = ("EX", "EY"),
  *,
  rate_hz: float = 10.0,
  dipole_length_m: float = 25.0,
  amplification: float = 10.0,
  gain: float = 1.0,
  ranges: ranges_lib.RangeOverrides | None = None,
) -> list[EdlSegment]:
  """EarthDataLogger ASCII E-field files of a directory as gap-free segments, in mV/km.

  Files are `STATION_YYMMDDhhmmss.CH` (or the same name with `.gz`), the time (UTC) of their
  first sample, one raw value per line in microvolts at the logger; the converted values must be
  plausible ("geoelectric_field", module docstring). E [mV/km = uV/m] = raw / (amplification *
  gain * dipole length in m), the conversion of MTpy's `EDL_e_field` (defaults: station BP02 of
  the MTpy examples, 25 m dipoles, pre-amplifier gain 10). A file that starts exactly where the
  previous one ends extends the segment; a later start opens a new segment (the gap between them
  is left as a gap); an earlier start (overlap), a missing channel or unequal lengths raise
  DataFormatError.
  """
  bad = [c for c in channels if not c.startswith("E")]
  if bad:
    raise ValueError(f"only electric channels (EX, EY) are converted; got {bad}")
  directory = pathlib.Path(directory)
  by_stamp: dict[str, dict[str, pathlib.Path]] = {}
  for path in directory.iterdir():
    match = EDL_FILE_NAME.match(textio.logical_name(path))
    if match and match["channel"] in channels:
      by_stamp.setdefault(match["stamp"], {})[match["channel"]] = path
  if not by_stamp:
    raise FileNotFoundError(
      f"no EDL files STATION_YYMMDDhhmmss.{{{','.join(channels)}}} in {directory}"
    )
  scale = 1.0 / (amplification * gain * dipole_length_m)
  segments: list[EdlSegment] = []
  for stamp in sorted(by_stamp):
    files = by_stamp[stamp]
    missing = [c for c in channels if c not in files]
    if missing:
      some = next(iter(files.values()))
      raise DataFormatError(some, None, f"no file for channel(s) {missing} at {stamp}")
    columns = []
    for c in channels:
      raw, lines = _read_column(files[c])
      if np.isnan(raw).any():
        raise DataFormatError(
          files[c],
          int(lines[np.argmax(np.isnan(raw))]),
          "NaN: EDL files have no missing-value code, expected one number per line",
        )
      columns.append(
        ranges_lib.clean_values(
          raw * scale,
          "geoelectric_field",
          path=files[c],
          lines=lines,
          fields=f"{c} (raw value x {scale:g})",
          ranges=ranges,
        )
      )
    lengths = {files[c].name: len(col) for c, col in zip(channels, columns, strict=True)}
    if len(set(lengths.values())) != 1:
      raise DataFormatError(files[channels[0]], None, f"channel files differ in length: {lengths}")
    start = np.datetime64(datetime.datetime.strptime(stamp, "%y%m%d%H%M%S"), "ms")
    block = np.stack(columns, axis=1)
    names = tuple(files[c].name for c in channels)
    if segments:
      prev = segments[-1]
      if start < prev.end:
        raise DataFormatError(
          files[channels[0]], None, f"starts at {start}, before the previous file ends ({prev.end})"
        )
      if start == prev.end:
        segments[-1] = dataclasses.replace(
          prev, values=np.concatenate([prev.values, block]), source_files=prev.source_files + names
        )
        continue
    segments.append(EdlSegment(start, rate_hz, block, tuple(channels), names))
  return segments


def rotate_horizontal(
  ex: np.ndarray, ey: np.ndarray, angle_deg: float
) -> tuple[np.ndarray, np.ndarray]:
  """Components in axes turned by angle_deg clockwise (east of north): e.g. magnetic -> true
  north with the declination; (T,), (T,) -> (T,), (T,)."""
  a = np.deg2rad(angle_deg)
  return np.cos(a) * ex + np.sin(a) * ey, -np.sin(a) * ex + np.cos(a) * ey


def decimate_segment(
  segment: EdlSegment, interval_s: int = GEOELECTRIC_INTERVAL_S
) -> ts_lib.TimeSeries | None:
  """Anti-alias filters and decimates a segment to one sample per interval_s, on whole-interval
  UTC times; None when the segment holds no such time.

  scipy.signal.resample_poly (a Kaiser-windowed linear-phase FIR, no delay; the ends padded
  with a fitted line, not zeros, so the electrode offset does not leak in). The output sample at
  time t is the filtered input sample at t exactly.
  """
  factor = interval_s * segment.rate_hz
  if abs(factor - round(factor)) > 1e-9:
    raise ValueError(
      f"interval {interval_s} s is not a whole number of {segment.rate_hz} Hz samples"
    )
  factor = int(round(factor))
  start_s = segment.start.astype("datetime64[s]")
  first = start_s if start_s == segment.start else start_s + np.timedelta64(1, "s")
  stamp = first.astype(np.int64)
  first = first + np.timedelta64(int(-stamp % interval_s), "s")
  skip = int(round((first - segment.start) / np.timedelta64(1, "ms") * segment.rate_hz / 1000))
  if skip >= len(segment.values):
    return None
  values = scipy.signal.resample_poly(segment.values[skip:], 1, factor, axis=0, padtype="line")
  times = first + np.arange(len(values)) * np.timedelta64(interval_s, "s")
  return ts_lib.TimeSeries(
    times, values, segment.channels, interval_s, {"source_files": list(segment.source_files)}
  )


def read_edl_timeseries(
  directory: str | os.PathLike,
  channels: Sequence[str] = ("EX", "EY"),
  *,
  interval_s: int = GEOELECTRIC_INTERVAL_S,
  declination_deg: float | None = None,
  **edl_kwargs,
) -> ts_lib.TimeSeries:
  """EDL E-field files of a directory as one 0.1 Hz (by default) TimeSeries in mV/km, NaN in gaps.

  Each gap-free segment is decimated on its own (`decimate_segment`); a segment too short to hold
  one output time is dropped and named in metadata["dropped_segments"]. With declination_deg and
  channels ("EX", "EY"), the pair is turned to geographic north (as MTpy's miniSEED files are).
  edl_kwargs: rate_hz, dipole_length_m, amplification, gain of `read_edl_ascii`.
  """
  segments = read_edl_ascii(directory, channels, **edl_kwargs)
  if declination_deg is not None:
    if tuple(channels) != ("EX", "EY"):
      raise ValueError(f"rotation needs channels ('EX', 'EY'), got {tuple(channels)}")
    segments = [
      dataclasses.replace(
        s,
        values=np.stack(rotate_horizontal(s.values[:, 0], s.values[:, 1], declination_deg), axis=1),
      )
      for s in segments
    ]
  decimated, dropped = [], []
  for segment in segments:
    out = decimate_segment(segment, interval_s)
    if out is None:
      dropped.append(
        f"{segment.start} ({len(segment.values)} samples, {', '.join(segment.source_files)})"
      )
    else:
      decimated.append(out)
  if not decimated:
    raise ValueError(f"no segment in {directory} is long enough for one {interval_s}-s sample")
  series = ts_lib.concatenate(decimated)
  return series.with_values(
    series.values,
    units="mV/km",
    dropped_segments=dropped,
    declination_deg=declination_deg,
    source_dir=str(directory),
  )

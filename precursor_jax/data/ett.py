"""The ETT (electricity transformer temperature) benchmark: reader, time features, paper splits,
windows.

Follows the data pipeline of the official Pyraformer code (`data_loader.py`, inherited from
Informer):

* the CSV (header `date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT`) is read whole; all 7 value columns are
  used;
* time features [hour/23 - 0.5, weekday/6 - 0.5 (Monday = 0), (day - 1)/30 - 0.5,
  (day of year - 1)/365 - 0.5], for the 15-minute files too (the official ETTm loader also uses the
  hourly features);
* the paper's split for hourly files: train rows [0, 8640) (12 months of 30 days), validation
  [8640 - L, 11520), test [11520 - L, 14400) (4 + 4 months), each later split starting L rows early
  so its first window's history reaches back into the previous split; 15-minute files use 4x these
  row numbers;
* a standard scaler (mean and population standard deviation, ddof 0) fitted on the training rows
  only and applied to every row; metrics are computed on this standardised scale;
* stride-1 windows: window i of a split has history rows [s + i, s + i + L) and future rows
  [s + i + L, s + i + L + H) of that split, so a split of R rows has R - L - H + 1 windows (8,305
  train, 2,713 validation and 2,713 test windows for ETTh1 168 -> 168).

Windows are NumPy views into one standardised table (numpy stride tricks), so no window is copied
until a batch is indexed: `make_splits(...)['train']['history'][indices]` gives a (batch, L, 7)
float32 array.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from precursor_jax.core import ranges as ranges_lib
from precursor_jax.core import textio
from precursor_jax.core.errors import DataFormatError

COLUMNS = ("date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
SPLITS = ("train", "val", "test")
# Paper borders for hourly data (rows); 12 months of 30 days, then 4 and 4 months.
HOURLY_BORDERS = (12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24)


def read_ett_csv(
  path: str | os.PathLike, *, ranges: ranges_lib.RangeOverrides | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
  """Reads an ETT CSV: (timestamps (T,) datetime64[s], values (T, 7) float64, value column names).

  The file may be gzip-compressed, carry a UTF-8 BOM or CRLF line ends (core/textio.py).
  Raises FileNotFoundError naming the file if it is missing, and DataFormatError naming the file and
  line for a wrong header, a row with the wrong number of fields, an empty (missing) or NaN value,
  an unparsable number or date, an inf or implausible value (core/ranges.py "ett_value";
  `ranges=` overrides), or timestamps that are not strictly increasing at a constant step.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"ETT file not found: {path} (expected a CSV such as ETTh1.csv from "
      "github.com/zhouhaoyi/ETDataset, folder ETT-small)"
    )
  rows = list(csv.reader(io.StringIO(textio.read_text(path))))
  if not rows:
    raise DataFormatError(path, 1, f"empty file; expected the header {','.join(COLUMNS)}")
  header = tuple(field.strip() for field in rows[0])
  if header != COLUMNS:
    raise DataFormatError(
      path, 1, f"expected the header {','.join(COLUMNS)}, got {','.join(header)}"
    )
  dates, values = [], []
  for line, row in enumerate(rows[1:], start=2):
    if len(row) != len(COLUMNS):
      raise DataFormatError(
        path, line, f"expected {len(COLUMNS)} comma-separated fields, got {len(row)}"
      )
    for column, field in zip(COLUMNS, row, strict=True):
      if not field.strip():
        raise DataFormatError(
          path, line, f"missing value in column {column!r} (ETT files have no gaps)"
        )
    try:
      dates.append(np.datetime64(row[0].strip(), "s"))
    except ValueError:
      raise DataFormatError(
        path, line, f"expected a date like 2016-07-01 00:00:00, got {row[0]!r}"
      ) from None
    try:
      values.append([float(field) for field in row[1:]])
    except ValueError:
      raise DataFormatError(
        path, line, f"expected numbers in columns {','.join(COLUMNS[1:])}, got {','.join(row[1:])}"
      ) from None
  if not dates:
    raise DataFormatError(path, 2, "no data rows after the header")
  timestamps = np.array(dates, dtype="datetime64[s]")
  values = np.asarray(values, dtype=np.float64)
  if np.isnan(values).any():
    line = 2 + int(np.argwhere(np.isnan(values))[0, 0])
    raise DataFormatError(path, line, "non-finite value nan (ETT files have no gaps)")
  ranges_lib.check_values(
    values,
    "ett_value",
    path=path,
    lines=np.arange(2, 2 + len(values)),
    fields=COLUMNS[1:],
    ranges=ranges,
  )
  steps = np.diff(timestamps).astype(np.int64)
  if len(steps) and (steps[0] <= 0 or np.any(steps != steps[0])):
    bad = 0 if steps[0] <= 0 else int(np.argmax(steps != steps[0]))
    raise DataFormatError(
      path,
      bad + 3,
      f"timestamps must increase by a constant step of {steps[0]} s; "
      f"{timestamps[bad]} is followed by {timestamps[bad + 1]}",
    )
  return timestamps, values, COLUMNS[1:]


def time_features(timestamps: np.ndarray) -> np.ndarray:
  """(T, 4) float32 official features in [-0.5, 0.5]: hour, weekday, day of month, day of year."""
  timestamps = np.asarray(timestamps, dtype="datetime64[s]")
  days = timestamps.astype("datetime64[D]")
  hour = (timestamps - days).astype("timedelta64[h]").astype(np.int64)
  weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
  day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
  day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1
  return np.stack(
    [
      hour / 23.0 - 0.5,
      weekday / 6.0 - 0.5,
      (day_of_month - 1) / 30.0 - 0.5,
      (day_of_year - 1) / 365.0 - 0.5,
    ],
    axis=-1,
  ).astype(np.float32)


def paper_borders(steps_per_hour: int) -> tuple[int, int, int]:
  """End rows of train, val and test in the paper's split (hourly borders x steps_per_hour)."""
  return tuple(border * steps_per_hour for border in HOURLY_BORDERS)


def split_ranges(borders: Sequence[int], history: int) -> dict[str, tuple[int, int]]:
  """Row range [start, end) of each split; val and test start `history` rows before their border."""
  train_end, val_end, test_end = borders
  return {
    "train": (0, train_end),
    "val": (train_end - history, val_end),
    "test": (val_end - history, test_end),
  }


def fit_scaler(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-column mean and population standard deviation (ddof 0) of `values` (rows, columns)."""
  mean = values.mean(axis=0)
  std = values.std(axis=0)
  if np.any(std == 0):
    raise ValueError(
      f"constant column(s) {np.flatnonzero(std == 0).tolist()} in the training rows: "
      "cannot standardise"
    )
  return mean, std


def windows(array: np.ndarray, start: int, count: int, length: int) -> np.ndarray:
  """(count, length, ...) read-only view: window i = array[start + i : start + i + length]."""
  view = np.lib.stride_tricks.sliding_window_view(
    array[start : start + count + length - 1], length, axis=0
  )
  return np.moveaxis(view, -1, 1)  # sliding_window_view puts the window axis last


def make_splits(
  path: str | os.PathLike,
  history: int,
  horizon: int,
  *,
  borders: Sequence[int] | None = None,
  return_scaler: bool = False,
):
  """Standardised stride-1 windows of each split of an ETT file.

  Args:
    path: ETTh1.csv, ETTh2.csv, ETTm1.csv or ETTm2.csv (or a file of the same format).
    history: L, the history length of every window.
    horizon: H, the forecast length.
    borders: end rows of (train, val, test); default the paper's split, scaled by the sampling
      rate read from the timestamps (1 hour -> x1, 15 minutes -> x4).
    return_scaler: also return the scaler (mean (7,), std (7,)) fitted on the training rows.

  Returns:
    {'train' | 'val' | 'test': {'history' (n, L, 7), 'history_time' (n, L, 4), 'future' (n, H, 7),
    'future_time' (n, H, 4)}}: float32 read-only views (no copies), values standardised with the
    scaler fitted on the training rows; with return_scaler, (splits, (mean, std)), and
    x * std + mean undoes the scaling. Every array of a split has the same first dimension n, so a
    batch is {name: array[indices] for name, array in split.items()}.
  """
  if history < 1 or horizon < 1:
    raise ValueError(f"history and horizon must be positive, got {history} and {horizon}")
  timestamps, values, _ = read_ett_csv(path)
  if borders is None:
    step_seconds = (
      int((timestamps[1] - timestamps[0]).astype(np.int64)) if len(timestamps) > 1 else 0
    )
    if step_seconds <= 0 or 3600 % step_seconds:
      raise DataFormatError(
        path,
        None,
        f"cannot infer the paper's split from a {step_seconds} s step; "
        "pass borders=(train_end, val_end, test_end)",
      )
    borders = paper_borders(3600 // step_seconds)
  borders = tuple(int(b) for b in borders)
  if len(borders) != 3 or not 0 < borders[0] < borders[1] < borders[2]:
    raise ValueError(f"borders must be 3 increasing positive row numbers, got {borders}")
  if borders[2] > len(values):
    raise DataFormatError(
      path,
      None,
      f"the split needs {borders[2]} rows but the file has {len(values)}; "
      "pass smaller borders=(train_end, val_end, test_end)",
    )
  mean, std = fit_scaler(values[: borders[0]])
  table = ((values - mean) / std).astype(np.float32)
  features = time_features(timestamps)
  splits = {}
  for name, (start, end) in split_ranges(borders, history).items():
    if start < 0:
      raise ValueError(
        f"history {history} is longer than the training rows ({borders[0]}), so the "
        f"{name} split cannot start {history} rows before its border"
      )
    count = end - start - history - horizon + 1
    if count < 1:
      raise ValueError(
        f"the {name} split (rows [{start}, {end})) is too short for one window of "
        f"history {history} + horizon {horizon}"
      )
    splits[name] = {
      "history": windows(table, start, count, history),
      "history_time": windows(features, start, count, history),
      "future": windows(table, start + history, count, horizon),
      "future_time": windows(features, start + history, count, horizon),
    }
  if return_scaler:
    return splits, (mean.astype(np.float32), std.astype(np.float32))
  return splits

"""Errors raised by the real-data readers and the time-series helpers."""

from __future__ import annotations

import os


class DataFormatError(ValueError):
  """A file (or an in-memory sample) that does not have the expected form.

  The message names the file, the 1-based line number (when there is one) and what was expected,
  e.g. "BOU201601vmin.min line 27: expected 'DATE TIME DOY' followed by 4 values, got '...'".
  """

  def __init__(self, path: str | os.PathLike | None, line: int | None, message: str):
    self.path = None if path is None else os.fspath(path)
    self.line = line
    self.reason = message
    where = [self.path] if self.path is not None else []
    if line is not None:
      where.append(f"line {line}")
    prefix = " ".join(where)
    super().__init__(f"{prefix}: {message}" if prefix else message)


class GapTooLongError(ValueError):
  """A gap longer than the caller allowed to fill."""

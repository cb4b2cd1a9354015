"""Alarm functions from detect's daily outputs: one number a day, known at the end of that day.

From a station's daily verdicts (anomalous and usable flags per judged day, tasks/detect):

  trailing_count   the number of anomalous usable days among the `window_days` days ending with
                   day d (d included): a rising rate of anomalous days raises it;
  count_increase   the count of the last window_days / 2 days minus that of the window_days / 2
                   before them: the acceleration of the cumulative curve, which a steady rate
                   does not raise.

Both are NaN where fewer than `min_usable_fraction` of the window's days are usable (a storm,
an artefact, a gap): an unknown function cannot trigger an alarm (anomaly/molchan.py). Nothing
after day d enters f(d); an alarm triggered by f(d) covers the FOLLOWING days only.
"""

from __future__ import annotations

import numpy as np

FUNCTIONS = ("trailing_count", "count_increase")


def _trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
  """Sum over the `window` days ending with each day (shorter at the start: NaN there)."""
  cumulative = np.concatenate([[0.0], np.cumsum(values)])
  out = np.full(len(values), np.nan)
  out[window - 1 :] = cumulative[window:] - cumulative[:-window]
  return out


def alarm_function(anomalous, usable, function: str, window_days: int, min_usable_fraction: float):
  """(D,) alarm function of (D,) day flags (module doc)."""
  if function not in FUNCTIONS:
    raise ValueError(f"config.alarm.function={function!r}: expected one of {', '.join(FUNCTIONS)}")
  if window_days < 2:
    raise ValueError(f"config.alarm.window_days={window_days}: expected at least 2 days")
  anomalous = np.asarray(anomalous, bool) & np.asarray(usable, bool)
  usable = np.asarray(usable, float)
  counts = anomalous.astype(float)
  if function == "trailing_count":
    value = _trailing_sum(counts, window_days)
    known = _trailing_sum(usable, window_days) >= min_usable_fraction * window_days
    return np.where(known, value, np.nan)
  half = window_days // 2
  recent, earlier = _trailing_sum(counts, half), np.roll(_trailing_sum(counts, half), half)
  earlier[:half] = np.nan
  known_recent = _trailing_sum(usable, half) >= min_usable_fraction * half
  known_earlier = np.roll(known_recent, half)
  known_earlier[:half] = False
  return np.where(known_recent & known_earlier, recent - earlier, np.nan)

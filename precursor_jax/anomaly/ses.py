"""Reading an SES interval from a network output, and the SES paper's scoring (Xue et al. 2022, eq. 2-4).

Interval rule (`extract_ses_interval`), applied to the network's cleaned day:
  1. Baseline: the day is cut into blocks of `block` samples (default 30 = 5 min); each block's median is
     taken; a robust running level over `window_blocks` blocks (default 25 = ~2 h, longer than twice the
     longest SES we train on) follows them (median after removing the local median slope, so ramps are
     followed to the day's edges; see `_running_line_median`), and is held constant over each block.
     Medians make it blind to a rectangle shorter than half the window: about an hour with the defaults.
  2. Residual r = day - baseline, smoothed with a centred moving average of `smooth` samples (default 5).
  3. The peak |r| gives the SES polarity and amplitude estimate a; the SES is the contiguous run of samples
     around the peak where polarity * r > `level` * a (default level 0.5: the half-amplitude crossing, which
     for a rectangle is its edges).
Returns start (first sample inside) and end (first sample after), both in samples, so duration = end - start.

Scoring (paper eq. 3 and the text of section IV-B): with true start ST_S, end ET_S and duration tau,
  success      |ST_N - ST_S| < tau/2 and |ET_N - ET_S| < tau/2,
  near success both differences < tau (but not a success),
  failure      otherwise.
(Eq. 3 prints signed differences; the absolute value is what the paper's examples and text mean.)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

SUCCESS, NEAR_SUCCESS, FAILURE = 0, 1, 2
CATEGORY_NAMES = ("success", "near_success", "failure")


class SesInterval(NamedTuple):
  start: jax.Array      # (B,) int32, first sample of the SES
  end: jax.Array        # (B,) int32, first sample after the SES
  amplitude: jax.Array  # (B,) float, signed amplitude estimate in the units of the day


def _running_line_median(values: jax.Array, window: int) -> jax.Array:
  """Robust local level along the last axis: in each window of `window` values, the median of the values
  after removing the window's median first-difference slope, evaluated at the window's point.

  Windows are centred except near the ends, where they slide inward to stay whole; removing the local slope
  lets the level follow a trend to the very edge (a flat median there would lag behind a diurnal ramp).
  Medians ignore an SES that fills less than half of a window.
  """
  length = values.shape[-1]
  window = min(window, length)
  first = jnp.clip(jnp.arange(length) - window // 2, 0, length - window)
  index = first[:, None] + jnp.arange(window)[None, :]                        # (length, window)
  offset = (index - jnp.arange(length)[:, None]).astype(values.dtype)          # position in the window
  steps = jnp.diff(values, axis=-1)
  slope = jnp.median(steps[..., jnp.minimum(index[:, :-1], length - 2)], axis=-1)  # (..., length)
  windows = values[..., index]
  return jnp.median(windows - slope[..., None] * jnp.broadcast_to(offset, windows.shape), axis=-1)


def _moving_average(values: jax.Array, window: int) -> jax.Array:
  """Centred moving average along the last axis (edges averaged over the samples that exist)."""
  if window <= 1:
    return values
  kernel = jnp.ones((window,), values.dtype)
  smooth = lambda row: jnp.convolve(row, kernel, mode="same")
  counts = jnp.convolve(jnp.ones(values.shape[-1], values.dtype), kernel, mode="same")
  flat = values.reshape(-1, values.shape[-1])
  return (jax.vmap(smooth)(flat) / counts[None, :]).reshape(values.shape)


def block_baseline(days: jax.Array, block: int = 30, window_blocks: int = 25) -> jax.Array:
  """The slowly varying part of (..., N) days: running median of block medians, held per block."""
  num_samples = days.shape[-1]
  if num_samples % block:
    raise ValueError(f"day length {num_samples} is not a multiple of block={block}")
  if window_blocks % 2 == 0:
    raise ValueError(f"window_blocks must be odd, got {window_blocks}")
  blocks = days.reshape(*days.shape[:-1], num_samples // block, block)
  smoothed = _running_line_median(jnp.median(blocks, axis=-1), window_blocks)
  return jnp.repeat(smoothed, block, axis=-1)


def extract_ses_interval(days: jax.Array, *, block: int = 30, window_blocks: int = 25, smooth: int = 5,
                         level: float = 0.5) -> SesInterval:
  """The SES interval of each cleaned day (B, N) by the rule in the module docstring (jittable)."""
  residual = _moving_average(days - block_baseline(days, block, window_blocks), smooth)
  peak = jnp.argmax(jnp.abs(residual), axis=-1)
  amplitude = jnp.take_along_axis(residual, peak[..., None], axis=-1)[..., 0]
  above = jnp.sign(amplitude)[..., None] * residual > level * jnp.abs(amplitude)[..., None]
  index = jnp.broadcast_to(jnp.arange(days.shape[-1]), days.shape)
  before = (~above) & (index < peak[..., None])
  after = (~above) & (index > peak[..., None])
  start = jnp.max(jnp.where(before, index, -1), axis=-1) + 1
  end = jnp.min(jnp.where(after, index, days.shape[-1]), axis=-1)
  return SesInterval(start.astype(jnp.int32), end.astype(jnp.int32), amplitude)


def score_detections(pred_start, pred_end, true_start, true_duration):
  """Category per example (SUCCESS, NEAR_SUCCESS, FAILURE) by the paper's rule; works on numpy or jax."""
  xp = jnp if isinstance(pred_start, jax.Array) else np
  true_end = true_start + true_duration
  start_error = xp.abs(pred_start - true_start)
  end_error = xp.abs(pred_end - true_end)
  success = (2 * start_error < true_duration) & (2 * end_error < true_duration)
  near = (start_error < true_duration) & (end_error < true_duration)
  return xp.where(success, SUCCESS, xp.where(near, NEAR_SUCCESS, FAILURE))


def category_rates(categories: np.ndarray) -> dict[str, float]:
  """Fractions of success / near success / failure (and the count)."""
  categories = np.asarray(categories)
  total = max(categories.size, 1)
  rates = {name: float(np.sum(categories == code)) / total for code, name in enumerate(CATEGORY_NAMES)}
  rates["count"] = int(categories.size)
  return rates


def embed_anomaly(days: np.ndarray, anomaly: np.ndarray, start_samples: np.ndarray) -> np.ndarray:
  """Adds a cut anomaly (L,) to each day (B, N) starting at start_samples (B,): the paper's Table I protocol.

  The anomaly should be the departure from its own day's background (e.g. the cut segment minus a line
  through its end points), so that embedding it adds the anomaly and not the other day's level.
  """
  days = np.array(days, dtype=np.float64, copy=True)
  anomaly = np.asarray(anomaly, dtype=np.float64)
  start_samples = np.broadcast_to(np.asarray(start_samples), days.shape[:1])
  if np.any(start_samples < 0) or np.any(start_samples + anomaly.size > days.shape[-1]):
    raise ValueError(f"an anomaly of {anomaly.size} samples starting at {start_samples.tolist()} does not "
                     f"fit in a day of {days.shape[-1]} samples")
  for row, start in enumerate(start_samples):
    days[row, start:start + anomaly.size] += anomaly
  return days


def anomaly_departure(segment: np.ndarray, margin: int) -> np.ndarray:
  """The anomaly inside `segment` relative to its own background: the straight line through the means of
  its first and last `margin` samples, each placed at the centre of its margin."""
  segment = np.asarray(segment, dtype=np.float64)
  if 2 * margin >= segment.size:
    raise ValueError(f"margin={margin} leaves nothing of a {segment.size}-sample segment")
  left, right = segment[:margin].mean(), segment[-margin:].mean()
  left_at, right_at = (margin - 1) / 2, segment.size - 1 - (margin - 1) / 2
  position = np.arange(segment.size)
  return segment - (left + (right - left) * (position - left_at) / (right_at - left_at))

"""Reading an SES interval from a network output, and the SES paper's scoring (Xue et al. 2022, eq. 2-4).

Interval rule (`extract_ses_interval`), applied to the network's cleaned day:
  1. Baseline: the day is cut into blocks of `block` samples (default 30 = 5 min); each block's median is
     taken, a running median over `window_blocks` blocks (default 25 = ~2 h, longer than twice the longest
     SES we train on, so the SES cannot pull the baseline) smooths those, and the result is held constant over
     each block (near the day's ends the window is truncated). Medians make it blind to a rectangle that
     covers less than half the window.
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


def _running_median(values: jax.Array, window: int) -> jax.Array:
  """Centred running median along the last axis; near the ends the window is truncated to what exists
  (padding with repeated edge values would let an SES at the day's end pull the baseline)."""
  half = window // 2
  pad = jnp.full((*values.shape[:-1], half), jnp.nan, values.dtype)
  padded = jnp.concatenate([pad, values, pad], axis=-1)
  index = jnp.arange(values.shape[-1])[:, None] + jnp.arange(window)[None, :]
  return jnp.nanmedian(padded[..., index], axis=-1)


def _moving_average(values: jax.Array, window: int) -> jax.Array:
  """Centred moving average along the last axis (edges averaged over the samples that exist)."""
  if window <= 1:
    return values
  kernel = jnp.ones((window,), values.dtype)
  smooth = lambda row: jnp.convolve(row, kernel, mode="same")
  counts = jnp.convolve(jnp.ones(values.shape[-1], values.dtype), kernel, mode="same")
  flat = values.reshape(-1, values.shape[-1])
  return (jax.vmap(smooth)(flat) / counts).reshape(values.shape)


def block_baseline(days: jax.Array, block: int = 30, window_blocks: int = 25) -> jax.Array:
  """The slowly varying part of (..., N) days: running median of block medians, held per block."""
  num_samples = days.shape[-1]
  if num_samples % block:
    raise ValueError(f"day length {num_samples} is not a multiple of block={block}")
  if window_blocks % 2 == 0:
    raise ValueError(f"window_blocks must be odd, got {window_blocks}")
  blocks = days.reshape(*days.shape[:-1], num_samples // block, block)
  smoothed = _running_median(jnp.median(blocks, axis=-1), window_blocks)
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
  """The anomaly inside `segment` relative to the straight line through the means of its first and last
  `margin` samples (its own background)."""
  segment = np.asarray(segment, dtype=np.float64)
  if 2 * margin >= segment.size:
    raise ValueError(f"margin={margin} leaves nothing of a {segment.size}-sample segment")
  left, right = segment[:margin].mean(), segment[-margin:].mean()
  line = np.linspace(left, right, segment.size)
  return segment - line

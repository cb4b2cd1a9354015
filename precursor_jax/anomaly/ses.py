"""Reading an SES interval from a network output, and the SES paper's scoring (Xue et al. 2022, eq. 2-4).

Interval rule (`extract_ses_interval`), applied to the network's cleaned day:
  1. Baseline: the day is cut into blocks of `block` samples (default 30 = 5 min) and each block's mean is
     taken. A first level is a wide local line (over 3 x `window_blocks` blocks, ~6 h) plus the mean of the
     remainder over the `window_blocks` blocks around each block (default 25 = ~2 h; near the day's ends
     the window slides inward and stays whole, so an SES at midnight remains a minority of it). The blocks of the strongest departure from that level (the run around the largest |departure|
     that stays above 0.3 of it, plus one block each side: the SES) are left out, and a straight line is
     fitted by least squares to the remaining block means in a window of `window_blocks` blocks around each
     block (clipped at the day's ends, where the line extrapolates the local trend): that line, held
     constant over each block, is the baseline. Only sums and
     convolutions are used (no sorting), so it is cheap on every accelerator and on CPU.
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

from precursor_jax.signal.ica import fastica

SUCCESS, NEAR_SUCCESS, FAILURE = 0, 1, 2
CATEGORY_NAMES = ("success", "near_success", "failure")


class SesInterval(NamedTuple):
  start: jax.Array  # (B,) int32, first sample of the SES
  end: jax.Array  # (B,) int32, first sample after the SES
  amplitude: jax.Array  # (B,) float, signed amplitude estimate in the units of the day


def _box_sum(values: jax.Array, half: int) -> jax.Array:
  """Sum over the window [j - half, j + half] clipped to the array, for every j, along the last axis."""
  length = values.shape[-1]
  padded = jnp.concatenate([jnp.zeros_like(values[..., :1]), jnp.cumsum(values, axis=-1)], axis=-1)
  index = jnp.arange(length)
  return (
    padded[..., jnp.minimum(index + half + 1, length)] - padded[..., jnp.maximum(index - half, 0)]
  )


def _moving_average(values: jax.Array, window: int) -> jax.Array:
  """Centred moving average along the last axis (edges averaged over the samples that exist)."""
  if window <= 1:
    return values
  return _box_sum(values, window // 2) / _box_sum(jnp.ones_like(values), window // 2)


def _local_line(values: jax.Array, weights: jax.Array, half: int) -> jax.Array:
  """Weighted least-squares line over each window [j - half, j + half] (clipped), evaluated at j.

  Built from box sums of w, w t, w t^2, w y and w t y (no sorting); a window with fewer than two weighted
  points falls back to its weighted mean.
  """
  t = jnp.broadcast_to(jnp.arange(values.shape[-1], dtype=values.dtype), values.shape)
  s0, s1, s2 = (_box_sum(weights * t**k, half) for k in range(3))
  sy, sty = _box_sum(weights * values, half), _box_sum(weights * t * values, half)
  su, suu, suy = s1 - t * s0, s2 - 2 * t * s1 + t * t * s0, sty - t * sy  # moments about j
  determinant = s0 * suu - su * su
  safe = lambda d: jnp.where(d > 1e-6, d, 1.0)
  line = (suu * sy - su * suy) / safe(determinant)
  mean = sy / safe(s0)
  return jnp.where(determinant > 1e-6 * jnp.maximum(s0 * suu, 1e-6), line, mean)


def _sliding_mean(values: jax.Array, window: int) -> jax.Array:
  """Mean over `window` values around each j along the last axis: centred, except near the ends, where
  the window slides inward to stay whole (so a rectangle at midnight stays a minority of it)."""
  length = values.shape[-1]
  window = min(window, length)
  padded = jnp.concatenate([jnp.zeros_like(values[..., :1]), jnp.cumsum(values, axis=-1)], axis=-1)
  start = jnp.clip(jnp.arange(length) - window // 2, 0, length - window)
  return (padded[..., start + window] - padded[..., start]) / window


def _run_around(mask: jax.Array, peak: jax.Array) -> tuple[jax.Array, jax.Array]:
  """[start, end) of the run of True in `mask` (..., n) that contains index `peak` (...,)."""
  index = jnp.broadcast_to(jnp.arange(mask.shape[-1]), mask.shape)
  start = jnp.max(jnp.where(~mask & (index < peak[..., None]), index, -1), axis=-1) + 1
  end = jnp.min(jnp.where(~mask & (index > peak[..., None]), index, mask.shape[-1]), axis=-1)
  return start, end


def block_baseline(days: jax.Array, block: int = 30, window_blocks: int = 25) -> jax.Array:
  """The slowly varying part of (..., N) days, blind to one rectangle: see the module docstring, step 1."""
  num_samples = days.shape[-1]
  if num_samples % block:
    raise ValueError(f"day length {num_samples} is not a multiple of block={block}")
  if window_blocks % 2 == 0:
    raise ValueError(f"window_blocks must be odd, got {window_blocks}")
  half = window_blocks // 2
  means = jnp.mean(days.reshape(*days.shape[:-1], num_samples // block, block), axis=-1)
  # First pass: remove a wide (3 windows, ~6 h) local line, which an SES of under an hour barely pulls,
  # then the sliding mean of what is left; the largest departure from that is the SES.
  detrended = means - _local_line(means, jnp.ones_like(means), 3 * half)
  departure = detrended - _sliding_mean(detrended, window_blocks)
  peak = jnp.argmax(jnp.abs(departure), axis=-1)
  peak_value = jnp.take_along_axis(departure, peak[..., None], axis=-1)
  start, end = _run_around(jnp.sign(peak_value) * departure > 0.3 * jnp.abs(peak_value), peak)
  index = jnp.broadcast_to(jnp.arange(means.shape[-1]), means.shape)
  excluded = (index >= start[..., None] - 1) & (
    index < end[..., None] + 1
  )  # one block margin: edges
  second = _local_line(means, jnp.where(excluded, 0.0, 1.0).astype(means.dtype), half)
  return jnp.repeat(second, block, axis=-1)


def extract_ses_interval(
  days: jax.Array, *, block: int = 30, window_blocks: int = 25, smooth: int = 5, level: float = 0.5
) -> SesInterval:
  """The SES interval of each cleaned day (B, N) by the rule in the module docstring (jittable)."""
  residual = _moving_average(days - block_baseline(days, block, window_blocks), smooth)
  peak = jnp.argmax(jnp.abs(residual), axis=-1)
  amplitude = jnp.take_along_axis(residual, peak[..., None], axis=-1)[..., 0]
  above = jnp.sign(amplitude)[..., None] * residual > level * jnp.abs(amplitude)[..., None]
  start, end = _run_around(above, peak)
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
  rates = {
    name: float(np.sum(categories == code)) / total for code, name in enumerate(CATEGORY_NAMES)
  }
  rates["count"] = int(categories.size)
  return rates


def embed_anomaly(days: np.ndarray, anomaly: np.ndarray, start_samples: np.ndarray) -> np.ndarray:
  """Adds a cut anomaly (L,) to each day (B, N) starting at start_samples (B,): the paper's Table I protocol.

  The anomaly should be the departure from its own day's background
  (`precursor_jax.synthetic.ses.cut_anomaly`), so that embedding it adds the anomaly and not the
  other day's level.
  """
  days = np.array(days, dtype=np.float64, copy=True)
  anomaly = np.asarray(anomaly, dtype=np.float64)
  start_samples = np.broadcast_to(np.asarray(start_samples), days.shape[:1])
  if np.any(start_samples < 0) or np.any(start_samples + anomaly.size > days.shape[-1]):
    raise ValueError(
      f"an anomaly of {anomaly.size} samples starting at {start_samples.tolist()} does not "
      f"fit in a day of {days.shape[-1]} samples"
    )
  for row, start in enumerate(start_samples):
    days[row, start : start + anomaly.size] += anomaly
  return days


def detect_with_fastica(days: jax.Array, key: jax.Array, **extract_kwargs) -> SesInterval:
  """The SES interval of one multi-dipole day (D, N) by FastICA (the classical baseline; vmap over days).

  The dipoles are separated into D unit-variance independent components; the interval rule runs on each,
  and the component whose rectangle carries the largest share of its energy (amplitude^2 x duration / N)
  is taken as the SES. The amplitude is returned in dipole 0's units (through the mixing matrix).
  """
  separated = fastica(days, key)
  intervals = extract_ses_interval(separated.sources, **extract_kwargs)
  share = jnp.square(intervals.amplitude) * (intervals.end - intervals.start) / days.shape[-1]
  best = jnp.argmax(share)
  return SesInterval(
    intervals.start[best],
    intervals.end[best],
    separated.mixing[0, best] * intervals.amplitude[best],
  )

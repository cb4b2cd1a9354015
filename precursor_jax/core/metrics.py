"""Forecast error metrics: one definition each, as jax.numpy functions.

All take y_true and y_pred of the same shape and an optional `weights` array broadcastable to it
(e.g. a 0/1 mask of valid points, or the validity of padded evaluation batches); every metric is a
weighted mean over all elements, sum(w * e) / sum(w). Points with zero weight never influence the
result. With no weight left the result is NaN (nothing was measured), never 0.

  mse   = mean((y - yhat)^2)
  mae   = mean(|y - yhat|)
  rmse  = sqrt(mse)
  smape = 100 * mean(2 |y - yhat| / (|y| + |yhat|))          in [0, 200]
          A point with y = yhat = 0 counts as a perfect prediction (term 0): its 0/0 is defined as
          0.
  rmspe = 100 * sqrt(mean(((y - yhat) / y)^2))
          Points with y = 0 have no defined percentage error and are left out of the mean (their
          weight is set to 0); `rmspe_count` says how many points were used.

The seed papers report MSE, MAE, RMSE and sMAPE (VMD-Pyraformer, Table 2) and RMSPE (SES detection).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _weights(y_true: Array, y_pred: Array, weights: Array | None) -> Array:
  """Weights broadcast to the data shape (all ones when None); checks shapes."""
  if jnp.shape(y_true) != jnp.shape(y_pred):
    raise ValueError(
      f"y_true and y_pred must have the same shape, got {jnp.shape(y_true)} and {jnp.shape(y_pred)}"
    )
  if weights is None:
    return jnp.ones(jnp.shape(y_true), jnp.result_type(y_true, y_pred, jnp.float32))
  weights = jnp.asarray(weights, jnp.result_type(y_true, y_pred, jnp.float32))
  try:
    return jnp.broadcast_to(weights, jnp.shape(y_true))
  except ValueError:
    raise ValueError(
      f"weights of shape {jnp.shape(weights)} do not broadcast to {jnp.shape(y_true)}"
    ) from None


def _weighted_mean(values: Array, weights: Array) -> Array:
  """sum(w * v) / sum(w); NaN when the weights sum to 0. Zero-weight NaN/inf values are ignored."""
  total = jnp.sum(jnp.where(weights != 0, weights * values, 0.0))
  count = jnp.sum(weights)
  return jnp.where(count > 0, total / jnp.where(count > 0, count, 1.0), jnp.nan)


def mse(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """Mean squared error."""
  w = _weights(y_true, y_pred, weights)
  return _weighted_mean(jnp.square(y_true - y_pred), w)


def mae(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """Mean absolute error."""
  w = _weights(y_true, y_pred, weights)
  return _weighted_mean(jnp.abs(y_true - y_pred), w)


def rmse(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """Root mean squared error."""
  return jnp.sqrt(mse(y_true, y_pred, weights))


def smape(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """Symmetric MAPE in percent, 100 * mean(2|y - yhat| / (|y| + |yhat|)); 0/0 counts as 0."""
  w = _weights(y_true, y_pred, weights)
  return 100.0 * _weighted_mean(_smape_terms(y_true, y_pred), w)


def _smape_terms(y_true: Array, y_pred: Array) -> Array:
  """2|y - yhat| / (|y| + |yhat|) per point, 0 where both are 0."""
  denominator = jnp.abs(y_true) + jnp.abs(y_pred)
  both_zero = denominator == 0
  return jnp.where(
    both_zero, 0.0, 2.0 * jnp.abs(y_true - y_pred) / jnp.where(both_zero, 1.0, denominator)
  )


def _rmspe_weights(y_true: Array, y_pred: Array, weights: Array | None) -> Array:
  return jnp.where(y_true == 0, 0.0, _weights(y_true, y_pred, weights))


def rmspe(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """RMS percentage error in percent; points with y = 0 are left out (NaN if none left)."""
  w = _rmspe_weights(y_true, y_pred, weights)
  safe = jnp.where(y_true == 0, 1.0, y_true)
  return 100.0 * jnp.sqrt(_weighted_mean(jnp.square((y_true - y_pred) / safe), w))


def rmspe_count(y_true: Array, y_pred: Array, weights: Array | None = None) -> Array:
  """Total weight rmspe used (the number of points with y != 0 when unweighted)."""
  return jnp.sum(_rmspe_weights(y_true, y_pred, weights))


def forecast_metrics(
  y_true: Array, y_pred: Array, weights: Array | None = None
) -> dict[str, Array]:
  """The seed paper's Table 2 metrics: {'mse', 'mae', 'rmse', 'smape'}."""
  return {
    "mse": mse(y_true, y_pred, weights),
    "mae": mae(y_true, y_pred, weights),
    "rmse": rmse(y_true, y_pred, weights),
    "smape": smape(y_true, y_pred, weights),
  }


def metric_totals(y_true: Array, y_pred: Array, weights: Array | None = None) -> dict[str, Array]:
  """Weighted sums behind `forecast_metrics`, to add up over evaluation batches.

  Sum the dicts of all batches (e.g. jax.tree.map(jnp.add, a, b)) and pass the result to
  `metrics_from_totals`: the metrics of the whole set, identical to `forecast_metrics` on the
  concatenation.
  """
  w = _weights(y_true, y_pred, weights)
  error = y_true - y_pred
  weighted_sum = lambda values: jnp.sum(jnp.where(w != 0, w * values, 0.0))
  return {
    "squared_error": weighted_sum(jnp.square(error)),
    "absolute_error": weighted_sum(jnp.abs(error)),
    "smape_terms": weighted_sum(_smape_terms(y_true, y_pred)),
    "weight": jnp.sum(w),
  }


def metrics_from_totals(totals: dict[str, Array]) -> dict[str, Array]:
  """{'mse', 'mae', 'rmse', 'smape'} from summed `metric_totals` (NaN for zero total weight)."""
  count = totals["weight"]
  mean = lambda total: jnp.where(count > 0, total / jnp.where(count > 0, count, 1.0), jnp.nan)
  mse_value = mean(totals["squared_error"])
  return {
    "mse": mse_value,
    "mae": mean(totals["absolute_error"]),
    "rmse": jnp.sqrt(mse_value),
    "smape": 100.0 * mean(totals["smape_terms"]),
  }

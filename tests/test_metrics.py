"""Forecast metrics against values computed by hand (and spelled out in the comments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from precursor_jax.core import metrics

Y = jnp.array([1.0, 0.0, -2.0, 4.0])
P = jnp.array([2.0, 0.0, -1.0, 2.0])
# errors y - p: -1, 0, -1, 2


def test_hand_computed_values():
  assert float(metrics.mse(Y, P)) == pytest.approx((1 + 0 + 1 + 4) / 4)  # 1.5
  assert float(metrics.mae(Y, P)) == pytest.approx((1 + 0 + 1 + 2) / 4)  # 1.0
  assert float(metrics.rmse(Y, P)) == pytest.approx(np.sqrt(1.5))
  # sMAPE terms 2|e| / (|y| + |p|): 2/3, 0 (0/0 counts as 0), 2/3, 4/6
  assert float(metrics.smape(Y, P)) == pytest.approx(100 * (2 / 3 + 0 + 2 / 3 + 2 / 3) / 4)
  # RMSPE over y != 0 only: (e / y)^2 = 1, 1/4, 1/4 -> sqrt(1.5 / 3)
  assert float(metrics.rmspe(Y, P)) == pytest.approx(100 * np.sqrt(1.5 / 3))
  assert float(metrics.rmspe_count(Y, P)) == 3


def test_weights_select_points_and_weight_them():
  mask = jnp.array([1.0, 0.0, 0.0, 1.0])
  assert float(metrics.mse(Y, P, mask)) == pytest.approx((1 + 4) / 2)
  assert float(metrics.mae(Y, P, jnp.array([3.0, 0.0, 1.0, 0.0]))) == pytest.approx((3 * 1 + 1) / 4)
  # a NaN at a zero-weight point (a padded batch row, say) never leaks into the result
  y_nan = Y.at[1].set(jnp.nan)
  for metric in (metrics.mse, metrics.mae, metrics.smape, metrics.rmspe):
    assert np.isfinite(float(metric(y_nan, P, jnp.array([1.0, 0.0, 1.0, 1.0]))))
  # weights broadcast: (2, 1) row validity over (2, 2) values
  rows = jnp.array([[1.0], [0.0]])
  assert float(metrics.mse(Y.reshape(2, 2), P.reshape(2, 2), rows)) == pytest.approx(0.5)


def test_nothing_measured_is_nan_not_zero():
  zeros = jnp.zeros(4)
  for metric in (metrics.mse, metrics.mae, metrics.rmse, metrics.smape):
    assert np.isnan(float(metric(Y, P, zeros)))
  assert np.isnan(float(metrics.rmspe(jnp.zeros(3), jnp.ones(3))))  # every y is 0


def test_smape_range_and_symmetry():
  assert float(metrics.smape(jnp.array([1.0]), jnp.array([-1.0]))) == pytest.approx(200.0)
  assert float(metrics.smape(jnp.array([0.0]), jnp.array([0.0]))) == 0.0
  a, b = jnp.array([3.0, -1.0]), jnp.array([1.0, 2.0])
  assert float(metrics.smape(a, b)) == pytest.approx(float(metrics.smape(b, a)))


def test_totals_over_batches_equal_metrics_of_the_whole_set():
  rng = np.random.default_rng(0)
  y, p = rng.normal(size=(10, 5, 3)), rng.normal(size=(10, 5, 3))
  valid = (np.arange(10) < 7).astype(np.float32)[:, None, None]  # last 3 rows are padding
  totals = None
  for start in range(0, 10, 4):
    part = metrics.metric_totals(
      y[start : start + 4], p[start : start + 4], valid[start : start + 4]
    )
    totals = part if totals is None else jax.tree.map(jnp.add, totals, part)
  combined = metrics.metrics_from_totals(totals)
  direct = metrics.forecast_metrics(y[:7], p[:7])
  for name in ("mse", "mae", "rmse", "smape"):
    assert float(combined[name]) == pytest.approx(float(direct[name]), rel=1e-5)
  np.testing.assert_allclose(float(direct["mse"]), np.mean((y[:7] - p[:7]) ** 2), rtol=1e-5)


def test_errors_and_jit():
  with pytest.raises(ValueError, match="same shape"):
    metrics.mse(Y, P[:3])
  with pytest.raises(ValueError, match="do not broadcast"):
    metrics.mae(Y, P, jnp.ones(3))
  assert float(jax.jit(metrics.smape)(Y, P)) == pytest.approx(float(metrics.smape(Y, P)))

"""Forecasting baselines: the shared forecaster contract, the registry, and that each learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from precursor_jax.models import baselines, registry
from precursor_jax.models.pyraformer import Pyraformer

HISTORY, HORIZON, CHANNELS, FEATURES, BATCH = 24, 6, 3, 4, 5
TINY = {
  "lstm": dict(hidden=16, n_layers=2),
  "gru": dict(hidden=16, n_layers=2),
  "transformer": dict(d_model=16, n_heads=2, d_ff=32, n_encoder_layers=1, n_decoder_layers=1),
  "pyraformer": dict(
    d_model=16,
    d_inner=16,
    n_heads=2,
    d_k=4,
    d_v=4,
    n_layers=2,
    d_bottleneck=4,
    window_sizes=(2, 2, 2),
  ),
}


def _batch(key):
  keys = jax.random.split(key, 4)
  return (
    jax.random.normal(keys[0], (BATCH, HISTORY, CHANNELS)),
    jax.random.uniform(keys[1], (BATCH, HISTORY, FEATURES), minval=-0.5, maxval=0.5),
    jax.random.uniform(keys[2], (BATCH, HORIZON, FEATURES), minval=-0.5, maxval=0.5),
    jax.random.normal(keys[3], (BATCH, HORIZON, CHANNELS)),
  )


def _build(name, **extra):
  return registry.build_forecaster(
    name, history_len=HISTORY, horizon=HORIZON, channels=CHANNELS, **TINY[name], **extra
  )


@pytest.mark.parametrize("name", sorted(TINY))
def test_contract_shapes_and_dropout(name):
  model = _build(name, dropout=0.2)
  history, history_time, future_time, _ = _batch(jax.random.key(0))
  variables = model.init(jax.random.key(1), history, history_time, future_time)
  forecast = jax.jit(model.apply)(variables, history, history_time, future_time)
  assert forecast.shape == (BATCH, HORIZON, CHANNELS) and forecast.dtype == jnp.float32
  assert np.all(np.isfinite(forecast))

  @jax.jit
  def train(key):
    out, _ = model.apply(
      variables,
      history,
      history_time,
      future_time,
      train=True,
      rngs={"dropout": key},
      mutable=["batch_stats"],
    )
    return out

  assert train(jax.random.key(2)).shape == (BATCH, HORIZON, CHANNELS)
  assert not np.allclose(train(jax.random.key(2)), train(jax.random.key(3)))
  with pytest.raises(ValueError, match="history must be"):
    model.apply(variables, history[:, 1:], history_time[:, 1:], future_time)


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer"])
def test_forecast_depends_on_history_and_future_time(name):
  model = _build(name, dropout=0.0)
  history, history_time, future_time, _ = _batch(jax.random.key(4))
  variables = model.init(jax.random.key(1), history, history_time, future_time)
  apply = jax.jit(model.apply)
  base = apply(variables, history, history_time, future_time)
  assert not np.allclose(base, apply(variables, history + 1.0, history_time, future_time))
  assert not np.allclose(base, apply(variables, history, history_time, future_time[:, ::-1]))


def test_registry():
  assert isinstance(_build("pyraformer"), Pyraformer)
  assert _build("gru").cell == "gru" and _build("lstm").cell == "lstm"
  with pytest.raises(ValueError, match="unknown forecaster 'prophet'"):
    registry.build_forecaster("prophet", history_len=1, horizon=1, channels=1)
  with pytest.raises(TypeError, match="forecaster 'lstm'"):
    registry.build_forecaster("lstm", history_len=1, horizon=1, channels=1, d_model=3)
  with pytest.raises(ValueError, match="cell must be"):
    model = baselines.RecurrentForecaster(HISTORY, HORIZON, CHANNELS, cell="rnn")
    model.init(jax.random.key(0), *_batch(jax.random.key(0))[:3])


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer"])
def test_overfits_one_batch(name):
  model = _build(name, dropout=0.0)
  history, history_time, future_time, future = _batch(jax.random.key(5))
  params = model.init(jax.random.key(1), history, history_time, future_time)["params"]
  optimizer = optax.adam(1e-2)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state):
    def loss_fn(p):
      return jnp.mean(
        (model.apply({"params": p}, history, history_time, future_time) - future) ** 2
      )

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for _ in range(150):
    params, opt_state, loss = step(params, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.2 * losses[0], losses[::25]

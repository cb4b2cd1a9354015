"""The SES networks: recurrent layers and attention against NumPy oracles, sizes, invariances, overfitting."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from precursor_jax.models import lstm_ae, registry
from precursor_jax.models.recurrent import Bidirectional, Recurrent


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(xs, kernel, recurrent, bias):
  """Keras LSTM equations (i, f, g, o gate order), one time step at a time."""
  batch, steps, _ = xs.shape
  h_dim = recurrent.shape[0]
  h = np.zeros((batch, h_dim))
  c = np.zeros((batch, h_dim))
  outputs = []
  for t in range(steps):
    z = xs[:, t] @ kernel + h @ recurrent + bias
    i, f, g, o = (z[:, k * h_dim : (k + 1) * h_dim] for k in range(4))
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    outputs.append(h)
  return np.stack(outputs, axis=1)


def numpy_gru(xs, kernel, recurrent, bias, recurrent_bias):
  """Keras GRU with reset_after=True (z, r, n gate order)."""
  batch, steps, _ = xs.shape
  h_dim = recurrent.shape[0]
  h = np.zeros((batch, h_dim))
  outputs = []
  for t in range(steps):
    x_part = xs[:, t] @ kernel + bias
    h_part = h @ recurrent + recurrent_bias
    split = lambda v: [v[:, k * h_dim : (k + 1) * h_dim] for k in range(3)]
    (xz, xr, xn), (hz, hr, hn) = split(x_part), split(h_part)
    z, r = sigmoid(xz + hz), sigmoid(xr + hr)
    n = np.tanh(xn + r * hn)
    h = (1 - z) * n + z * h
    outputs.append(h)
  return np.stack(outputs, axis=1)


@pytest.fixture
def sequence():
  return np.random.default_rng(0).normal(size=(3, 7, 5)).astype(np.float32)


def test_lstm_layer_matches_the_keras_equations(sequence):
  layer = Recurrent(features=4, cell="lstm")
  params = layer.init(jax.random.key(1), sequence)["params"]
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(2), p.shape), params)
  out = layer.apply({"params": params}, sequence)
  p = jax.tree.map(np.asarray, params)
  expected = numpy_lstm(sequence, p["input_kernel"], p["recurrent_kernel"], p["bias"])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_lstm_forget_bias_starts_at_one(sequence):
  params = Recurrent(features=4).init(jax.random.key(1), sequence)["params"]
  np.testing.assert_array_equal(params["bias"], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


def test_gru_layer_matches_the_keras_equations(sequence):
  layer = Recurrent(features=4, cell="gru")
  params = layer.init(jax.random.key(1), sequence)["params"]
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(3), p.shape), params)
  out = layer.apply({"params": params}, sequence)
  p = jax.tree.map(np.asarray, params)
  expected = numpy_gru(
    sequence, p["input_kernel"], p["recurrent_kernel"], p["bias"], p["recurrent_bias"]
  )
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_averages_forward_and_time_reversed_backward(sequence):
  layer = Bidirectional(features=4)
  params = layer.init(jax.random.key(1), sequence)["params"]
  out = np.asarray(layer.apply({"params": params}, sequence))
  p = jax.tree.map(np.asarray, params)
  forward = numpy_lstm(
    sequence, *(p["forward"][k] for k in ("input_kernel", "recurrent_kernel", "bias"))
  )
  backward = numpy_lstm(
    sequence[:, ::-1], *(p["backward"][k] for k in ("input_kernel", "recurrent_kernel", "bias"))
  )[:, ::-1]
  np.testing.assert_allclose(out, 0.5 * (forward + backward), rtol=1e-5, atol=1e-6)


def test_unknown_cell_is_refused(sequence):
  with pytest.raises(ValueError, match="cell must be"):
    Recurrent(features=4, cell="rnn").init(jax.random.key(0), sequence)


def test_time_step_attention_matches_its_definition():
  features = np.random.default_rng(1).normal(size=(2, 24, 16)).astype(np.float32)
  module = lstm_ae.TimeStepAttention(reduced_steps=4)
  params = module.init(jax.random.key(0), features)["params"]
  weights = np.asarray(module.apply({"params": params}, features))
  p = jax.tree.map(np.asarray, params)
  mlp = lambda v: (
    np.maximum(v @ p["conv_squeeze"]["kernel"] + p["conv_squeeze"]["bias"], 0)
    @ p["conv_excite"]["kernel"]
    + p["conv_excite"]["bias"]
  )
  expected = sigmoid(mlp(features.max(-1)) + mlp(features.mean(-1)))
  assert weights.shape == (2, 24)
  np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)


def lstm_ae_parameter_count(day=8640, stride=10, steps=24, bi=512, enc=256, dec=512, reduced=4):
  """Parameters of the paper's network, counted layer by layer from the architecture."""
  step_features = day // stride // steps
  lstm = lambda d_in, h: 4 * h * (d_in + h + 1)
  return (
    (stride + 1)
    + 2 * (day // stride)  # conv, LayerNorm
    + 2 * lstm(step_features, bi)
    + 2 * bi  # bidirectional, LayerNorm
    + (steps * reduced + reduced)
    + (reduced * steps + steps)  # attention convs
    + lstm(bi, enc)
    + 2 * enc  # encoder, LayerNorm
    + lstm(enc, dec)
    + 2 * dec  # decoder, LayerNorm
    + dec * day
    + day
  )  # output dense


def test_lstm_autoencoder_size_and_shape():
  model = registry.build_ses_network("lstm_ae")
  day = jnp.zeros((2, 8640))
  params = jax.eval_shape(model.init, jax.random.key(0), day)["params"]
  count = sum(np.prod(p.shape) for p in jax.tree.leaves(params))
  assert count == lstm_ae_parameter_count()
  assert jax.eval_shape(model.apply, {"params": params}, day).shape == (2, 8640)


@pytest.mark.parametrize("name", tuple(registry.SES_NETWORKS))
def test_every_network_keeps_the_day_shape(name):
  model = registry.build_ses_network(name)
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8640)))
  assert jax.eval_shape(model.apply, params, jnp.zeros((3, 8640))).shape == (3, 8640)


def test_unknown_network_name_lists_the_choices():
  with pytest.raises(ValueError, match="lstm_ae, lstm_ae_no_attention"):
    registry.build_ses_network("transformer")


def small_lstm_ae():
  return registry.build_ses_network(
    "lstm_ae",
    scale=10.0,
    day_samples=480,
    conv_stride=10,
    num_steps=8,
    bidirectional_features=16,
    encoder_features=8,
    decoder_features=16,
  )


def test_output_follows_a_constant_offset_of_the_day():
  # The wrapper centres each day on its mean, so adding a constant to a day adds it to the output.
  model = small_lstm_ae()
  day = np.random.default_rng(0).normal(size=(2, 480)).astype(np.float32)
  params = model.init(jax.random.key(0), day)
  shifted = model.apply(params, day + 250.0)
  np.testing.assert_allclose(shifted, model.apply(params, day) + 250.0, rtol=1e-5, atol=1e-3)


def test_a_small_lstm_autoencoder_learns_to_remove_noise():
  rng = np.random.default_rng(0)
  clean = np.zeros((8, 480), np.float32)
  for row in clean:
    start = rng.integers(0, 400)
    row[start : start + 60] = 12.0
  noisy = clean + rng.normal(0, 3.0, clean.shape).astype(np.float32)
  model = small_lstm_ae()
  params = model.init(jax.random.key(0), noisy)["params"]
  optimizer = optax.adam(3e-3)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state):
    loss, grads = jax.value_and_grad(
      lambda p: jnp.mean(jnp.square(model.apply({"params": p}, noisy) - clean))
    )(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for _ in range(300):
    params, opt_state, loss = step(params, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.2 * losses[0]

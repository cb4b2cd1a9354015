"""LSTM and GRU layers with the input projection hoisted out of the time loop.

The input-to-gate products of all time steps are one matrix multiply before `lax.scan`; only the
hidden-to-gate product stays inside the loop. This is the cuDNN formulation, and on CPU it roughly halves the
time of a 24-step scan compared with a cell that projects inputs at every step.

Gate equations follow Keras (which the SES paper used): LSTM without peepholes, forget-gate bias initialised
to 1; GRU with the reset gate applied after the recurrent product (Keras `reset_after=True`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def _lstm_gates(z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
  i, f, g, o = jnp.split(z, 4, axis=-1)
  c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
  return nn.sigmoid(o) * jnp.tanh(c), c


class Recurrent(nn.Module):
  """One recurrent layer over (B, T, D) -> hidden states (B, T, H), optionally run backwards in time.

  cell: "lstm" or "gru". With reverse=True the sequence is read from the last step to the first and the
  outputs are returned in the original time order (as Keras' Bidirectional does).
  """

  features: int
  cell: str = "lstm"
  reverse: bool = False
  unroll: int = 1

  @nn.compact
  def __call__(self, xs: jax.Array) -> jax.Array:
    if self.cell not in ("lstm", "gru"):
      raise ValueError(f"cell must be 'lstm' or 'gru', got {self.cell!r}")
    h_dim = self.features
    num_gates = 4 if self.cell == "lstm" else 3
    kernel = self.param(
      "input_kernel", nn.initializers.glorot_uniform(), (xs.shape[-1], num_gates * h_dim)
    )
    recurrent = self.param(
      "recurrent_kernel", nn.initializers.orthogonal(), (h_dim, num_gates * h_dim)
    )
    bias_init = _lstm_bias_init if self.cell == "lstm" else nn.initializers.zeros
    bias = self.param("bias", bias_init, (num_gates * h_dim,))
    projected = (
      jnp.einsum("btd,dg->tbg", xs, kernel) + bias[None, None, :]
    )  # time-major for the scan
    if self.reverse:
      projected = projected[::-1]
    # Zeros derived from the data rather than jnp.zeros: inside shard_map the carry must vary over the
    # batch axis like the inputs do.
    h0 = jnp.zeros_like(projected[0, :, :h_dim])

    if self.cell == "lstm":

      def step(carry, x_t):
        h, c = carry
        h, c = _lstm_gates(x_t + h @ recurrent, c)
        return (h, c), h

      carry = (h0, h0)
    else:
      recurrent_bias = self.param("recurrent_bias", nn.initializers.zeros, (num_gates * h_dim,))

      def step(h, x_t):
        xz, xr, xn = jnp.split(x_t, 3, axis=-1)
        hz, hr, hn = jnp.split(h @ recurrent + recurrent_bias[None, :], 3, axis=-1)
        z = nn.sigmoid(xz + hz)
        r = nn.sigmoid(xr + hr)
        n = jnp.tanh(xn + r * hn)
        h = (1.0 - z) * n + z * h
        return h, h

      carry = h0
    _, hs = jax.lax.scan(step, carry, projected, unroll=self.unroll)
    if self.reverse:
      hs = hs[::-1]
    return jnp.swapaxes(hs, 0, 1)


def _lstm_bias_init(key, shape, dtype=jnp.float32):
  """Zeros except 1 on the forget gate (Keras unit_forget_bias)."""
  del key
  h_dim = shape[0] // 4
  return jnp.zeros(shape, dtype).at[h_dim : 2 * h_dim].set(1.0)


class Bidirectional(nn.Module):
  """Forward and backward layers over the same sequence, outputs averaged (the SES paper's merge)."""

  features: int
  cell: str = "lstm"
  unroll: int = 1

  @nn.compact
  def __call__(self, xs: jax.Array) -> jax.Array:
    forward = Recurrent(
      self.features, self.cell, reverse=False, unroll=self.unroll, name="forward"
    )(xs)
    backward = Recurrent(
      self.features, self.cell, reverse=True, unroll=self.unroll, name="backward"
    )(xs)
    return 0.5 * (forward + backward)

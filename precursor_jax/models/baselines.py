"""Forecasting baselines (LSTM, GRU, vanilla Transformer) with Pyraformer's contract, and the
registry.

Every forecaster here is a Flax Linen module built from plain hyperparameters and called as

  model.apply(variables, history, history_time, future_time, train=bool, rngs={'dropout': key})

with history (B, L, C), history_time (B, L, F), future_time (B, H, F), returning the forecast (B, H,
C). `build_forecaster(name, **kwargs)` builds any of them by name, so the seed paper's Table 2
comparison (Pyraformer vs LSTM, GRU, Transformer on MSE, MAE, RMSE, sMAPE) is one config switch.

The seed paper says only that the baselines used "standard parameter settings"; the defaults below
are ours: one encoder-decoder design shared by both recurrent baselines (the decoder runs over the
horizon fed with the known future time features, starting from the encoder's final state, and a
linear layer reads out every step), and an encoder-decoder Transformer (Vaswani et al. 2017,
post-LN) whose decoder queries are the embedded future time features with zero values, as in the
Informer family's "Transformer" baseline. No baseline feeds its own predictions back, so a whole
horizon is one parallel (or one scanned) pass.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from precursor_jax.models.pyraformer import DataEmbedding, check_forecaster_inputs


class RecurrentForecaster(nn.Module):
  """Encoder-decoder LSTM or GRU forecaster.

  The encoder reads [history, history_time] step by step through `n_layers` stacked cells; the
  decoder (same depth, its own weights) starts from the encoder's final states and reads
  future_time; a Dense layer maps each decoder output to the channels.
  """

  history_len: int
  horizon: int
  channels: int
  cell: str = "lstm"  # "lstm" or "gru"
  hidden: int = 128
  n_layers: int = 2
  dropout: float = 0.05  # between stacked layers, as in torch.nn.LSTM(dropout=...)

  def _cell(self, name: str) -> nn.RNNCellBase:
    if self.cell == "lstm":
      return nn.OptimizedLSTMCell(self.hidden, name=name)
    if self.cell == "gru":
      return nn.GRUCell(self.hidden, name=name)
    raise ValueError(f"cell must be 'lstm' or 'gru', got {self.cell!r}")

  @nn.compact
  def __call__(
    self,
    history: jax.Array,
    history_time: jax.Array,
    future_time: jax.Array,
    *,
    train: bool = False,
  ) -> jax.Array:
    """history (B, L, C), history_time (B, L, F), future_time (B, H, F) -> forecast (B, H, C)."""
    check_forecaster_inputs(history, history_time, future_time, self.history_len, self.channels)
    drop = nn.Dropout(self.dropout, deterministic=not train)
    x = jnp.concatenate([history, history_time], axis=-1)
    # Zeros derived from the data: inside shard_map a scan carry must vary over the batch axis like
    # its inputs (jnp.zeros would not, and nn.RNN's default initial carry is jnp.zeros).
    zeros = jnp.zeros_like(x[:, 0, :1]) * jnp.zeros((1, self.hidden), x.dtype)
    initial = (zeros, zeros) if self.cell == "lstm" else zeros
    carries = []
    for layer in range(self.n_layers):
      carry, x = nn.RNN(
        self._cell(f"encoder_{layer}"), return_carry=True, name=f"encoder_rnn_{layer}"
      )(x, initial_carry=initial)
      carries.append(carry)
      if layer + 1 < self.n_layers:
        x = drop(x)
    y = future_time
    for layer in range(self.n_layers):
      y = nn.RNN(self._cell(f"decoder_{layer}"), name=f"decoder_rnn_{layer}")(
        y, initial_carry=carries[layer]
      )
      if layer + 1 < self.n_layers:
        y = drop(y)
    return nn.Dense(self.channels, name="readout")(y)


class TransformerLayer(nn.Module):
  """Post-LN Transformer block: self-attention, optional cross-attention, GELU feed-forward."""

  d_model: int
  n_heads: int
  d_ff: int
  dropout: float

  @nn.compact
  def __call__(self, x: jax.Array, memory: jax.Array | None, *, train: bool) -> jax.Array:
    """x (B, T, d_model), memory None or (B, S, d_model) -> (B, T, d_model)."""
    drop = nn.Dropout(self.dropout, deterministic=not train)
    attention = functools.partial(
      nn.MultiHeadDotProductAttention,
      num_heads=self.n_heads,
      dropout_rate=self.dropout,
      deterministic=not train,
    )
    x = nn.LayerNorm(name="self_norm")(x + drop(attention(name="self_attention")(x, x)))
    if memory is not None:
      x = nn.LayerNorm(name="cross_norm")(x + drop(attention(name="cross_attention")(x, memory)))
    hidden = drop(jax.nn.gelu(nn.Dense(self.d_ff, name="hidden")(x), approximate=False))
    return nn.LayerNorm(name="ff_norm")(x + drop(nn.Dense(self.d_model, name="out")(hidden)))


class TransformerForecaster(nn.Module):
  """Vanilla encoder-decoder Transformer with full attention.

  Encoder: Pyraformer's data embedding of the history, `n_encoder_layers` post-LN blocks. Decoder:
  the same kind of embedding of zero values with the future time features (positions continue after
  the history), `n_decoder_layers` blocks with cross-attention to the encoder, then a Dense readout
  per step.
  """

  history_len: int
  horizon: int
  channels: int
  d_model: int = 128
  n_heads: int = 4
  d_ff: int = 256
  n_encoder_layers: int = 2
  n_decoder_layers: int = 1
  dropout: float = 0.05

  @nn.compact
  def __call__(
    self,
    history: jax.Array,
    history_time: jax.Array,
    future_time: jax.Array,
    *,
    train: bool = False,
  ) -> jax.Array:
    """history (B, L, C), history_time (B, L, F), future_time (B, H, F) -> forecast (B, H, C)."""
    check_forecaster_inputs(history, history_time, future_time, self.history_len, self.channels)
    horizon = future_time.shape[1]
    embed = DataEmbedding(self.d_model, self.dropout, name="embedding")
    # One embedding over history + placeholders so the decoder's positions follow the history's.
    placeholders = jnp.zeros((history.shape[0], horizon, self.channels), history.dtype)
    tokens = embed(
      jnp.concatenate([history, placeholders], axis=1),
      jnp.concatenate([history_time, future_time], axis=1),
      train=train,
    )
    memory, queries = tokens[:, : self.history_len], tokens[:, self.history_len :]
    for layer in range(self.n_encoder_layers):
      memory = TransformerLayer(
        self.d_model, self.n_heads, self.d_ff, self.dropout, name=f"encoder_{layer}"
      )(memory, None, train=train)
    for layer in range(self.n_decoder_layers):
      queries = TransformerLayer(
        self.d_model, self.n_heads, self.d_ff, self.dropout, name=f"decoder_{layer}"
      )(queries, memory, train=train)
    return nn.Dense(self.channels, name="readout")(queries)

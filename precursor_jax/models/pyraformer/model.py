"""The Pyraformer modules (Flax Linen): data embedding, bottleneck CSCM, pyramidal attention, encoder
and decoder layers, and the forecaster itself; see the package docstring.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.models.pyraformer.attention import dense_attention, sparse_attention
from precursor_jax.models.pyraformer.graph import (
  LayerPlan,
  layer_plan,
  pyramid_mask,
)

# --------------------------------------------------------------------------------------------------
# Initialisers matching the official (PyTorch) ones
# --------------------------------------------------------------------------------------------------

# PyTorch nn.Linear / nn.Conv1d default weight: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)).
torch_default_kernel = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
xavier_uniform = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")
xavier_normal = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")
# kaiming_normal(mode=fan_in, nonlinearity=leaky_relu, a=0): N(0, 2 / fan_in), not truncated.
kaiming_normal_fan_in = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def torch_default_bias(fan_in: int):
  """PyTorch's default bias init U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def _torch_dense(
  features: int,
  fan_in: int,
  name: str | None = None,
  use_bias: bool = True,
  kernel_init=torch_default_kernel,
) -> nn.Dense:
  return nn.Dense(
    features,
    use_bias=use_bias,
    kernel_init=kernel_init,
    bias_init=torch_default_bias(fan_in),
    name=name,
  )


# --------------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------------


def sinusoid_positions(length: int, d_model: int) -> np.ndarray:
  """(length, d_model) float32 fixed positional encoding: sin on even channels, cos on odd ones."""
  position = np.arange(length, dtype=np.float64)[:, None]
  frequency = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * -(math.log(10000.0) / d_model))
  table = np.zeros((length, d_model), dtype=np.float64)
  table[:, 0::2] = np.sin(position * frequency)
  table[:, 1::2] = np.cos(position * frequency)[:, : d_model // 2]
  return table.astype(np.float32)


class DataEmbedding(nn.Module):
  """Circular Conv1d(kernel 3) token + sinusoidal position + linear time-feature embedding."""

  d_model: int
  dropout: float

  @nn.compact
  def __call__(self, values: jax.Array, time_features: jax.Array, *, train: bool) -> jax.Array:
    """values (B, T, C), time_features (B, T, F) -> (B, T, d_model)."""
    length, channels = values.shape[1], values.shape[2]
    wrapped = jnp.concatenate([values[:, -1:], values, values[:, :1]], axis=1)  # circular padding 1
    tokens = nn.Conv(
      self.d_model,
      kernel_size=(3,),
      padding="VALID",
      kernel_init=kaiming_normal_fan_in,
      bias_init=torch_default_bias(3 * channels),
      name="token_conv",
    )(wrapped)
    time = _torch_dense(self.d_model, time_features.shape[-1], name="time_linear")(time_features)
    positions = sinusoid_positions(length, self.d_model)[None]
    x = tokens + positions + time
    return nn.Dropout(self.dropout, deterministic=not train)(x)


class BottleneckCSCM(nn.Module):
  """Coarser-scale construction: Linear down, per scale Conv(k = stride = C_s) + BatchNorm + ELU,
  Linear up.

  Coarse scales are built sequentially, concatenated fine to coarse after the finest sequence, then
  one LayerNorm (eps 1e-5) covers the whole pyramid.
  """

  d_model: int
  d_bottleneck: int
  window_sizes: tuple[int, ...]

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """x (B, L, d_model) -> (B, N, d_model), N = sum(pyramid_sizes(L, window_sizes))."""
    scale = _torch_dense(self.d_bottleneck, self.d_model, name="down")(x)
    coarse = []
    for index, window in enumerate(self.window_sizes):
      scale = nn.Conv(
        self.d_bottleneck,
        kernel_size=(window,),
        strides=(window,),
        padding="VALID",
        kernel_init=torch_default_kernel,
        bias_init=torch_default_bias(window * self.d_bottleneck),
        name=f"conv_{index}",
      )(scale)
      # PyTorch momentum 0.1 == Flax momentum 0.9.
      scale = nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"batch_norm_{index}"
      )(scale)
      scale = jax.nn.elu(scale)
      coarse.append(scale)
    coarse = _torch_dense(self.d_model, self.d_bottleneck, name="up")(
      jnp.concatenate(coarse, axis=1)
    )
    return nn.LayerNorm(epsilon=1e-5, name="norm")(jnp.concatenate([x, coarse], axis=1))


@dataclasses.dataclass(frozen=True)
class PyramidGraph:
  """The static attention structure shared by all layers (hashable, so modules can carry it)."""

  seq_len: int
  window_sizes: tuple[int, ...]
  inner_size: int
  n_layers: int
  prune: bool

  def mask(self) -> np.ndarray:
    """(N, N) bool pyramidal mask (cached construction of its edges)."""
    return pyramid_mask(self.seq_len, self.window_sizes, self.inner_size)

  def plan(self) -> LayerPlan:
    """Per-layer sparse tables (cached)."""
    return layer_plan(self.seq_len, self.window_sizes, self.inner_size, self.n_layers, self.prune)

  def layer_mask(self, layer: int) -> np.ndarray:
    """(Q, M) bool mask of layer `layer`: its output rows against its input rows (cached)."""
    return _layer_mask(self, layer)


@functools.lru_cache(maxsize=64)
def _layer_mask(graph: PyramidGraph, layer: int) -> np.ndarray:
  mask = graph.mask()
  if graph.prune:
    nodes = graph.plan().layer_nodes
    mask = mask[np.ix_(nodes[layer + 1], nodes[layer])]
  mask.flags.writeable = False
  return mask


class PyramidalAttention(nn.Module):
  """Post-LN multi-head attention on the pyramidal graph: attention, dropout(out proj) + residual,
  LN.

  Both paths compute the Q output rows of the layer's plan from its M input rows: all N nodes, or
  with pruning only the nodes the forecast depends on.
  """

  d_model: int
  n_heads: int
  d_k: int
  d_v: int
  dropout: float
  graph: PyramidGraph
  layer_index: int
  attention: str

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """x (B, M, d_model) -> (B, Q, d_model); Q = M except on the pruned sparse path."""
    if self.attention not in ("dense", "sparse"):
      raise ValueError(f"attention must be 'dense' or 'sparse', got {self.attention!r}")
    table = self.graph.plan().tables[self.layer_index]
    queries = x if table.is_square else x[:, table.query_rows]
    # DenseGeneral initialises its kernel flattened to (d_model, H * D), so xavier sees nn.Linear's
    # fans.
    q = nn.DenseGeneral(
      (self.n_heads, self.d_k), use_bias=False, kernel_init=xavier_uniform, name="query"
    )(queries)
    k = nn.DenseGeneral(
      (self.n_heads, self.d_k), use_bias=False, kernel_init=xavier_uniform, name="key"
    )(x)
    v = nn.DenseGeneral(
      (self.n_heads, self.d_v), use_bias=False, kernel_init=xavier_uniform, name="value"
    )(x)
    batch, rows = queries.shape[0], queries.shape[1]
    use_dropout = train and self.dropout > 0.0
    if self.attention == "dense":
      scale = None
      if use_dropout:
        scale = _dropout_scale(
          self.make_rng("dropout"), self.dropout, (batch, self.n_heads, rows, x.shape[1])
        )
      out = dense_attention(q, k, v, self.graph.layer_mask(self.layer_index), scale)
    else:
      scale = None
      if use_dropout:
        scale = _dropout_scale(
          self.make_rng("dropout"),
          self.dropout,
          (batch, self.n_heads, rows, table.indices.shape[1]),
        )
      out = sparse_attention(q, k, v, table, scale)
    out = nn.DenseGeneral(
      self.d_model,
      axis=(-2, -1),
      kernel_init=xavier_uniform,
      bias_init=torch_default_bias(self.n_heads * self.d_v),
      name="out",
    )(out)
    out = nn.Dropout(self.dropout, deterministic=not train)(out)
    return nn.LayerNorm(epsilon=1e-6, name="norm")(out + queries)


def _dropout_scale(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
  """Inverted-dropout multipliers: 1/(1 - rate) with probability 1 - rate, else 0."""
  keep = 1.0 - rate
  return jax.random.bernoulli(key, keep, shape).astype(jnp.float32) / keep


class FeedForward(nn.Module):
  """Post-LN position-wise feed-forward: Linear, GELU, dropout, Linear, dropout, + residual, LN."""

  d_model: int
  d_inner: int
  dropout: float

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """x (B, N, d_model) -> (B, N, d_model)."""
    hidden = _torch_dense(self.d_inner, self.d_model, name="hidden")(x)
    # PyTorch F.gelu is the exact (erf) GELU.
    hidden = nn.Dropout(self.dropout, deterministic=not train)(
      jax.nn.gelu(hidden, approximate=False)
    )
    out = _torch_dense(self.d_model, self.d_inner, name="out")(hidden)
    out = nn.Dropout(self.dropout, deterministic=not train)(out)
    return nn.LayerNorm(epsilon=1e-6, name="norm")(out + x)


class EncoderLayer(nn.Module):
  """One Pyraformer encoder layer: pyramidal attention then feed-forward, both post-LN."""

  d_model: int
  d_inner: int
  n_heads: int
  d_k: int
  d_v: int
  dropout: float
  graph: PyramidGraph
  layer_index: int
  attention: str

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x (B, M, d_model) -> (B, Q, d_model)."""
    x = PyramidalAttention(
      self.d_model,
      self.n_heads,
      self.d_k,
      self.d_v,
      self.dropout,
      self.graph,
      self.layer_index,
      self.attention,
      name="attention",
    )(x, train=train)
    return FeedForward(self.d_model, self.d_inner, self.dropout, name="feed_forward")(
      x, train=train
    )


class DecoderLayer(nn.Module):
  """Prediction module 2 block: post-LN attention of the decoder queries to a memory, feed-forward.

  Same projections as the encoder's attention (bias-free Q/K/V, per-head d_k = d_v); dense attention
  (the memory is the whole pyramid, optionally followed by the decoder's own positions).
  """

  d_model: int
  d_inner: int
  n_heads: int
  d_k: int
  d_v: int
  dropout: float

  @nn.compact
  def __call__(self, x: jax.Array, memory: jax.Array, mask: np.ndarray, train: bool) -> jax.Array:
    """x (B, H, d_model), memory (B, M, d_model), mask (H, M) bool -> (B, H, d_model)."""
    heads = lambda d, name: nn.DenseGeneral(
      (self.n_heads, d), use_bias=False, kernel_init=xavier_uniform, name=name
    )
    q, k, v = (
      heads(self.d_k, "query")(x),
      heads(self.d_k, "key")(memory),
      heads(self.d_v, "value")(memory),
    )
    scale = None
    if train and self.dropout > 0.0:
      shape = (x.shape[0], self.n_heads, x.shape[1], memory.shape[1])
      scale = _dropout_scale(self.make_rng("dropout"), self.dropout, shape)
    out = nn.DenseGeneral(
      self.d_model,
      axis=(-2, -1),
      kernel_init=xavier_uniform,
      bias_init=torch_default_bias(self.n_heads * self.d_v),
      name="out",
    )(dense_attention(q, k, v, mask, scale))
    out = nn.Dropout(self.dropout, deterministic=not train)(out)
    x = nn.LayerNorm(epsilon=1e-6, name="norm")(out + x)
    return FeedForward(self.d_model, self.d_inner, self.dropout, name="feed_forward")(
      x, train=train
    )


def decoder_mask(memory_nodes: int, horizon: int) -> np.ndarray:
  """(H, N + H) bool mask of the second decoder block: all N pyramid nodes, decoder steps <= own."""
  return np.arange(memory_nodes + horizon)[None, :] <= memory_nodes + np.arange(horizon)[:, None]


class Pyraformer(nn.Module):
  """Pyraformer long-range forecaster.

  decoder="fc" (prediction module 1, every long-range result of the paper): the predict token and
  its ancestors, one linear map. decoder="attention" (prediction module 2): no predict token; two
  attention blocks whose queries are the embedded future time features (zero values), the first
  attending to the whole encoded pyramid, the second to the pyramid and the decoder steps up to its
  own (the official `Decoder`, without the optional pre-training).

  Called as model.apply(variables, history, history_time, future_time, train=..., rngs={'dropout':
  key}, mutable=['batch_stats'] when training); returns the forecast (B, horizon, channels).
  Defaults are the paper's ETTh1 168 -> 168 settings (11,155,712 parameters with 7 channels, 4 time
  features).
  """

  history_len: int
  horizon: int
  channels: int
  d_model: int = 512
  d_inner: int = 512
  n_heads: int = 6
  d_k: int = 128
  d_v: int = 128
  n_layers: int = 4
  window_sizes: tuple[int, ...] = (4, 4, 4)
  inner_size: int = 3
  d_bottleneck: int = 128
  dropout: float = 0.05
  # "sparse" (O(N) gathers) or "dense" (masked N x N, the published default).
  attention: str = "sparse"
  # Each layer computes only the nodes the forecast depends on. Exact (same outputs and gradients);
  # for ETTh1 168 it computes 159/63/19/4 nodes in layers 1-4 instead of 4 x 223. prune=False
  # computes every node, as the official code does. (No effect with decoder="attention", which
  # reads every node.)
  prune: bool = True
  decoder: str = "fc"  # "fc" (prediction module 1) or "attention" (prediction module 2)
  remat: bool = False  # recompute each layer in the backward pass (long sequences, less memory)

  @property
  def graph(self) -> PyramidGraph:
    """The pyramid: L + 1 finest nodes with the predict token ("fc"), L with "attention"."""
    if self.decoder not in ("fc", "attention"):
      raise ValueError(f"decoder must be 'fc' or 'attention', got {self.decoder!r}")
    fc = self.decoder == "fc"
    return PyramidGraph(
      self.history_len + int(fc),
      tuple(int(w) for w in self.window_sizes),
      int(self.inner_size),
      int(self.n_layers),
      bool(self.prune) and fc,
    )

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
    graph = self.graph
    plan = graph.plan()  # static tables, built once per configuration (cached)
    batch = history.shape[0]
    values, times = history, history_time
    if self.decoder == "fc":
      predict_token = jnp.zeros((batch, 1, self.channels), history.dtype)
      values = jnp.concatenate([history, predict_token], axis=1)
      times = jnp.concatenate([history_time, future_time[:, :1]], axis=1)
    x = DataEmbedding(self.d_model, self.dropout, name="embedding")(values, times, train=train)
    x = BottleneckCSCM(self.d_model, self.d_bottleneck, graph.window_sizes, name="cscm")(
      x, train=train
    )
    if len(plan.input_nodes) < x.shape[1]:
      x = x[:, plan.input_nodes]
    layer_type = nn.remat(EncoderLayer, static_argnums=(2,)) if self.remat else EncoderLayer
    for index in range(self.n_layers):
      x = layer_type(
        self.d_model,
        self.d_inner,
        self.n_heads,
        self.d_k,
        self.d_v,
        self.dropout,
        graph,
        index,
        self.attention,
        name=f"layer_{index}",
      )(x, train)
    if self.decoder == "attention":
      return self._attention_decoder(x, future_time, train)
    # The predict token and its ancestors, concatenated: (B, S * d_model).
    features = x[:, plan.output_rows].reshape(batch, -1)
    forecast = nn.Dense(
      self.horizon * self.channels, use_bias=False, kernel_init=xavier_normal, name="predictor"
    )(features)
    return forecast.reshape(batch, self.horizon, self.channels)

  def _attention_decoder(
    self, pyramid: jax.Array, future_time: jax.Array, train: bool
  ) -> jax.Array:
    """Prediction module 2: pyramid (B, N, d_model), future_time (B, H, F) -> (B, H, C)."""
    batch, nodes, horizon = pyramid.shape[0], pyramid.shape[1], future_time.shape[1]
    placeholders = jnp.zeros((batch, horizon, self.channels), pyramid.dtype)
    x = DataEmbedding(self.d_model, self.dropout, name="decoder_embedding")(
      placeholders, future_time, train=train
    )
    block = lambda name: DecoderLayer(
      self.d_model, self.d_inner, self.n_heads, self.d_k, self.d_v, self.dropout, name=name
    )
    x = block("decoder_0")(x, pyramid, np.ones((horizon, nodes), bool), train)
    memory = jnp.concatenate([pyramid, x], axis=1)
    x = block("decoder_1")(x, memory, decoder_mask(nodes, horizon), train)
    return nn.Dense(self.channels, use_bias=False, kernel_init=xavier_normal, name="predictor")(x)


def check_forecaster_inputs(
  history, history_time, future_time, history_len: int, channels: int
) -> None:
  """Raises a ValueError naming the argument whose shape breaks the forecaster contract."""
  if history.ndim != 3 or history.shape[1:] != (history_len, channels):
    raise ValueError(f"history must be (batch, {history_len}, {channels}), got {history.shape}")
  if history_time.ndim != 3 or history_time.shape[:2] != history.shape[:2]:
    raise ValueError(
      f"history_time must be (batch, {history_len}, features), got {history_time.shape}"
    )
  if (
    future_time.ndim != 3
    or future_time.shape[0] != history.shape[0]
    or future_time.shape[2] != history_time.shape[2]
  ):
    raise ValueError(
      f"future_time must be (batch, horizon, {history_time.shape[2]}), got {future_time.shape}"
    )

"""Pyraformer (Liu et al., ICLR 2022) for long-range forecasting, in Flax Linen.

Faithful to the authors' code (ant-research/Pyraformer, `Pyraformer_LR.py` with the "FC" decoder,
i.e. prediction module 1, which produced every long-range number in the paper):

* a data embedding (circular token conv + sinusoidal position + linear time features) of the history
  with a "predict token" appended: a zero step carrying the time features of the first future step,
  so the pyramid is built on L + 1 nodes;
* the bottleneck coarser-scale construction module (CSCM) that builds scales of sizes
  L+1, floor((L+1)/C_1), floor(floor((L+1)/C_1)/C_2), ... and lays all nodes out fine to coarse;
* post-LayerNorm encoder layers whose multi-head attention is restricted to the pyramidal graph
  (`pyramid_mask`), with per-head d_k = d_v independent of d_model and bias-free Q/K/V projections;
* the last finest node (the predict token) gathered with its ancestors at every scale, concatenated
  and mapped by one bias-free linear layer to horizon x channels.

Prediction module 2 (the official attention `Decoder`) is available as decoder="attention".

Two attention paths give the same numbers (tests/test_pyraformer.py checks outputs and gradients):
`attention="dense"` (masked N x N attention, the published default, O(N^2) memory) and
`attention="sparse"` (each node attends only to its padded neighbour list of about A + C + 1 nodes,
O(N) time and memory, pure JAX with a hand-written backward pass that uses only gathers, never
scatters; above SPARSE_BLOCK_BYTES of gathered rows it works through the rows in sequential blocks).

`prune=True` (the default) computes in each layer only the nodes the forecast depends on: the
forecast reads the last layer at S nodes only, which read their neighbours in the layer below, and
so on. The outputs and gradients are exactly those of the full computation (tested); at ETTh1
168 -> 168 the four layers compute 159, 63, 19 and 4 of the 223 nodes, about a third of the work.

The graph tables (mask, neighbour lists, ancestor indices) are NumPy constants computed once per
configuration (cached) and closed over by the traced computation, never recomputed inside a step.

Initialisation follows the official code's distributions exactly: xavier normal for the predictor,
xavier uniform for Q/K/V and the attention output, kaiming normal (fan_in, leaky_relu with slope 0)
for the token conv, and PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for every other weight
and bias.

Known differences from the official code: BatchNorm running variance is updated with the biased
batch variance (PyTorch uses the unbiased one; only eval-mode statistics differ, by a factor n/(n-1)
with n = batch x length of that scale); the dropout masks differ (another RNG); the predictor's
input width is S * d_model for S scales (the official code hard-codes 4 * d_model, i.e. 3 window
sizes, which every published config uses).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# The official code fills forbidden scores with -1e9 before the softmax; any value this negative
# gives those entries exactly zero weight in float32, so the two attention paths agree.
_MASKED_SCORE = -1e9


# --------------------------------------------------------------------------------------------------
# The pyramidal graph (static NumPy, cached per configuration)
# --------------------------------------------------------------------------------------------------


def pyramid_sizes(seq_len: int, window_sizes: Sequence[int]) -> tuple[int, ...]:
  """Node count of every scale, fine to coarse: (seq_len, seq_len // C_1, ...)."""
  if seq_len < 1:
    raise ValueError(f"seq_len must be positive, got {seq_len}")
  sizes = [int(seq_len)]
  for scale, window in enumerate(window_sizes):
    if window < 1:
      raise ValueError(f"window_sizes[{scale}] must be >= 1, got {window}")
    sizes.append(sizes[-1] // int(window))
    if sizes[-1] == 0:
      raise ValueError(
        f"scale {scale + 1} is empty: {sizes[-2]} nodes cannot be grouped by "
        f"window_sizes[{scale}] = {window}; use a longer sequence or fewer/smaller windows"
      )
  return tuple(sizes)


def _scale_starts(sizes: Sequence[int]) -> np.ndarray:
  """Global index of the first node of every scale."""
  return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _parents(child_count: int, parent_count: int, window: int) -> np.ndarray:
  """Local parent of each child: child // C, the leftover children going to the last parent."""
  return np.minimum(np.arange(child_count) // window, parent_count - 1)


@functools.lru_cache(maxsize=64)
def _pyramid_edges(seq_len: int, window_sizes: tuple[int, ...], inner_size: int):
  """Sorted unique (query, key) pairs allowed by the pyramidal graph, as two int64 arrays."""
  if inner_size < 1:
    raise ValueError(f"inner_size must be >= 1, got {inner_size}")
  sizes = pyramid_sizes(seq_len, window_sizes)
  starts = _scale_starts(sizes)
  half = inner_size // 2
  queries, keys = [], []
  # Intra-scale: a window of `half` neighbours each side, truncated at the scale's ends.
  for start, size in zip(starts, sizes, strict=True):
    local = np.arange(size)
    for offset in range(-half, half + 1):
      other = local + offset
      inside = (other >= 0) & (other < size)
      queries.append(start + local[inside])
      keys.append(start + other[inside])
  # Inter-scale: child <-> parent, in both directions.
  for scale in range(1, len(sizes)):
    children = starts[scale - 1] + np.arange(sizes[scale - 1])
    parents = starts[scale] + _parents(sizes[scale - 1], sizes[scale], window_sizes[scale - 1])
    queries += [children, parents]
    keys += [parents, children]
  total = int(sum(sizes))
  pairs = np.unique(np.concatenate(queries) * total + np.concatenate(keys))
  return pairs // total, pairs % total, total


def pyramid_mask(seq_len: int, window_sizes: Sequence[int], inner_size: int) -> np.ndarray:
  """(N, N) bool attention mask of the pyramidal graph, True = may attend; N = sum(pyramid_sizes).

  Args:
    seq_len: nodes of the finest scale (history length + 1 with the predict token).
    window_sizes: C_s, the number of children per parent at each coarser scale.
    inner_size: A, the intra-scale window (A // 2 neighbours each side, truncated at the scale
    edges).
  """
  queries, keys, total = _pyramid_edges(
    int(seq_len), tuple(int(w) for w in window_sizes), int(inner_size)
  )
  mask = np.zeros((total, total), dtype=bool)
  mask[queries, keys] = True
  return mask


@dataclasses.dataclass(frozen=True, eq=False)
class AttentionTable:
  """Padded neighbour lists of one attention layer: Q query rows attend among M input rows.

  query_rows (Q,): position of each query among the M input rows (queries are a subset of the
  inputs);
  indices (Q, K): input-row positions of each query's keys, K = the largest degree (padding repeats
  the
    query itself); valid (Q, K): False on padding;
  reverse_indices (M, R), reverse_slots (M, R), reverse_valid (M, R): for each input row, the
  queries that
    attend to it and the slot it occupies in their lists, so the backward pass collects key/value
    gradients with gathers instead of scatter-adds.
  """

  query_rows: np.ndarray
  indices: np.ndarray
  valid: np.ndarray
  reverse_indices: np.ndarray
  reverse_slots: np.ndarray
  reverse_valid: np.ndarray

  @property
  def is_square(self) -> bool:
    """True when every input row is a query (no pruning): query_rows is the identity."""
    return len(self.query_rows) == len(self.reverse_indices)


def _padded_lists(
  rows: np.ndarray, values: Sequence[np.ndarray], count: int, fill: Sequence[np.ndarray]
):
  """Groups (row, value...) pairs sorted by row into (count, width) tables padded per row."""
  degree = np.bincount(rows, minlength=count)
  width = max(int(degree.max(initial=0)), 1)
  slots = np.arange(len(rows)) - np.concatenate([[0], np.cumsum(degree)[:-1]])[rows]
  tables = []
  for value, pad in zip(values, fill, strict=True):
    table = np.repeat(np.asarray(pad)[:, None], width, axis=1)
    table[rows, slots] = value
    tables.append(table.astype(np.int32))
  valid = np.zeros((count, width), dtype=bool)
  valid[rows, slots] = True
  return tables, valid, slots


def _attention_table(
  queries: np.ndarray, keys: np.ndarray, total: int, query_nodes: np.ndarray, key_nodes: np.ndarray
) -> AttentionTable:
  """The table of the (sorted) graph edges from query_nodes to their keys in key_nodes."""
  query_pos = np.full(total, -1)
  query_pos[query_nodes] = np.arange(len(query_nodes))
  key_pos = np.full(total, -1)
  key_pos[key_nodes] = np.arange(len(key_nodes))
  chosen = query_pos[queries] >= 0
  edge_q, edge_k = query_pos[queries[chosen]], key_pos[keys[chosen]]
  if np.any(edge_k < 0) or np.any(key_pos[query_nodes] < 0):
    raise AssertionError("key_nodes must hold the queries and all their neighbours")
  query_rows = key_pos[query_nodes]
  (indices,), valid, slots = _padded_lists(edge_q, [edge_k], len(query_nodes), [query_rows])
  order = np.lexsort((edge_q, edge_k))
  zeros = np.zeros(len(key_nodes), dtype=np.int64)
  (reverse_indices, reverse_slots), reverse_valid, _ = _padded_lists(
    edge_k[order], [edge_q[order], slots[order]], len(key_nodes), [zeros, zeros]
  )
  table = AttentionTable(
    query_rows.astype(np.int32), indices, valid, reverse_indices, reverse_slots, reverse_valid
  )
  for array in dataclasses.astuple(table):
    array.flags.writeable = False  # cached and shared
  return table


@functools.lru_cache(maxsize=64)
def _neighbour_table(
  seq_len: int, window_sizes: tuple[int, ...], inner_size: int
) -> AttentionTable:
  queries, keys, total = _pyramid_edges(seq_len, window_sizes, inner_size)
  everything = np.arange(total)
  return _attention_table(queries, keys, total, everything, everything)


def neighbour_table(seq_len: int, window_sizes: Sequence[int], inner_size: int) -> AttentionTable:
  """Padded neighbour lists of `pyramid_mask(...)` for all N nodes (cached)."""
  return _neighbour_table(int(seq_len), tuple(int(w) for w in window_sizes), int(inner_size))


@dataclasses.dataclass(frozen=True, eq=False)
class LayerPlan:
  """Which pyramid nodes each encoder layer computes.

  layer_nodes[l]: global nodes of layer l's input rows, in order (layer_nodes[0]: the rows taken
  from the
    CSCM output; layer_nodes[-1]: the last layer's output rows);
  tables[l]: layer l's attention table, its queries being the rows it outputs (layer_nodes[l + 1]);
  output_rows (S,): positions, among the last layer's outputs, of the predict token and its
  ancestors.
  """

  layer_nodes: tuple[np.ndarray, ...]
  tables: tuple[AttentionTable, ...]
  output_rows: np.ndarray

  @property
  def input_nodes(self) -> np.ndarray:
    """Global nodes fed to the first layer."""
    return self.layer_nodes[0]


@functools.lru_cache(maxsize=64)
def _layer_plan(
  seq_len: int, window_sizes: tuple[int, ...], inner_size: int, n_layers: int, prune: bool
) -> LayerPlan:
  queries, keys, total = _pyramid_edges(seq_len, window_sizes, inner_size)
  targets = refer_points(seq_len, window_sizes)[-1]
  if not prune:
    table = neighbour_table(seq_len, window_sizes, inner_size)
    return LayerPlan((np.arange(total),) * (n_layers + 1), (table,) * n_layers, targets)
  # Walk back from the forecast: a layer needs its inputs at its queries' neighbours (self
  # included).
  needed = [np.unique(targets)]
  for _ in range(n_layers):
    rows = np.isin(queries, needed[-1])
    needed.append(np.union1d(needed[-1], keys[rows]))
  needed = needed[::-1]  # needed[i] = input nodes of layer i; needed[-1] = the targets
  tables = tuple(
    _attention_table(queries, keys, total, needed[i + 1], needed[i]) for i in range(n_layers)
  )
  output_rows = np.searchsorted(needed[-1], targets)
  return LayerPlan(tuple(needed), tables, output_rows)


def layer_plan(
  seq_len: int, window_sizes: Sequence[int], inner_size: int, n_layers: int, prune: bool
) -> LayerPlan:
  """Per-layer tables; with prune, each layer computes only the nodes the forecast needs."""
  return _layer_plan(
    int(seq_len), tuple(int(w) for w in window_sizes), int(inner_size), int(n_layers), bool(prune)
  )


@functools.lru_cache(maxsize=64)
def _refer_points(seq_len: int, window_sizes: tuple[int, ...]) -> np.ndarray:
  sizes = pyramid_sizes(seq_len, window_sizes)
  starts = _scale_starts(sizes)
  local = np.arange(seq_len)
  columns = [local]
  for scale in range(1, len(sizes)):
    local = _parents(sizes[scale - 1], sizes[scale], window_sizes[scale - 1])[local]
    columns.append(starts[scale] + local)
  points = np.stack(columns, axis=1).astype(np.int32)
  points.flags.writeable = False
  return points


def refer_points(seq_len: int, window_sizes: Sequence[int]) -> np.ndarray:
  """(seq_len, S) int32: row i = global indices of finest node i and its ancestors (cached)."""
  return _refer_points(int(seq_len), tuple(int(w) for w in window_sizes))


def qk_pair_count(
  seq_len: int, window_sizes: Sequence[int], inner_size: int, n_heads: int, n_layers: int
) -> int:
  """Allowed query-key pairs x heads x layers: the paper's Table 3 "Q-K pairs" for a
  configuration."""
  queries, _, _ = _pyramid_edges(int(seq_len), tuple(int(w) for w in window_sizes), int(inner_size))
  return len(queries) * n_heads * n_layers


# --------------------------------------------------------------------------------------------------
# Attention kernels: q, k, v are (B, N, H, D); both return (B, N, H, D_v)
# --------------------------------------------------------------------------------------------------


def dense_attention(
  q: jax.Array, k: jax.Array, v: jax.Array, mask: np.ndarray, dropout_scale: jax.Array | None = None
) -> jax.Array:
  """Masked softmax attention over all query-key pairs (the official PAM-Naive), O(Q M) memory.

  q: (B, Q, H, D); k: (B, M, H, D); v: (B, M, H, Dv); mask: (Q, M) bool, True = may attend (the
  pyramid mask, or its rows and columns for a pruned layer); dropout_scale: None or (B, H, Q, M)
  multipliers (0 or 1/keep) applied to the probabilities. Returns (B, Q, H, Dv).
  """
  scores = jnp.einsum("bnhd,bmhd->bhnm", q / math.sqrt(q.shape[-1]), k)
  scores = jnp.where(mask[None, None], scores, _MASKED_SCORE)
  probs = jax.nn.softmax(scores, axis=-1)
  if dropout_scale is not None:
    probs = probs * dropout_scale
  return jnp.einsum("bhnm,bmhd->bnhd", probs, v)


# The sparse path gathers each query's K neighbour rows into a (B, H, rows, K, D) block; above this
# size the rows are processed in sequential blocks (lax.map), so its memory stays a small multiple
# of q, k, v.
SPARSE_BLOCK_BYTES = 256 * 2**20


def _gather_rows(x: jax.Array, indices) -> jax.Array:
  """x (B, H, M, D) -> (B, H, Q, K, D): rows indices[n, j] of x for every head.

  Heads lead so the gathered tensor already has the (batch, head, row) batch layout of the small
  dots that consume it (no transpose copy of the K-times larger tensor).
  """
  rows = x.at[:, :, indices.reshape(-1)].get(mode="promise_in_bounds")
  return rows.reshape(x.shape[:2] + indices.shape + x.shape[3:])


def _gather_edges(per_edge: jax.Array, rows, slots, valid) -> jax.Array:
  """(B, H, Q, K) per-edge values -> (B, H, M, R) = per_edge[rows, slots], 0 where not valid."""
  return jnp.where(valid[None, None], per_edge[:, :, rows, slots], 0.0)


def _row_dots(x: jax.Array, gathered: jax.Array) -> jax.Array:
  """(B, H, Q, D) . (B, H, Q, K, D) -> (B, H, Q, K)."""
  return jnp.einsum("bhqd,bhqkd->bhqk", x, gathered)


def _row_mix(weights: jax.Array, gathered: jax.Array) -> jax.Array:
  """(B, H, Q, K) x (B, H, Q, K, D) -> (B, H, Q, D): weighted sums of the gathered rows."""
  return jnp.einsum("bhqk,bhqkd->bhqd", weights, gathered)


def _map_row_blocks(
  fn, count: int, block: int, tables: Sequence[np.ndarray], per_row: Sequence[jax.Array]
):
  """fn(rows, *tables, *per_row) over `count` rows, in sequential blocks of `block` rows.

  With block >= count, one call with rows=None (every row). tables: NumPy arrays with rows on
  axis 0; per_row: arrays (B, H, count, ...) or with a size-1 row axis (broadcast to every block).
  fn returns arrays (B, H, rows, ...), concatenated along axis 2.
  """
  if block >= count:
    return fn(None, *tables, *per_row)
  n_blocks = -(-count // block)
  padded = n_blocks * block
  blocked_tables = [
    np.concatenate([t, np.repeat(t[-1:], padded - count, axis=0)]).reshape(
      (n_blocks, block) + t.shape[1:]
    )
    for t in tables
  ]
  rows = np.minimum(np.arange(padded), count - 1).reshape(n_blocks, block).astype(np.int32)

  def split(x):
    if x.shape[2] == 1:
      return None
    x = jnp.pad(x, [(0, 0), (0, 0), (0, padded - count)] + [(0, 0)] * (x.ndim - 3), mode="edge")
    return jnp.moveaxis(x.reshape(x.shape[:2] + (n_blocks, block) + x.shape[3:]), 2, 0)

  broadcast = [x if x.shape[2] == 1 else None for x in per_row]
  blocked = [split(x) for x in per_row]

  def body(inputs):
    block_rows, block_tables, block_per_row = inputs
    values = [b if b is not None else x for b, x in zip(block_per_row, broadcast, strict=True)]
    return fn(block_rows, *block_tables, *values)

  outputs = jax.lax.map(body, (rows, blocked_tables, blocked))
  join = lambda y: jnp.moveaxis(y, 0, 2).reshape(y.shape[1:3] + (padded,) + y.shape[4:])[
    :, :, :count
  ]
  return jax.tree.map(join, outputs)


def _block_rows(q: jax.Array, width: int, block_bytes: int) -> int:
  """Rows per block so one gathered (B, H, rows, width, D) float32 block fits block_bytes."""
  batch, heads, _, depth = q.shape
  return max(8, block_bytes // (4 * batch * heads * width * depth))


def _make_sparse_attention(table: AttentionTable, block_bytes: int):
  """A custom-VJP attention over `table` on (B, H, rows, D) tensors: O(N) memory, gathers only."""
  queries, width = table.indices.shape
  keys, reverse_width = table.reverse_indices.shape

  def take(x, rows):
    return x if rows is None else x.at[:, :, rows].get(mode="promise_in_bounds")

  def forward_rows(rows, indices, valid, q, k, v, dropout_scale):
    scores = _row_dots(take(q, rows), _gather_rows(k, indices)) / math.sqrt(q.shape[-1])
    probs = jax.nn.softmax(jnp.where(valid[None, None], scores, _MASKED_SCORE), axis=-1)
    return _row_mix(probs * dropout_scale, _gather_rows(v, indices)), probs

  def query_grads(rows, indices, d_out, probs, dropout_scale, k, v):
    d_probs = _row_dots(d_out, _gather_rows(v, indices)) * dropout_scale
    d_scores = probs * (d_probs - jnp.sum(probs * d_probs, axis=-1, keepdims=True))
    d_scores = d_scores / math.sqrt(k.shape[-1])
    return _row_mix(d_scores, _gather_rows(k, indices)), d_scores

  def key_grads(rows, reverse_indices, reverse_slots, reverse_valid, q, d_out, dropped, d_scores):
    # d_v[m] = sum over the queries n that see m of p[n, slot of m] * d_out[n]: a gather over m's
    # reverse list (no scatter-add); likewise d_k with the score gradients.
    gathered = lambda x: _gather_rows(x, reverse_indices)
    edges = lambda e: _gather_edges(e, reverse_indices, reverse_slots, reverse_valid)
    return _row_mix(edges(d_scores), gathered(q)), _row_mix(edges(dropped), gathered(d_out))

  def forward(q, k, v, dropout_scale):
    block = _block_rows(q, width, block_bytes)
    out, probs = _map_row_blocks(
      lambda rows, i, m, s: forward_rows(rows, i, m, q, k, v, s),
      queries,
      block,
      [table.indices, table.valid],
      [dropout_scale],
    )
    return out, (q, k, v, probs, dropout_scale)

  @jax.custom_vjp
  def attend(q, k, v, dropout_scale):
    return forward(q, k, v, dropout_scale)[0]

  def backward(residuals, d_out):
    q, k, v, probs, dropout_scale = residuals
    d_q, d_scores = _map_row_blocks(
      lambda rows, i, g, p, s: query_grads(rows, i, g, p, s, k, v),
      queries,
      _block_rows(q, width, block_bytes),
      [table.indices],
      [d_out, probs, dropout_scale],
    )
    dropped = probs * dropout_scale
    d_k, d_v = _map_row_blocks(
      lambda rows, i, sl, m: key_grads(rows, i, sl, m, q, d_out, dropped, d_scores),
      keys,
      _block_rows(q, reverse_width, block_bytes),
      [table.reverse_indices, table.reverse_slots, table.reverse_valid],
      [],
    )
    return d_q, d_k, d_v, jnp.zeros_like(dropout_scale)

  attend.defvjp(forward, backward)
  return attend


def sparse_attention(
  q: jax.Array,
  k: jax.Array,
  v: jax.Array,
  table: AttentionTable,
  dropout_scale: jax.Array | None = None,
  block_bytes: int = SPARSE_BLOCK_BYTES,
) -> jax.Array:
  """Attention restricted to each query's neighbour list: same numbers as `dense_attention`, O(N)
  memory.

  q: (B, Q, H, D) at the table's query rows; k: (B, M, H, D), v: (B, M, H, Dv) at all M input rows;
  dropout_scale: None or (B, H, Q, K) multipliers applied to the probabilities; block_bytes: the
  largest block of gathered neighbour rows held at once (rows are processed in sequential blocks
  above it). Returns (B, Q, H, Dv).
  """
  if dropout_scale is None:
    dropout_scale = jnp.ones((1, 1, 1, 1), q.dtype)
  heads_first = lambda x: jnp.swapaxes(x, 1, 2)
  attend = _make_sparse_attention(table, block_bytes)
  return heads_first(attend(heads_first(q), heads_first(k), heads_first(v), dropout_scale))


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


def from_official_state_dict(state: dict[str, np.ndarray], n_heads: int) -> dict:
  """Flax variables {'params', 'batch_stats'} from an official Pyraformer_LR state_dict.

  `state` maps the PyTorch parameter names to NumPy arrays (e.g. {k: v.numpy() for k, v in
  model.state_dict().items()}); both decoders ("FC" and "attention") are recognised. Lets a
  checkpoint trained with the official code run here, and lets the tests compare the two
  implementations on identical weights.
  """

  def get(name):
    if name not in state:
      raise KeyError(f"official state_dict has no entry {name!r}")
    return np.asarray(state[name], dtype=np.float32)

  def linear(prefix, bias=True):
    out = {"kernel": get(prefix + ".weight").T}
    if bias:
      out["bias"] = get(prefix + ".bias")
    return out

  def norm(prefix):
    return {"scale": get(prefix + ".weight"), "bias": get(prefix + ".bias")}

  def heads_out(weight):  # (H * D, d) -> (d, H, D): PyTorch views the projection head-major
    return weight.T.reshape(weight.shape[1], n_heads, -1)

  def embedding(prefix):
    conv = get(f"{prefix}.value_embedding.tokenConv.weight")  # (d_model, C, 3)
    return {
      "token_conv": {
        "kernel": conv.transpose(2, 1, 0),
        "bias": get(f"{prefix}.value_embedding.tokenConv.bias"),
      },
      "time_linear": linear(f"{prefix}.temporal_embedding.embed"),
    }

  def block(prefix):
    attn, ffn = f"{prefix}.slf_attn", f"{prefix}.pos_ffn"
    fc = get(attn + ".fc.weight")  # (d_model, H * Dv)
    attention = {
      "query": {"kernel": heads_out(get(attn + ".w_qs.weight"))},
      "key": {"kernel": heads_out(get(attn + ".w_ks.weight"))},
      "value": {"kernel": heads_out(get(attn + ".w_vs.weight"))},
      "out": {"kernel": fc.T.reshape(n_heads, -1, fc.shape[0]), "bias": get(attn + ".fc.bias")},
      "norm": norm(attn + ".layer_norm"),
    }
    feed_forward = {
      "hidden": linear(ffn + ".w_1"),
      "out": linear(ffn + ".w_2"),
      "norm": norm(ffn + ".layer_norm"),
    }
    return attention, feed_forward

  params = {"embedding": embedding("encoder.enc_embedding")}
  cscm, batch_stats = {}, {}
  index = 0
  while f"encoder.conv_layers.conv_layers.{index}.downConv.weight" in state:
    prefix = f"encoder.conv_layers.conv_layers.{index}"
    cscm[f"conv_{index}"] = {
      "kernel": get(prefix + ".downConv.weight").transpose(2, 1, 0),
      "bias": get(prefix + ".downConv.bias"),
    }
    cscm[f"batch_norm_{index}"] = norm(prefix + ".norm")
    batch_stats[f"batch_norm_{index}"] = {
      "mean": get(prefix + ".norm.running_mean"),
      "var": get(prefix + ".norm.running_var"),
    }
    index += 1
  cscm.update(
    down=linear("encoder.conv_layers.down"),
    up=linear("encoder.conv_layers.up"),
    norm=norm("encoder.conv_layers.norm"),
  )
  params["cscm"] = cscm
  index = 0
  while f"encoder.layers.{index}.slf_attn.w_qs.weight" in state:
    attention, feed_forward = block(f"encoder.layers.{index}")
    params[f"layer_{index}"] = {"attention": attention, "feed_forward": feed_forward}
    index += 1
  if "decoder.layers.0.slf_attn.w_qs.weight" in state:
    params["decoder_embedding"] = embedding("decoder.dec_embedding")
    for index in range(2):
      attention, feed_forward = block(f"decoder.layers.{index}")
      params[f"decoder_{index}"] = {**attention, "feed_forward": feed_forward}
  params["predictor"] = {"kernel": get("predictor.linear.weight").T}
  return {"params": params, "batch_stats": {"cscm": batch_stats}}

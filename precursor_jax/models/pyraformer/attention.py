"""Attention kernels on the pyramidal graph: q, k, v are (B, N, H, D); both return (B, N, H, D_v).

`dense_attention` is the official masked N x N softmax; `sparse_attention` gathers each node's padded
neighbour list (O(N) memory, gathers only, a hand-written backward pass). They agree on outputs and
gradients (tests/test_pyraformer.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.models.pyraformer.graph import AttentionTable

# The official code fills forbidden scores with -1e9 before the softmax; any value this negative
# gives those entries exactly zero weight in float32, so the two attention paths agree.
_MASKED_SCORE = -1e9

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

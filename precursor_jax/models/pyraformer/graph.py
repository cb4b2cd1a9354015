"""The pyramidal graph of Pyraformer: scale sizes, the attention mask, neighbour lists, ancestor
indices and per-layer pruning plans. Static NumPy, cached per configuration, closed over by the
traced computation (never recomputed inside a step).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np


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

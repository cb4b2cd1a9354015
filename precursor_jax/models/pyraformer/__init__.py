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

The package: `graph` (static pyramid tables), `attention` (dense and sparse kernels), `model`
(the Flax modules), `official` (the official state dict -> our parameters).
"""

from precursor_jax.models.pyraformer.attention import (
  SPARSE_BLOCK_BYTES,
  dense_attention,
  sparse_attention,
)
from precursor_jax.models.pyraformer.graph import (
  AttentionTable,
  LayerPlan,
  _layer_plan,
  layer_plan,
  neighbour_table,
  pyramid_mask,
  pyramid_sizes,
  qk_pair_count,
  refer_points,
)
from precursor_jax.models.pyraformer.model import (
  BottleneckCSCM,
  DataEmbedding,
  DecoderLayer,
  EncoderLayer,
  FeedForward,
  Pyraformer,
  PyramidalAttention,
  PyramidGraph,
  check_forecaster_inputs,
  decoder_mask,
  sinusoid_positions,
)
from precursor_jax.models.pyraformer.official import from_official_state_dict

__all__ = [
  "SPARSE_BLOCK_BYTES",
  "AttentionTable",
  "BottleneckCSCM",
  "DataEmbedding",
  "DecoderLayer",
  "EncoderLayer",
  "FeedForward",
  "LayerPlan",
  "PyramidGraph",
  "PyramidalAttention",
  "Pyraformer",
  "_layer_plan",
  "check_forecaster_inputs",
  "decoder_mask",
  "dense_attention",
  "from_official_state_dict",
  "layer_plan",
  "neighbour_table",
  "pyramid_mask",
  "pyramid_sizes",
  "qk_pair_count",
  "refer_points",
  "sinusoid_positions",
  "sparse_attention",
]

"""Train state and hyperparameters as plain pytrees, so steps are pure and `jax.vmap` can stack them.

A `TrainState` holds only arrays (step, params, batch statistics, optimizer moments). Everything that a
hyperparameter search may vary lives in `Hyperparams`, an argument of the step rather than a constant baked
into it: `jax.vmap(train_step, in_axes=(0, None, 0))` then trains several trials on the same batch.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """Everything a training run carries from step to step (all leaves are arrays)."""

  step: jax.Array  # () int32, number of updates applied
  params: PyTree
  batch_stats: PyTree  # BatchNorm running statistics; {} for models without them
  opt_state: PyTree  # Adam moments (optax.scale_by_adam state)
  rng: jax.Array  # (2,) uint32 raw key data; per-step keys are folded from it and the step
  # Step at which a trial of a sweep diverged (its parameters froze there), -1 while healthy.
  diverged_at: jax.Array


@flax.struct.dataclass
class Hyperparams:
  """Per-trial hyperparameters, all scalars (arrays so that vmap can batch them).

  learning_rate: base rate of Adam.
  lr_decay: inverse-time decay per step, lr_t = lr / (1 + lr_decay * t) (Keras' legacy `decay`; the SES paper
    uses 8e-6). 0 disables it.
  lr_epoch_gamma: multiplicative factor per epoch, lr_t = lr * gamma ** floor(t / steps_per_epoch) (the
    Pyraformer paper uses 0.1). 1 disables it.
  steps_per_epoch: used with lr_epoch_gamma.
  weight_penalty: L2 coefficient on kernels (lambda_w of the SES paper, eq. 1).
  bias_penalty: L2 coefficient on biases (lambda_b).
  """

  learning_rate: jax.Array
  lr_decay: jax.Array
  lr_epoch_gamma: jax.Array
  steps_per_epoch: jax.Array
  weight_penalty: jax.Array
  bias_penalty: jax.Array


def make_hyperparams(
  learning_rate: float = 1e-3,
  lr_decay: float = 0.0,
  lr_epoch_gamma: float = 1.0,
  steps_per_epoch: int = 1,
  weight_penalty: float = 0.0,
  bias_penalty: float = 0.0,
) -> Hyperparams:
  """Hyperparams from Python numbers (float32 scalars; steps_per_epoch int32)."""
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  return Hyperparams(
    learning_rate=f32(learning_rate),
    lr_decay=f32(lr_decay),
    lr_epoch_gamma=f32(lr_epoch_gamma),
    steps_per_epoch=jnp.asarray(max(int(steps_per_epoch), 1), jnp.int32),
    weight_penalty=f32(weight_penalty),
    bias_penalty=f32(bias_penalty),
  )


def learning_rate_at(step: jax.Array, hp: Hyperparams) -> jax.Array:
  """The learning rate used for the update that follows `step` updates."""
  step = step.astype(jnp.float32)
  epoch = jnp.floor(step / hp.steps_per_epoch.astype(jnp.float32))
  return hp.learning_rate / (1.0 + hp.lr_decay * step) * hp.lr_epoch_gamma**epoch


def adam(eps: float = 1e-8) -> optax.GradientTransformation:
  """Adam without its learning rate: the rate comes from Hyperparams at every step.

  Keras uses eps=1e-7 (the SES paper), PyTorch 1e-8 (the Pyraformer code); configs choose.
  """
  return optax.scale_by_adam(b1=0.9, b2=0.999, eps=eps)


def create_train_state(
  params: PyTree,
  optimizer: optax.GradientTransformation,
  rng: jax.Array,
  batch_stats: PyTree | None = None,
) -> TrainState:
  """A fresh state at step 0 with zeroed optimizer moments; `rng` is a jax.random.key."""
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    batch_stats={} if batch_stats is None else batch_stats,
    opt_state=optimizer.init(params),
    rng=jax.random.key_data(rng),
    diverged_at=jnp.asarray(-1, jnp.int32),
  )


def l2_penalty(params: PyTree, hp: Hyperparams) -> jax.Array:
  """lambda_w * sum(kernel^2) + lambda_b * sum(bias^2) over the parameter tree.

  Leaves named 'bias' count as biases; LayerNorm/BatchNorm 'scale' and every other leaf count as weights,
  as in Keras where a kernel_regularizer covers the layer's weight matrices.
  """

  def is_bias(path) -> bool:
    last = path[-1]
    return getattr(last, "key", getattr(last, "name", None)) == "bias"

  leaves = jax.tree_util.tree_leaves_with_path(params)
  weights = sum((jnp.sum(jnp.square(x)) for p, x in leaves if not is_bias(p)), jnp.zeros(()))
  biases = sum((jnp.sum(jnp.square(x)) for p, x in leaves if is_bias(p)), jnp.zeros(()))
  return hp.weight_penalty * weights + hp.bias_penalty * biases

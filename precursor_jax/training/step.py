"""The training step: a pure function of (state, batch, hyperparameters).

`make_train_step(loss_fn, optimizer)` returns `train_step(state, batch, hparams) -> (state, metrics)` with no
hidden state, so it can be

* jitted as is for one device,
* wrapped by `parallel.data_parallel` (shard_map over a `batch` mesh axis; gradients averaged with pmean),
* stacked with `jax.vmap(train_step, in_axes=(0, None, 0))` to train many trials (seeds, learning rates, weight
  penalties) on the same batch in one program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from precursor_jax.training.state import Hyperparams, TrainState, l2_penalty, learning_rate_at

PyTree = Any
Metrics = dict[str, jax.Array]
# loss_fn(params, batch_stats, batch, rng, train) -> (data loss, (metrics, new batch_stats))
LossFn = Callable[
  [PyTree, PyTree, PyTree, jax.Array, bool], tuple[jax.Array, tuple[Metrics, PyTree]]
]


def step_key(state: TrainState, axis_name: str | None = None) -> jax.Array:
  """The dropout key of this step (and device): a resumed run draws the same masks."""
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  if axis_name is not None:
    key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
  return key


def make_train_step(
  loss_fn: LossFn, optimizer: optax.GradientTransformation, axis_name: str | None = None
) -> Callable[[TrainState, PyTree, Hyperparams], tuple[TrainState, Metrics]]:
  """Builds train_step(state, batch, hparams) -> (new state, metrics).

  `optimizer` returns a descent direction without the learning rate (e.g. `state.adam()`, or
  `optax.identity()` for plain gradient descent); the step scales it by -learning_rate_at(step, hparams).
  The objective is the task's data loss plus the L2 penalty of `hparams` (the penalty is added once, not per
  device). With `axis_name`, the step runs inside shard_map: gradients, metrics and BatchNorm statistics are
  averaged over that axis so every device holds the same new state.
  """

  def objective(params, state, batch, key, hp):
    data_loss, (metrics, new_batch_stats) = loss_fn(params, state.batch_stats, batch, key, True)
    penalty = l2_penalty(params, hp)
    return data_loss + penalty, (data_loss, penalty, metrics, new_batch_stats)

  def train_step(state: TrainState, batch: PyTree, hp: Hyperparams):
    key = step_key(state, axis_name)
    grads, (data_loss, penalty, metrics, new_batch_stats) = jax.grad(objective, has_aux=True)(
      state.params, state, batch, key, hp
    )
    metrics = dict(metrics, loss=data_loss)
    if axis_name is not None:
      # The penalty and its gradient are identical on every device; averaging is exact for them too.
      grads, metrics, new_batch_stats = jax.lax.pmean((grads, metrics, new_batch_stats), axis_name)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    lr = learning_rate_at(state.step, hp)
    updates = jax.tree.map(lambda u: -lr * u, updates)
    new_state = state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, updates),
      batch_stats=new_batch_stats,
      opt_state=opt_state,
    )
    metrics = dict(metrics, penalty=penalty, learning_rate=lr, grad_norm=optax.tree.norm(grads))
    return new_state, metrics

  return train_step


def freeze_diverged(train_step: Callable) -> Callable:
  """A step for stacked trials (vmapped inside) that freezes a trial whose update is not finite.

  A trial whose loss, gradient norm or updated parameters are NaN/Inf keeps its previous parameters, optimizer moments
  and batch statistics from then on, and `diverged_at` records the step; its step counter still
  advances, so every trial stays on the same batch. The other trials are not touched. The metrics
  gain a per-trial `diverged` flag, which `all_finite` uses to leave frozen trials out.
  """

  def guarded(state, batch, hp):
    new_state, metrics = train_step(state, batch, hp)
    healthy = state.diverged_at < 0
    # The loss of this step, and the parameters it would leave (a NaN rate keeps the loss finite).
    params_norm = jax.vmap(optax.tree.norm)(new_state.params)
    finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(metrics["grad_norm"])
    finite = finite & jnp.isfinite(params_norm)
    keep = healthy & finite

    def choose(new, old):
      mask = jnp.reshape(keep, keep.shape + (1,) * (new.ndim - keep.ndim))
      return jnp.where(mask, new, old)

    frozen = jax.tree.map(
      choose,
      (new_state.params, new_state.opt_state, new_state.batch_stats),
      (state.params, state.opt_state, state.batch_stats),
    )
    diverged_at = jnp.where(healthy & ~finite, state.step, state.diverged_at)
    new_state = new_state.replace(
      params=frozen[0], opt_state=frozen[1], batch_stats=frozen[2], diverged_at=diverged_at
    )
    return new_state, dict(metrics, diverged=diverged_at >= 0)

  return guarded


def all_finite(metrics: Metrics) -> bool:
  """True when every metric is finite (host-side guard against NaN/Inf).

  With a per-trial `diverged` flag (stacked trials, `freeze_diverged`) the frozen trials are left
  out: a sweep goes on while at least one trial is healthy.
  """
  diverged = metrics.get("diverged")
  if diverged is None:
    return all(bool(np.all(np.isfinite(v))) for v in metrics.values())
  healthy = ~np.asarray(diverged)
  if not healthy.any():
    return False
  return all(
    bool(np.all(np.isfinite(np.asarray(v)[healthy]))) for k, v in metrics.items() if k != "diverged"
  )

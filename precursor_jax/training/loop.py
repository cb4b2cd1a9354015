"""The training loop shared by every task: steps, logging, NaN guard, per-epoch evaluation, checkpoints.

Tasks (SES autoencoding, forecasting) supply the step, a `make_batch(step)` function and an `evaluate(state,
epoch)` function; the loop owns nothing task-specific. It starts from `state.step`, so a restored state
resumes where the checkpoint left off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from precursor_jax.data import batching
from precursor_jax.training import parallel
from precursor_jax.training.checkpoints import Checkpointer
from precursor_jax.training.state import Hyperparams, TrainState
from precursor_jax.training.step import all_finite
from precursor_jax.training.writer import MetricWriter, Progress, to_python


class StoppedEarly(Exception):
  """The run stopped at `config.stop_after_step` as if killed there (tests of resumption); its
  checkpoints are written and a rerun resumes from them."""

  def __init__(self, step: int):
    super().__init__(f"stopped at step {step} (config.stop_after_step); rerun to resume")
    self.step = step


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When things happen, in update steps."""

  total_steps: int
  steps_per_epoch: int
  log_every_steps: int = 50
  checkpoint_every_steps: int = 500  # besides every epoch end: bounds the work lost to a kill
  eval_every_epochs: int = 1  # the last epoch is always evaluated


def run(
  *,
  state: TrainState,
  train_step: Callable,
  hparams: Hyperparams,
  make_batch: Callable[[int], Any],
  schedule: Schedule,
  writer: MetricWriter,
  checkpointer: Checkpointer | None = None,
  evaluate: Callable[[TrainState, int], dict] | None = None,
  record: dict | None = None,
  stop_after_step: int | None = None,
) -> tuple[TrainState, dict]:
  """Trains from state.step to schedule.total_steps; returns the final state and the run record.

  record["history"] collects one entry of evaluation metrics per epoch; it travels with the checkpoints so
  a resumed run keeps the history of the epochs before the kill. `stop_after_step` ends the loop early
  (tests use it to simulate a kill after a checkpoint).
  """
  record = dict(record or {})
  record.setdefault("history", [])
  # A stacked state (sweeps: one step counter per trial, all equal) resumes like a single one.
  start = int(np.ravel(jax.device_get(state.step))[0])
  progress = Progress(schedule.total_steps, start)
  for step, batch in batching.prefetch(make_batch, range(start, schedule.total_steps)):
    state, metrics = train_step(state, batch, hparams)
    done = step + 1
    epoch_end = done % schedule.steps_per_epoch == 0
    if done % schedule.log_every_steps == 0 or done == schedule.total_steps or done == start + 1:
      metrics = jax.device_get(metrics)
      if not all_finite(metrics):
        raise FloatingPointError(
          f"non-finite training metrics at step {done}: {to_python(metrics)}; "
          "lower the learning rate or check the input data for NaN"
        )
      timing = progress.update(done)
      writer.write(done, {**metrics, **timing}, prefix="train/")
      progress.print(done, done / schedule.steps_per_epoch, metrics, timing)
    epoch = done // schedule.steps_per_epoch
    due = epoch % schedule.eval_every_epochs == 0 or done == schedule.total_steps
    if epoch_end and due and evaluate is not None:
      results = evaluate(state, epoch)
      writer.write(done, results)
      record["history"].append({"epoch": epoch, "step": done, **to_python(results)})
      if jax.process_index() == 0:
        print(
          f"epoch {epoch}: "
          + ", ".join(
            f"{k} {v:.4g}" for k, v in to_python(results).items() if isinstance(v, (int, float))
          ),
          flush=True,
        )
    if checkpointer is not None and (
      epoch_end or done % schedule.checkpoint_every_steps == 0 or done == schedule.total_steps
    ):
      checkpointer.save(done, state, record, force=True)
    if stop_after_step is not None and done >= stop_after_step:
      break
  writer.flush()
  if checkpointer is not None:
    checkpointer.wait()
  return state, record


def sharded_train_batches(
  arrays: Mapping[str, np.ndarray], batch_size: int, seed: int, mesh
) -> Callable[[int], Any]:
  """make_batch(step) for `run`: this process's rows of the step's shuffled global batch, on the mesh."""
  num_examples = len(next(iter(arrays.values())))
  rows = parallel.process_slice(batch_size)

  def make_batch(step: int):
    index = batching.train_batch_indices(
      step, num_examples=num_examples, batch_size=batch_size, seed=seed
    )
    return parallel.shard_batch(batching.take(arrays, index[rows]), mesh)

  return make_batch


def predict_split(
  predict: Callable, state: TrainState, arrays: Mapping[str, np.ndarray], batch_size: int, mesh
) -> dict[str, np.ndarray]:
  """Per-example outputs of predict(state, batch) over a whole split (padded batches, padding dropped).

  `predict` is a `parallel.data_parallel_apply` function returning a dict of (batch, ...) arrays.
  Each process feeds its own rows of every batch; in a multi-process run every process must call
  this together, and every process gets the outputs of the whole split.
  """
  rows = parallel.process_slice(batch_size)
  outputs = []
  for batch, valid in batching.eval_batches(arrays, batch_size):
    local = {k: v[rows] for k, v in batch.items()}
    # Every process gets the whole batch's outputs, its own rows and the others'.
    result = parallel.to_host(predict(state, parallel.shard_batch(local, mesh)))
    outputs.append({k: v[valid] for k, v in result.items()})
  return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}

"""Orbax checkpoints of the train state, so that a killed run resumes where it stopped.

A checkpoint holds the whole `TrainState` (params, batch statistics, optimizer moments, step, rng) and a small
JSON record (epoch, best validation metrics, ...). Because batches and dropout keys are pure functions of the
step (see `data/batching.py` and `step.step_key`), restoring the state at step s and continuing gives the same
parameters as a run that was never interrupted.

Resume order on start (as big_vision): an existing checkpoint in the workdir > `init_from` (another run's
parameters, fresh optimizer: transfer learning) > scratch.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

PyTree = Any


class Checkpointer:
  """Saves and restores (state, record) pairs under `directory` with orbax's CheckpointManager."""

  def __init__(
    self, directory: str | pathlib.Path, *, max_to_keep: int = 2, save_interval_steps: int = 1
  ):
    self.directory = pathlib.Path(directory).resolve()
    options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, save_interval_steps=save_interval_steps, create=True
    )
    self._manager = ocp.CheckpointManager(
      self.directory, options=options, item_names=("state", "record")
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: PyTree, record: dict, *, force: bool = False) -> bool:
    """Saves asynchronously when `step` is due (every save_interval_steps) or when forced."""
    return self._manager.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)),
      force=force,
    )

  def restore(self, abstract_state: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
    """Restores (state, record) at `step` (default: latest) with the shardings of `abstract_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), record=ocp.args.JsonRestore()
      ),
    )
    return restored["state"], dict(restored["record"] or {})

  def restore_as_stored(self, step: int | None = None) -> tuple[PyTree, dict]:
    """(state, record) at `step` (default: latest) as nested dicts of host arrays, without a target
    structure: for inspecting a run's checkpoints."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    restored = self._manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(), record=ocp.args.JsonRestore())
    )
    return restored["state"], dict(restored["record"] or {})

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def abstract_like(tree: PyTree) -> PyTree:
  """ShapeDtypeStructs (with shardings) of a live pytree: the restore target."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def restore_params(directory: str | pathlib.Path, abstract_state: PyTree) -> tuple[PyTree, PyTree]:
  """(params, batch_stats) of the latest checkpoint in another run's checkpoint directory (transfer learning)."""
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise FileNotFoundError(f"init_from: no checkpoint directory {directory}")
  checkpointer = Checkpointer(directory)
  try:
    if checkpointer.latest_step() is None:
      raise FileNotFoundError(f"init_from: {directory} holds no checkpoint")
    state, _ = checkpointer.restore(abstract_state)
  finally:
    checkpointer.close()
  return state.params, state.batch_stats


def restore_or_initialize(
  checkpointer: Checkpointer, state: PyTree, init_from: str | pathlib.Path | None = None
) -> tuple[PyTree, dict]:
  """The state a run starts from, in big_vision's order: the workdir's latest checkpoint (resume) >
  `init_from`, another run's workdir (its parameters and batch statistics, fresh optimizer and step:
  transfer learning) > `state` as given (scratch). Returns (state, run record)."""
  if checkpointer.latest_step() is not None:
    try:
      state, record = checkpointer.restore(abstract_like(state))
    except Exception as error:  # orbax reports a tree mismatch as a long dump of both trees
      raise ValueError(
        f"the checkpoint in {checkpointer.directory} does not fit this model's state "
        f"({type(error).__name__}): it was written by a run with another model or sizes; "
        "use another --workdir"
      ) from error
    print(
      f"resuming from step {checkpointer.latest_step()} in {checkpointer.directory}", flush=True
    )
    return state, record
  if init_from:
    source = pathlib.Path(init_from).expanduser()
    params, batch_stats = restore_params(source / "checkpoints", abstract_like(state))
    print(f"initialised parameters from {source}", flush=True)
    return state.replace(params=params, batch_stats=batch_stats), {"init_from": str(source)}
  return state, {}

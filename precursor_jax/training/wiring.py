"""The one function that joins a task to the training core: `train(config, run, problem)`.

A task (precursor_jax/tasks/) describes what it trains as a `Problem`: how to initialise the model
from a seed, its loss, its per-example predictions, how to score a split, and its arrays. `train`
does the rest, the same way for every task and for sweeps:

  train state (one, or a stack of one per trial) -> replicated on the mesh
  -> config.json / environment.json written (start-up checks have passed by then)
  -> restored from the workdir's last checkpoint, else `config.init_from`, else scratch
  -> data-parallel step (jit(shard_map), state donated; vmapped over trials, diverging trials frozen)
  -> the shared loop (logging, NaN guard, per-epoch evaluation, checkpoints)
  -> checkpointer and writer closed, whatever happened.

A run stopped by `config.stop_after_step` raises `loop.StoppedEarly` after its checkpoints are
written; a finished run returns `Trained`, whose `predict_split` the task uses for its report.

`start_run` is the start-up check every task calls first: the workdir may take this run
(`runs.check_workdir`), the mesh exists and every batch size divides over it. It writes nothing.
Distributed initialisation happens earlier, in the entry points.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from precursor_jax.data import batching
from precursor_jax.training import checkpoints, loop, parallel, runs
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import MetricWriter

Arrays = Mapping[str, np.ndarray]
# Config fields a trial of a sweep may set and still share the compiled step with the others.
VMAPPABLE_FIELDS = (
  "learning_rate",
  "lr_decay",
  "lr_epoch_gamma",
  "weight_penalty",
  "bias_penalty",
  "seed",
)


@dataclasses.dataclass(frozen=True)
class RunContext:
  """Where a run writes (absolute workdir), the device mesh, and whether a changed config may resume."""

  workdir: pathlib.Path
  mesh: Mesh
  force_resume: bool = False
  extra: Mapping[str, Any] | None = None  # stored in config.json under "_run" (a sweep's trials)


def start_run(
  config: Any,
  workdir: str | pathlib.Path,
  batch_sizes: Sequence[int],
  *,
  force_resume: bool = False,
  extra: Mapping[str, Any] | None = None,
) -> RunContext:
  """The start-up checks of every training task; nothing is written (see the module doc)."""
  path = runs.check_workdir(workdir, config, force=force_resume, extra=extra)
  mesh = parallel.make_mesh(config.num_devices)
  for batch_size in batch_sizes:
    parallel.check_batch_size(batch_size, mesh)
  print(
    f"devices: {mesh.size} x {jax.devices()[0].platform}; global batch {batch_sizes[0]}", flush=True
  )
  return RunContext(path, mesh, force_resume, extra)


@dataclasses.dataclass(frozen=True)
class Problem:
  """What a task trains, in the terms the wiring needs.

  init: key of a seed -> (variables {"params", optional "batch_stats"}, key of the state's rng);
    each task keeps its own way of splitting the seed.
  loss_fn: step.LossFn.
  predict_fn: predict(state, batch) -> dict of per-example (B, ...) outputs; runs on device.
  score_fn: score(outputs, split arrays) -> {metric: float}, on the host, per split (and trial).
  train_arrays: the arrays batches are cut from (only `batch_keys` are sent to the devices).
  eval_splits: name -> arrays evaluated after every `eval_every_epochs` epochs.
  batch_keys: the arrays a batch sends to the devices, for training and for prediction.
  fingerprints: name -> data fingerprint, recorded in environment.json and checked on resume.
  """

  init: Callable[[jax.Array], tuple[dict, jax.Array]]
  loss_fn: step_lib.LossFn
  predict_fn: Callable[[state_lib.TrainState, dict], dict[str, jax.Array]]
  score_fn: Callable[[dict[str, np.ndarray], Arrays], dict[str, float]]
  train_arrays: Arrays
  eval_splits: Mapping[str, Arrays]
  batch_keys: tuple[str, ...]
  fingerprints: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Trained:
  """A finished run: its final state (stacked over trials for a sweep) and how to predict with it."""

  state: state_lib.TrainState
  record: dict
  run: RunContext
  problem: Problem
  predict: Callable  # data-parallel predict(state, batch); outputs (B, trial, ...) for a sweep
  steps_per_epoch: int
  total_steps: int
  train_seconds: float
  trials: tuple[dict, ...] | None

  def predict_split(self, arrays: Arrays, batch_size: int) -> dict[str, np.ndarray]:
    """Per-example outputs of the final state over a whole split (only the inputs travel)."""
    inputs = {k: arrays[k] for k in self.problem.batch_keys}
    return loop.predict_split(self.predict, self.state, inputs, batch_size, self.run.mesh)


def hyperparams(config: Any, steps_per_epoch: int, trial: Mapping[str, Any] | None = None):
  """The Hyperparams of the config, with a trial's values where it sets them."""
  values = {name: config[name] for name in VMAPPABLE_FIELDS if name != "seed"}
  values.update({k: v for k, v in (trial or {}).items() if k in values})
  return state_lib.make_hyperparams(steps_per_epoch=steps_per_epoch, **values)


def data_seed(config: Any) -> int:
  """The seed of the training-example order: config.data_seed, else config.seed."""
  return config.seed if config.data_seed is None else config.data_seed


def eval_batch_size(config: Any) -> int:
  """The batch size of evaluation and prediction: config.eval_batch_size, else batch_size."""
  return config.eval_batch_size or config.batch_size


def stack(trees: Sequence) -> Any:
  """Pytrees of one structure stacked along a new leading (trial) axis."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def initial_state(problem: Problem, optimizer, seed: int) -> state_lib.TrainState:
  variables, rng_key = problem.init(jax.random.key(int(seed)))
  return state_lib.create_train_state(
    variables["params"], optimizer, rng_key, variables.get("batch_stats")
  )


def _evaluator(problem: Problem, predict, mesh, batch_size: int, num_trials: int | None):
  """evaluate(state, epoch) for the loop: every eval split scored (per trial for a sweep)."""

  def evaluate(state, epoch):
    del epoch
    results: dict[str, Any] = {}
    for name, arrays in problem.eval_splits.items():
      inputs = {k: arrays[k] for k in problem.batch_keys}
      outputs = loop.predict_split(predict, state, inputs, batch_size, mesh)
      if num_trials is None:
        scores = problem.score_fn(outputs, arrays)
        results.update({f"{name}/{k}": v for k, v in scores.items()})
      else:
        per_trial = [
          problem.score_fn({k: v[:, i] for k, v in outputs.items()}, arrays)
          for i in range(num_trials)
        ]
        for key in per_trial[0]:
          results[f"{name}/{key}"] = [scores[key] for scores in per_trial]
    return results

  return evaluate


def data_parallel_step(problem: Problem, optimizer, mesh: Mesh, *, stacked: bool = False):
  """The training step every run uses: jit(shard_map(step)) with the state donated; for stacked
  trials the step is vmapped over the trial axis and freezes trials that diverge."""
  step = step_lib.make_train_step(problem.loss_fn, optimizer, axis_name=parallel.BATCH_AXIS)
  if stacked:
    step = step_lib.freeze_diverged(jax.vmap(step, in_axes=(0, None, 0)))
  return parallel.data_parallel(step, mesh)


def data_parallel_predict(problem: Problem, mesh: Mesh, *, stacked: bool = False):
  """jit(shard_map(predict)); for stacked trials the outputs are (batch, trial, ...): the batch
  axis stays first, where the mesh splits it."""
  predict_fn = problem.predict_fn
  if stacked:
    predict_fn = jax.vmap(predict_fn, in_axes=(0, None), out_axes=1)
  return parallel.data_parallel_apply(predict_fn, mesh)


def train(
  config: Any,
  run: RunContext,
  problem: Problem,
  *,
  trials: Sequence[Mapping[str, Any]] | None = None,
) -> Trained:
  """Trains `problem` as `config` says (or every trial of `trials` together); see the module doc."""
  mesh = run.mesh
  num_examples = len(next(iter(problem.train_arrays.values())))
  per_epoch = batching.steps_per_epoch(num_examples, config.batch_size)
  total_steps = per_epoch * config.num_epochs
  optimizer = state_lib.adam(config.adam_eps)
  if trials is None:
    state = initial_state(problem, optimizer, config.seed)
    hparams = hyperparams(config, per_epoch)
  else:
    trials = tuple(dict(t) for t in trials)
    unknown = sorted({k for t in trials for k in t} - set(VMAPPABLE_FIELDS))
    if unknown:
      raise ValueError(f"trials set {unknown}; stacked trials may vary only {VMAPPABLE_FIELDS}")
    if config.init_from:
      raise ValueError(
        "config.init_from is for single runs; a sweep starts every trial from scratch"
      )
    state = stack([initial_state(problem, optimizer, t.get("seed", config.seed)) for t in trials])
    hparams = stack([hyperparams(config, per_epoch, t) for t in trials])
  state = parallel.replicate(state, mesh)
  runs.record_start(
    run.workdir,
    config,
    fingerprints=problem.fingerprints,
    force=run.force_resume,
    extra=run.extra,
  )

  train_step = data_parallel_step(problem, optimizer, mesh, stacked=trials is not None)
  predict = data_parallel_predict(problem, mesh, stacked=trials is not None)
  schedule = loop.Schedule(
    total_steps=total_steps,
    steps_per_epoch=per_epoch,
    log_every_steps=config.log_every_steps,
    checkpoint_every_steps=config.checkpoint_every_steps,
    eval_every_epochs=config.eval_every_epochs,
  )
  evaluate = _evaluator(
    problem, predict, mesh, eval_batch_size(config), None if trials is None else len(trials)
  )
  inputs = {k: problem.train_arrays[k] for k in problem.batch_keys}
  make_batch = loop.sharded_train_batches(inputs, config.batch_size, data_seed(config), mesh)

  checkpointer = checkpoints.Checkpointer(
    run.workdir / "checkpoints", max_to_keep=config.checkpoints_to_keep
  )
  writer = None
  try:
    state, record = checkpoints.restore_or_initialize(checkpointer, state, config.init_from)
    writer = MetricWriter(run.workdir)
    started = time.time()
    state, record = loop.run(
      state=state,
      train_step=train_step,
      hparams=hparams,
      make_batch=make_batch,
      schedule=schedule,
      writer=writer,
      checkpointer=checkpointer,
      evaluate=evaluate,
      record=record,
      stop_after_step=config.stop_after_step,
    )
    train_seconds = time.time() - started
  finally:
    checkpointer.close()
    if writer is not None:
      writer.close()
  done = int(np.ravel(jax.device_get(state.step))[0])
  if done < total_steps:
    raise loop.StoppedEarly(done)
  return Trained(
    state, record, run, problem, predict, per_epoch, total_steps, train_seconds, trials
  )

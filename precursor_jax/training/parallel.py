"""Data parallelism over every visible device: one jitted shard_map program over a `batch` mesh axis.

The same code runs on 1 CPU, on 8 fake CPU devices (tests), on 8 GPUs and on a multi-host TPU slice: the state
is replicated, the global batch is split along its first axis, and the step averages gradients with
`lax.pmean` (see `step.make_train_step(axis_name=BATCH_AXIS)`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

PyTree = Any
BATCH_AXIS = "batch"


def maybe_initialize_distributed() -> None:
  """Joins a multi-host cluster when the environment describes one (TPU pods, SLURM, JAX_COORDINATOR_*)."""
  cluster_env = (
    "JAX_COORDINATOR_ADDRESS",
    "SLURM_JOB_ID",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
  )
  if not any(os.environ.get(name) for name in cluster_env):
    return
  try:
    jax.distributed.initialize()
  except (ValueError, RuntimeError) as error:  # single-host runs under a scheduler
    logging.info("jax.distributed.initialize() skipped: %s", error)


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh named `batch` over all devices (or the first `num_devices`)."""
  devices = jax.devices()
  if num_devices is not None:
    if not 1 <= num_devices <= len(devices):
      raise ValueError(f"num_devices={num_devices} but {len(devices)} devices are visible")
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (BATCH_AXIS,))


def check_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """Per-device batch size; stops with a message when the global batch does not divide evenly."""
  num_devices = mesh.size
  if global_batch_size % num_devices:
    raise ValueError(
      f"config.batch_size={global_batch_size} does not divide by the {num_devices} devices of the mesh; "
      f"choose a multiple of {num_devices} (e.g. {num_devices * max(1, global_batch_size // num_devices)}) "
      "or set config.num_devices"
    )
  if global_batch_size % jax.process_count():
    raise ValueError(
      f"config.batch_size={global_batch_size} does not divide by the "
      f"{jax.process_count()} processes"
    )
  return global_batch_size // num_devices


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXIS))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
  """Places a host pytree (the train state) on every device of the mesh."""
  return jax.device_put(tree, replicated(mesh))


def shard_batch(local_batch: PyTree, mesh: Mesh) -> PyTree:
  """Turns this process's slice of the global batch (numpy) into global arrays split along axis 0."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(
    lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
  )


def process_slice(global_batch_size: int) -> slice:
  """The rows of a global batch that this process loads."""
  per_process = global_batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def data_parallel(step_fn: Callable, mesh: Mesh, *, donate_state: bool = True) -> Callable:
  """jit(shard_map(step_fn)) for step_fn(state, batch, hparams): state and hparams replicated, batch split.

  step_fn must have been built with axis_name=BATCH_AXIS so that it averages over the devices.
  """
  sharded = jax.shard_map(
    step_fn, mesh=mesh, in_specs=(P(), P(BATCH_AXIS), P()), out_specs=(P(), P())
  )
  return jax.jit(sharded, donate_argnums=(0,) if donate_state else ())


def data_parallel_apply(apply_fn: Callable, mesh: Mesh) -> Callable:
  """jit(shard_map(apply_fn)) for apply_fn(state, batch) -> per-example outputs split like the batch."""
  sharded = jax.shard_map(
    apply_fn, mesh=mesh, in_specs=(P(), P(BATCH_AXIS)), out_specs=P(BATCH_AXIS)
  )
  return jax.jit(sharded)

"""Data parallelism over every visible device: one jitted shard_map program over a `batch` mesh axis.

The same code runs on 1 CPU, on 8 fake CPU devices (tests), on 8 GPUs and on a multi-host TPU slice: the state
is replicated, the global batch is split along its first axis, and the step averages gradients with
`lax.pmean` (see `step.make_train_step(axis_name=BATCH_AXIS)`).

Several processes (hosts, or several processes on one machine) run the same program: each loads only
its own rows of every global batch (`process_slice`, `shard_batch`), and per-example outputs that
live in other processes' devices come back through `to_host`, which every process calls together.
`maybe_initialize_distributed` joins the processes into one cluster; afterwards only process 0
prints (the others' stdout goes to /dev/null, stderr stays), so a run shows one log and one report.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

PyTree = Any
BATCH_AXIS = "batch"


def maybe_initialize_distributed() -> None:
  """Joins a multi-host cluster when the environment describes one, before any device is used.

  JAX detects TPU pods, SLURM, Open MPI and Kubernetes (with the `kubernetes` package) by itself.
  Anywhere else (a JobSet without that package, several processes on one machine) the launcher
  sets JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and JAX_PROCESS_ID (read here; JAX
  itself reads only the address), and a failure to join is an error. Without them a failed
  auto-detection is a single-host run under a scheduler and is skipped with a log line.
  Afterwards only process 0 prints (`primary_prints_only`).
  """
  cluster_env = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "SLURM_JOB_ID",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
  )
  if not any(os.environ.get(name) for name in cluster_env):
    return
  explicit = explicit_cluster(os.environ)
  if explicit is not None:
    jax.distributed.initialize(**explicit)
  else:
    try:
      jax.distributed.initialize()
    except (ValueError, RuntimeError) as error:  # single-host runs under a scheduler
      logging.info("jax.distributed.initialize() skipped: %s", error)
      return
  primary_prints_only()


def explicit_cluster(environ) -> dict | None:
  """initialize() arguments from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID
  when all three are set; None when JAX_NUM_PROCESSES is absent; ValueError when one is missing or
  not a number (a half-described cluster must not fall back to training alone)."""
  if not environ.get("JAX_NUM_PROCESSES"):
    return None
  missing = [n for n in ("JAX_COORDINATOR_ADDRESS", "JAX_PROCESS_ID") if not environ.get(n)]
  if missing:
    raise ValueError(f"JAX_NUM_PROCESSES is set but {' and '.join(missing)} is not")
  try:
    count, index = int(environ["JAX_NUM_PROCESSES"]), int(environ["JAX_PROCESS_ID"])
  except ValueError:
    raise ValueError(
      f"JAX_NUM_PROCESSES={environ['JAX_NUM_PROCESSES']!r} and JAX_PROCESS_ID="
      f"{environ['JAX_PROCESS_ID']!r}: expected integers"
    ) from None
  if not 0 <= index < count:
    raise ValueError(f"JAX_PROCESS_ID={index}: expected 0 <= id < JAX_NUM_PROCESSES={count}")
  return dict(
    coordinator_address=environ["JAX_COORDINATOR_ADDRESS"], num_processes=count, process_id=index
  )


def primary_prints_only() -> None:
  """Sends the stdout of every process but process 0 to /dev/null (errors, on stderr, stay), so a
  multi-process run prints one log and one report. PRECURSOR_JAX_ALL_PROCESSES_PRINT=1 keeps every
  process's output (debugging)."""
  if jax.process_index() != 0 and not os.environ.get("PRECURSOR_JAX_ALL_PROCESSES_PRINT"):
    sys.stdout.flush()
    sys.stdout = open(os.devnull, "w")  # open for the life of the process


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


def to_host(tree: PyTree) -> PyTree:
  """NumPy copies of every array of a pytree, whole on every process.

  An array split over the devices of several processes (per-example outputs of a multi-process
  run) cannot be fetched by jax.device_get; it is gathered with process_allgather, so every
  process must call this at the same point. Arrays this process holds entirely (everything in a
  single-process run) are fetched by jax.device_get, as before.
  """

  def fetch(x):
    if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))

  return jax.tree.map(fetch, tree)


def data_parallel(step_fn: Callable, mesh: Mesh, *, donate_state: bool = True) -> Callable:
  """jit(shard_map(step_fn)) for step_fn(state, batch, hparams): state and hparams replicated, batch split.

  step_fn must have been built with axis_name=BATCH_AXIS so that it averages over the devices.
  The step's own pmean is the only reduction: with shard_map's replication checks on
  (check_vma=True), the gradient with respect to the replicated parameters would already be
  summed over the devices, and the pmean after it would leave N times the mean gradient (an N x
  larger step for SGD, a different one for Adam through its eps).
  """
  sharded = jax.shard_map(
    step_fn,
    mesh=mesh,
    in_specs=(P(), P(BATCH_AXIS), P()),
    out_specs=(P(), P()),
    check_vma=False,
  )
  return jax.jit(sharded, donate_argnums=(0,) if donate_state else ())


def data_parallel_apply(apply_fn: Callable, mesh: Mesh) -> Callable:
  """jit(shard_map(apply_fn)) for apply_fn(state, batch) -> per-example outputs split like the batch."""
  sharded = jax.shard_map(
    apply_fn, mesh=mesh, in_specs=(P(), P(BATCH_AXIS)), out_specs=P(BATCH_AXIS)
  )
  return jax.jit(sharded)

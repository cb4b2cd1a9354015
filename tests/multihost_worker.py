"""One process of a multi-process SES run on this machine (started by tests/test_multihost.py).

  JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 \
      python tests/multihost_worker.py --workdir DIR --data_dir TFDS --overrides JSON --out DIR

Every process runs this same program, as on a cluster. It switches the CPU collectives to gloo
(XLA's CPU collectives across processes) before any device exists, joins the cluster the way
every entry point does (parallel.maybe_initialize_distributed: the JAX_* variables above), then
trains and evaluates the SES task through its real home (tasks.ses.train_and_evaluate: the shared
wiring, each process feeding its own rows of every global batch, orbax checkpoints written by
all processes into one workdir, reports by process 0). Without the JAX_* variables it is a plain
single-process run of the same config.

With --sweep it then runs a 2-trial learning-rate sweep of the same config through
tasks/sweeps.run_sweep in `<workdir>_sweep` (the trials vmapped, the best trial exported by
every process together).

It writes, per process, `<out>/process_<i>.json` (process index and count, devices, wall time,
the test scores); the test reads the parameters from the checkpoint both processes wrote.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

from precursor_jax import config_base, tasks
from precursor_jax.tasks import ses, sweeps
from precursor_jax.training import parallel


def tiny_config(data_dir: str, overrides: dict):
  """The SES laptop config with the test's dotted overrides (a tiny network on a tiny set)."""
  config = config_base.ses_config("hkb", "small")
  config.dataset.data_dir = str(data_dir)
  config.update_from_flattened_dict(dict(overrides))
  return config


def main(argv=None) -> None:
  """Joins the cluster, trains, writes this process's result files."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--overrides", default="{}", help="JSON {dotted field: value}")
  parser.add_argument("--out", required=True, help="directory for process_<i>.json")
  parser.add_argument("--local_devices", type=int, default=1, help="CPU devices per process")
  parser.add_argument("--sweep", action="store_true", help="then a 2-trial learning-rate sweep")
  args = parser.parse_args(argv)
  # Both before the first device exists: after it, JAX can no longer join a cluster.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.config.update("jax_num_cpu_devices", args.local_devices)
  started = time.perf_counter()
  parallel.maybe_initialize_distributed()
  config = tiny_config(args.data_dir, json.loads(args.overrides))
  summary = ses.train_and_evaluate(config, args.workdir)
  wall = time.perf_counter() - started
  if args.sweep:
    trials = [{"learning_rate": 1e-3}, {"learning_rate": 3e-3}]
    sweeps.run_sweep(tasks.get("ses"), config, trials, f"{args.workdir}_sweep")
  index = jax.process_index()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  result = {
    "process_index": index,
    "process_count": jax.process_count(),
    "local_devices": jax.local_device_count(),
    "devices": jax.device_count(),
    "wall_seconds": wall,
    "train_seconds": summary["train_seconds_this_process"],
    "test": summary["test"],
  }
  (out / f"process_{index}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()

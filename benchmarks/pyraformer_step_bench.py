"""Training-step time of the Flax Pyraformer (ETTh1 168 -> 168, batch 32) against the official
PyTorch code.

One step is the production step: the one `python -m precursor_jax.train --config
configs/pyraformer_etth1.py` runs (tasks.forecast.setup + wiring.data_parallel_step: forward in
train mode with dropout 0.05, MSE, backward, Adam with the config's learning-rate schedule, as one
jit(shard_map) XLA program with the state donated). Each variant runs in its own process pinned to the same CPU set
(os.sched_setaffinity, like `taskset`), with XLA's CPU thread pool limited to that many threads; the
official code runs pinned the same way with torch.set_num_threads. FLOPs per step come from XLA's
cost analysis of the compiled step (the "dense" variant does the official code's arithmetic, so its
count is used for the official row too).

  python benchmarks/pyraformer_step_bench.py --threads 1
  python benchmarks/pyraformer_step_bench.py --threads 1 --official-repo /tmp/pyraformer-official \\
      --torch-python /tmp/torch-venv/bin/python        # see benchmarks/official_pyraformer.py

Variants: {sparse, dense} attention x {pruned (each layer computes only the nodes the forecast
depends on, the model's default), all nodes}; "dense" with all nodes is the official computation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {
  "sparse_pruned": dict(attention="sparse", prune=True),
  "dense_pruned": dict(attention="dense", prune=True),
  "sparse": dict(attention="sparse", prune=False),
  "dense": dict(attention="dense", prune=False),
}


# ------------------------------------------------------------------------------------------
# environment


def cpu_model() -> str:
  """The CPU model name from /proc/cpuinfo (or the platform string)."""
  try:
    with open("/proc/cpuinfo") as handle:
      for line in handle:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def thread_environment(threads: int) -> dict[str, str]:
  """Environment that limits XLA's CPU threads (and BLAS/OpenMP pools) to `threads`."""
  env = dict(os.environ)
  flags = env.get("XLA_FLAGS", "")
  if threads == 1:
    flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  env.update(
    XLA_FLAGS=flags.strip(),
    OMP_NUM_THREADS=str(threads),
    MKL_NUM_THREADS=str(threads),
    OPENBLAS_NUM_THREADS=str(threads),
  )
  return env


def pinned(cpus: list[int]):
  """preexec_fn pinning a child process to `cpus` (what `taskset -c` does)."""
  return lambda: os.sched_setaffinity(0, set(cpus))


def run_json(command: list[str], cpus: list[int], threads: int, timeout: float) -> dict:
  """Runs a worker command pinned to cpus and returns the JSON object on its last stdout line."""
  result = subprocess.run(
    command,
    env=thread_environment(threads),
    preexec_fn=pinned(cpus),
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
  if result.returncode != 0 or not lines:
    tail = (result.stderr or result.stdout)[-2000:]
    return {
      "error": f"exit {result.returncode}: {tail.strip().splitlines()[-1] if tail.strip() else ''}"
    }
  return json.loads(lines[-1])


def header(title: str, args_line: str, load_before, load_after, extra: dict[str, str]) -> str:
  """Markdown lines: title, date, device, command, load."""
  import jax

  lines = [
    f"## {title}",
    "",
    f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
    f"- device: {cpu_model()}, {os.cpu_count()} logical CPUs; jax {jax.__version__} "
    f"({jax.default_backend()})",
    f"- command: `{args_line}`",
    f"- load average (1/5/15 min) before: {load_before[0]:.2f}/{load_before[1]:.2f}/"
    f"{load_before[2]:.2f}, after: {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}",
  ]
  lines += [f"- {key}: {value}" for key, value in extra.items()]
  return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# worker


def worker(args) -> dict:
  """Compiles and times one variant's production training step in this process.

  The step is the one `python -m precursor_jax.train --config configs/pyraformer_etth1.py` runs:
  tasks.forecast.setup builds the problem, wiring.data_parallel_step makes jit(shard_map(step))
  with the state donated, on the mesh of this process's devices, with the config's Adam and
  learning-rate schedule; only the windows are random (ETTh1 shapes).
  """
  import jax
  import numpy as np

  from precursor_jax import config_base
  from precursor_jax.tasks import forecast
  from precursor_jax.training import parallel, wiring
  from precursor_jax.training import state as state_lib

  config = config_base.forecast_config(model="pyraformer", horizon=168)
  config.dataset.history, config.dataset.horizon = args.history, args.horizon
  config.model.pyraformer.update(VARIANTS[args.worker])
  config.batch_size = args.batch
  rng = np.random.default_rng(0)
  count = 2 * args.batch

  def windows(length, width):
    return rng.normal(size=(count, length, width)).astype(np.float32)

  split = {
    "history": windows(args.history, args.channels),
    "history_time": rng.uniform(-0.5, 0.5, (count, args.history, 4)).astype(np.float32),
    "future_time": rng.uniform(-0.5, 0.5, (count, args.horizon, 4)).astype(np.float32),
    "future": windows(args.horizon, args.channels),
  }
  problem = forecast.setup(config, {"train": split, "val": split, "test": split})
  mesh = parallel.make_mesh(config.num_devices)
  optimizer = state_lib.adam(config.adam_eps)
  state = parallel.replicate(wiring.initial_state(problem, optimizer, config.seed), mesh)
  hparams = wiring.hyperparams(config, steps_per_epoch=count // args.batch)
  step = wiring.data_parallel_step(problem, optimizer, mesh)
  batches = [
    parallel.shard_batch(
      {k: v[i * args.batch : (i + 1) * args.batch] for k, v in split.items()}, mesh
    )
    for i in range(2)
  ]
  start = time.perf_counter()
  compiled = step.lower(state, batches[0], hparams).compile()
  compile_seconds = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  memory = compiled.memory_analysis()
  walls, cpus = [], []
  for index in range(args.warmup + args.steps):
    wall, cpu = time.perf_counter(), time.process_time()
    state, metrics = compiled(state, batches[index % 2], hparams)
    loss = jax.block_until_ready(metrics["loss"])
    if index >= args.warmup:
      walls.append(time.perf_counter() - wall)
      cpus.append(time.process_time() - cpu)
  return dict(
    variant=args.worker,
    step_seconds=walls,
    step_cpu_seconds=cpus,
    flops=float(cost.get("flops", float("nan"))),
    compile_seconds=compile_seconds,
    temp_bytes=int(getattr(memory, "temp_size_in_bytes", 0)),
    peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    loss=float(loss),
    parameters=sum(x.size for x in jax.tree.leaves(state.params)),
    devices=mesh.size,
  )


# --------------------------------------------------------------------------------------------
# report


def table(results: dict[str, dict], official_flops: float | None) -> str:
  """Markdown table of all measurements; speed-up vs the official step (median wall time)."""
  rows = [
    "| implementation | attention | step wall s (median) | step CPU s | GFLOP/step | GFLOP/s "
    "(per CPU s) | compile s | peak RSS GB | speed-up vs official |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  official = results.get("official")
  reference = (
    statistics.median(official["step_seconds"]) if official and "error" not in official else None
  )
  for name, result in results.items():
    label = "official PyTorch" if name == "official" else "precursor_jax (Flax)"
    attention = {
      "official": "dense, all nodes",
      "dense": "dense, all nodes",
      "dense_pruned": "dense, pruned",
      "sparse": "sparse, all nodes",
      "sparse_pruned": "sparse, pruned",
    }[name]
    if "error" in result:
      rows.append(f"| {label} | {attention} | failed: {result['error']} | | | | | | |")
      continue
    wall = statistics.median(result["step_seconds"])
    cpu = statistics.median(result["step_cpu_seconds"])
    flops = official_flops if name == "official" else result["flops"]
    rate = f"{flops / cpu / 1e9:.1f}" if flops and cpu > 0 else "n/a"
    gflop = f"{flops / 1e9:.1f}" + (" (XLA count of dense)" if name == "official" else "")
    compile_s = f"{result['compile_seconds']:.1f}" if "compile_seconds" in result else "n/a"
    speedup = f"{reference / wall:.2f}x" if reference else "n/a"
    rss = result.get("peak_rss_bytes")
    rss = f"{rss / 2**30:.2f}" if rss else "n/a"
    rows.append(
      f"| {label} | {attention} | {wall:.2f} | {cpu:.2f} | {gflop} | {rate} | {compile_s} | "
      f"{rss} | {speedup} |"
    )
  return "\n".join(rows) + "\n"


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--threads", type=int, default=1, help="CPU threads for both implementations")
  parser.add_argument(
    "--cpus",
    default=None,
    help="comma-separated CPU ids to pin to (default: the first --threads allowed)",
  )
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--history", type=int, default=168)
  parser.add_argument("--horizon", type=int, default=168)
  parser.add_argument("--channels", type=int, default=7)
  parser.add_argument("--steps", type=int, default=5, help="timed steps (after the warm-up steps)")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--variants", default="sparse_pruned,dense_pruned,sparse,dense")
  parser.add_argument("--official-repo", default=None, help="checkout of ant-research/Pyraformer")
  parser.add_argument("--torch-python", default=None, help="python of a venv with torch installed")
  parser.add_argument("--timeout", type=float, default=1800)
  parser.add_argument("--json-out", default=None)
  parser.add_argument("--worker", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  if args.worker:
    print(json.dumps(worker(args)))
    return
  allowed = sorted(os.sched_getaffinity(0))
  cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else allowed[: args.threads]
  load_before = os.getloadavg()
  results = {}
  common = [
    "--batch",
    str(args.batch),
    "--history",
    str(args.history),
    "--horizon",
    str(args.horizon),
    "--channels",
    str(args.channels),
    "--steps",
    str(args.steps),
    "--warmup",
    str(args.warmup),
  ]
  if args.official_repo:
    python = args.torch_python or sys.executable
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "official_pyraformer.py")
    results["official"] = run_json(
      [python, script, "time", "--repo", args.official_repo, "--threads", str(args.threads)]
      + common,
      cpus,
      args.threads,
      args.timeout,
    )
  for variant in args.variants.split(","):
    results[variant] = run_json(
      [sys.executable, os.path.abspath(__file__), "--worker", variant] + common,
      cpus,
      args.threads,
      args.timeout,
    )
  load_after = os.getloadavg()
  official_flops = results.get("dense", {}).get("flops")
  extra = {
    "configuration": f"ETTh1-size Pyraformer {args.history} -> {args.horizon}, batch {args.batch}, "
    f"{args.channels} channels, d_model 512, 6 heads x 128, 4 layers, C=[4,4,4], "
    "A=3, dropout 0.05, Adam",
    "threads": f"{args.threads}, pinned to CPU(s) {cpus}; XLA_FLAGS "
    f"'{thread_environment(args.threads)['XLA_FLAGS']}'",
    "timing": f"median of {args.steps} steps after {args.warmup} warm-up step(s); CPU s = "
    "process CPU time of the step (less sensitive to other load than wall time)",
  }
  if "official" in results and "torch" in results["official"]:
    extra["official"] = (
      f"torch {results['official']['torch']}, torch.set_num_threads({args.threads})"
    )
  command = "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
  print(
    header(
      "Pyraformer training step: Flax vs official PyTorch", command, load_before, load_after, extra
    )
  )
  print(table(results, official_flops))
  if args.json_out:
    with open(args.json_out, "w") as handle:
      json.dump(
        dict(results=results, cpus=cpus, load_before=load_before, load_after=load_after),
        handle,
        indent=1,
      )


if __name__ == "__main__":
  main()

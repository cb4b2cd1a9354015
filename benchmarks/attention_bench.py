"""Dense vs sparse pyramidal attention: training-step time and memory from L = 168 to 16,384.

Measures one Pyraformer encoder layer at the ETTh1 model size (d_model 512, 6 heads x 128, d_inner
512, C = [4, 4, 4], A = 3, dropout 0.05), batch 32, on a pyramid of L + 1 finest nodes (the model's
predict token) and N = sum of the scale sizes nodes in all. One step = forward in train mode +
backward to the layer's parameters and input, jitted. Every node is a query (no pruning), like the
paper's Figure 4.

For each (path, L) a separate process compiles the step and reads XLA's buffer assignment
(`compiled.memory_analysis()`: temporaries + arguments + outputs, the memory the step needs); when
that fits the memory budget it runs the step and records the median time and the peak memory
(process RSS on CPU, the allocator's peak on GPU). The dense path is not even compiled where one
(B, H, N, N) float32 score tensor alone exceeds 4x the budget.

  python benchmarks/attention_bench.py          # CPU defaults: runs L <= 2688, plans all
  python benchmarks/attention_bench.py --max-run-length 16384 --memory-budget-gb 70  # 80 GB GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyraformer_step_bench import header, run_json

DEFAULT_LENGTHS = "168,336,672,1344,2688,5376,10752,16384"


def worker(args) -> dict:
  """Compiles (and, within budget, runs) one (path, L) layer step in this process."""
  import jax
  import jax.numpy as jnp

  from precursor_jax.models.pyraformer import EncoderLayer, PyramidGraph, pyramid_sizes

  seq_len = args.length + 1
  window_sizes = tuple(int(w) for w in args.window_sizes.split(","))
  nodes = sum(pyramid_sizes(seq_len, window_sizes))
  result = dict(path=args.path, length=args.length, nodes=nodes, batch=args.batch)
  budget = args.memory_budget_gb * 2**30
  scores_bytes = 4 * args.batch * args.heads * nodes * nodes
  if args.path == "dense" and scores_bytes > 4 * budget:
    return dict(
      result,
      ran=False,
      lower_bound_bytes=scores_bytes,
      note="not compiled: one (B, H, N, N) score tensor exceeds 4x the budget",
    )
  graph = PyramidGraph(seq_len, window_sizes, args.inner_size, 1, False)
  layer = EncoderLayer(
    args.d_model,
    args.d_inner,
    args.heads,
    args.head_size,
    args.head_size,
    args.dropout,
    graph,
    0,
    args.path,
  )
  key = jax.random.key(0)
  x = jax.random.normal(key, (args.batch, nodes, args.d_model), jnp.float32)
  cotangent = jax.random.normal(jax.random.fold_in(key, 1), x.shape, jnp.float32)
  params = jax.jit(lambda: layer.init(key, x[:1], False))()

  def step(params, x, rng):
    def loss(p, inputs):
      return jnp.sum(layer.apply(p, inputs, True, rngs={"dropout": rng}) * cotangent)

    return jax.grad(loss, argnums=(0, 1))(params, x)

  start = time.perf_counter()
  compiled = jax.jit(step).lower(params, x, key).compile()
  result["compile_seconds"] = time.perf_counter() - start
  memory = compiled.memory_analysis()
  planned = (
    memory.temp_size_in_bytes
    + memory.argument_size_in_bytes
    + memory.output_size_in_bytes
    - memory.alias_size_in_bytes
  )
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  result.update(planned_bytes=int(planned), flops=float(cost.get("flops", float("nan"))))
  if planned > budget or args.length > args.max_run_length:
    return dict(result, ran=False, note="planned only" if planned <= budget else "over budget")
  times = []
  for index in range(args.warmup + args.steps):
    begin = time.perf_counter()
    jax.block_until_ready(compiled(params, x, jax.random.fold_in(key, index)))
    if index >= args.warmup:
      times.append(time.perf_counter() - begin)
  result.update(ran=True, step_seconds=times)
  stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
  if stats and "peak_bytes_in_use" in stats:
    result["peak_bytes"] = int(stats["peak_bytes_in_use"])
  else:
    result["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  return result


def gb(value) -> str:
  return f"{value / 2**30:.2f}"


def table(results: list[dict]) -> str:
  """Markdown table; memory growth = planned bytes at L over planned bytes at L / 4 (same path)."""
  planned = {(r["path"], r["length"]): r.get("planned_bytes") for r in results}
  rows = [
    "| path | L | N nodes | planned GB (XLA) | x per 4x L | step s (median) | peak GB | GFLOP/step "
    "| note |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in results:
    if "error" in r:
      rows.append(
        f"| {r.get('path', '?')} | {r.get('length', '?')} | | | | | | | failed: {r['error']} |"
      )
      continue
    plan = r.get("planned_bytes")
    quarter = planned.get((r["path"], r["length"] // 4))
    growth = f"{plan / quarter:.2f}" if plan and quarter and r["length"] % 4 == 0 else ""
    plan_text = gb(plan) if plan else f"> {gb(r['lower_bound_bytes'])} (scores alone)"
    step = f"{statistics.median(r['step_seconds']):.3f}" if r.get("ran") else "not run"
    peak = gb(r["peak_bytes"]) if r.get("ran") else ""
    flops = f"{r['flops'] / 1e9:.1f}" if r.get("flops") else ""
    rows.append(
      f"| {r['path']} | {r['length']} | {r['nodes']} | {plan_text} | {growth} | {step} | {peak} "
      f"| {flops} | {r.get('note', '')} |"
    )
  return "\n".join(rows) + "\n"


def default_budget_gb() -> float:
  """A third of physical memory: other work shares the machine."""
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / 3
  except (ValueError, OSError):
    return 8.0


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--lengths", default=DEFAULT_LENGTHS, help="history lengths L (comma-separated)"
  )
  parser.add_argument("--paths", default="sparse,dense")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--d-model", dest="d_model", type=int, default=512)
  parser.add_argument("--d-inner", dest="d_inner", type=int, default=512)
  parser.add_argument("--heads", type=int, default=6)
  parser.add_argument("--head-size", dest="head_size", type=int, default=128)
  parser.add_argument("--window-sizes", dest="window_sizes", default="4,4,4")
  parser.add_argument("--inner-size", dest="inner_size", type=int, default=3)
  parser.add_argument("--dropout", type=float, default=0.05)
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--threads", type=int, default=1, help="CPU threads (pinned); ignored on GPU")
  parser.add_argument(
    "--memory-budget-gb", dest="memory_budget_gb", type=float, default=default_budget_gb()
  )
  parser.add_argument(
    "--max-run-length",
    dest="max_run_length",
    type=int,
    default=2688,
    help="only plan (compile, no run) above this L; CPU steps get slow",
  )
  parser.add_argument("--timeout", type=float, default=3600)
  parser.add_argument("--json-out", default=None)
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--path", default="sparse", help=argparse.SUPPRESS)
  parser.add_argument("--length", type=int, default=168, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  if args.worker:
    print(json.dumps(worker(args)))
    return
  cpus = sorted(os.sched_getaffinity(0))[: args.threads]
  load_before = os.getloadavg()
  shared = [
    "--batch",
    str(args.batch),
    "--d-model",
    str(args.d_model),
    "--d-inner",
    str(args.d_inner),
    "--heads",
    str(args.heads),
    "--head-size",
    str(args.head_size),
    "--window-sizes",
    args.window_sizes,
    "--inner-size",
    str(args.inner_size),
    "--dropout",
    str(args.dropout),
    "--steps",
    str(args.steps),
    "--warmup",
    str(args.warmup),
    "--memory-budget-gb",
    str(args.memory_budget_gb),
    "--max-run-length",
    str(args.max_run_length),
  ]
  results = []
  for path in args.paths.split(","):
    for length in (int(v) for v in args.lengths.split(",")):
      command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--path",
        path,
        "--length",
        str(length),
      ] + shared
      result = run_json(command, cpus, args.threads, args.timeout)
      results.append({"path": path, "length": length, **result})
      print(f"# {path} L={length}: {json.dumps(results[-1])[:200]}", file=sys.stderr, flush=True)
  load_after = os.getloadavg()
  extra = {
    "configuration": f"one encoder layer (attention + feed-forward), batch {args.batch}, d_model "
    f"{args.d_model}, {args.heads} heads x {args.head_size}, d_inner "
    f"{args.d_inner}, C=[{args.window_sizes}], A={args.inner_size}, dropout "
    f"{args.dropout}; forward + backward to parameters and input",
    "threads": f"{args.threads}, pinned to CPU(s) {cpus} (CPU runs)",
    "memory": f"budget {args.memory_budget_gb:.1f} GB; planned = XLA buffer assignment of the step "
    "(temporaries + arguments + outputs); peak = process max RSS (CPU, includes the "
    "runtime and compiler) or the device allocator's peak (GPU)",
    "timing": f"median of {args.steps} steps after {args.warmup} warm-up; steps run for "
    f"L <= {args.max_run_length} within the budget",
  }
  command = "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
  print(header("Pyramidal attention: dense vs sparse", command, load_before, load_after, extra))
  print(table(results))
  if args.json_out:
    with open(args.json_out, "w") as handle:
      json.dump(results, handle, indent=1)


if __name__ == "__main__":
  main()

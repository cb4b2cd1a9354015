"""The accelerator suite: the numbers a GPU/TPU host is lent to measure, in one command.

  python benchmarks/accelerator_suite.py                      # full sizes (for a GPU: see below)
  python benchmarks/accelerator_suite.py --smoke              # tiny sizes, CPU, about a minute (tests)
  python benchmarks/accelerator_suite.py --only vmd_year,vmapped_trials --out /tmp/suite

The full sizes are meant to take under 8 minutes on one H100/H200-class GPU (not yet run on one:
no GPU was lent while it was written); on a 2-core CPU they would take hours. Writes
`<out>/accelerator_suite.json` (every measurement with its device, date and command) and
`<out>/accelerator_suite.md` (one table), and prints the table. Each measurement times what users
run, built by the project's own code on every visible device (jit(shard_map) over the `batch` mesh):

  ses_train         the SES training step (tasks.ses.build_model / make_loss_fn through
                    wiring.data_parallel_step) of the paper-size LSTM-AE at batch 128: steps/s and the
                    projected time of the paper's 100 epochs of 19,143 days (paper: 38 min on an RTX
                    3070; target < 10 min)
  ses_inference     network + SES interval per day (tasks.ses.make_predict_fn through
                    wiring.data_parallel_predict) at a large batch: days/s (target >= 10,000)
  vmd_year          signal.vmd.vmd of 5 stations x one year of 1-minute data (5 x 525,600 samples,
                    K = 5, alpha = 5000, tol = 1e-7, float32) in one vmapped call (target < 2 s)
  pyraformer_step   the Pyraformer ETTh1 168 -> 168 training step at batch 32 (tasks.forecast.setup
                    on random windows of the ETTh1 shapes, wiring.data_parallel_step)
  attention_memory  one ETTh1-size Pyraformer encoder layer with the sparse attention at
                    L = 16,384, batch 32, forward + backward: XLA's planned memory, and on an
                    accelerator the step time and the allocator's peak
  vmapped_trials    16 trials of the SES laptop model (configs/ses_hkb.py default sizes, batch 32,
                    different learning rates) in one vmapped step against 1 trial and against the
                    16 trials stepped one after another (target: 16 vmapped <= 3x the time of 1)

Timing: every step or call is run once to compile, then `--repeats` (or the given number of) times,
each waited for with jax.block_until_ready; the median is reported (the same batch every step, so
input loading is not timed). `--smoke` keeps every measurement and its code path but shrinks the
sizes (a 16-unit LSTM-AE, 5 x 4,096 VMD samples, a 1-layer 32-wide Pyraformer 24 -> 12,
L = 256), so its
numbers say nothing about speed; it exists so that the tests keep the suite working.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax import config_base
from precursor_jax.models.pyraformer import EncoderLayer, PyramidGraph, pyramid_sizes
from precursor_jax.signal import vmd as vmd_lib
from precursor_jax.tasks import forecast, ses
from precursor_jax.training import parallel, wiring
from precursor_jax.training import state as state_lib

MEASUREMENTS = (
  "ses_train",
  "ses_inference",
  "vmd_year",
  "pyraformer_step",
  "attention_memory",
  "vmapped_trials",
)
PAPER_TRAIN_DAYS = 19_143  # the paper's HKB training split (709 days x 30 SES, 9:1)
PAPER_EPOCHS = 100
PAPER_MINUTES_RTX3070 = 38.0


@dataclasses.dataclass(frozen=True)
class Sizes:
  """Everything that differs between the full suite and --smoke."""

  ses_preset: str = "paper"
  ses_network: dict | None = None  # lstm_ae block overrides (smoke: a 16-unit network)
  ses_batch: int = 128
  steps: int = 20
  inference_batch: int = 4096
  vmd_series: int = 5
  vmd_length: int = 525_600
  forecast_history: int = 168
  forecast_horizon: int = 168
  forecast_batch: int = 32
  pyraformer: dict | None = None  # config.model.pyraformer overrides
  attention_length: int = 16_384
  attention_batch: int = 32
  attention_dims: tuple[int, int, int, int] = (512, 512, 6, 128)  # d_model, d_inner, heads, d_k
  trials: int = 16
  trial_preset: str = "small"
  trial_batch: int = 32
  trial_network: dict | None = None
  repeats: int = 5


FULL = Sizes()
TINY_NETWORK = dict(bidirectional_features=16, encoder_features=8, decoder_features=16)
SMOKE = Sizes(
  ses_network=TINY_NETWORK,
  ses_batch=8,
  steps=3,
  inference_batch=16,
  vmd_length=4096,
  forecast_history=24,
  forecast_horizon=12,
  forecast_batch=4,
  pyraformer=dict(
    d_model=32,
    d_inner=32,
    n_heads=2,
    d_k=16,
    d_v=16,
    n_layers=1,
    d_bottleneck=16,
    window_sizes=(2, 2, 2),  # a 25-node history keeps 3 scales (12, 6, 3)
  ),
  attention_length=256,
  attention_batch=2,
  attention_dims=(32, 32, 2, 16),
  trials=4,
  trial_batch=8,
  trial_network=TINY_NETWORK,
  repeats=2,
)


# --------------------------------------------------------------------------------------------------
# Timing and the device
# --------------------------------------------------------------------------------------------------


def median_seconds(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
  """(compile + first call, median of `repeats` further calls) in seconds, each call waited for."""
  start = time.perf_counter()
  jax.block_until_ready(call())
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(call())
    times.append(time.perf_counter() - start)
  return first, statistics.median(times)


def time_steps(step, state, batch, hparams, steps: int):
  """Runs a donating train step: (final state, compile + first step s, median step s)."""
  start = time.perf_counter()
  state, metrics = step(state, batch, hparams)
  jax.block_until_ready(metrics["loss"])
  first = time.perf_counter() - start
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = step(state, batch, hparams)
    jax.block_until_ready(metrics["loss"])
    times.append(time.perf_counter() - start)
  return state, first, statistics.median(times)


def cpu_model() -> str:
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def device_description() -> str:
  """'1 x NVIDIA H200 (gpu)' or '1 x cpu (AMD EPYC ..., 2 logical CPUs)'."""
  devices = jax.devices()
  text = f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"
  if devices[0].platform == "cpu":
    text += f", {cpu_model()}, {os.cpu_count()} logical CPUs"
  return text


def peak_bytes() -> int | None:
  """The device allocator's peak (accelerators), else this process's peak RSS."""
  stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
  if stats and "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"])
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------------------------------
# The SES problem without its dataset: the same model, loss and prediction on synthetic days
# --------------------------------------------------------------------------------------------------


def ses_config(preset: str, network: dict | None, batch: int):
  config = config_base.ses_config("hkb", preset)
  if network:
    config.model.lstm_ae.update(network)
  config.batch_size = batch
  return config


def ses_problem(config, count: int) -> wiring.Problem:
  """tasks.ses' model, loss and predictions over `count` synthetic days (values do not matter for
  speed: an electrode offset, noise and a 15 mV/km step)."""
  rng = np.random.default_rng(0)
  days = (120.0 + 5.0 * rng.standard_normal((count, 8640))).astype(np.float32)
  days[:, 3000:3200] += 15.0
  model = ses.build_model(config)
  return wiring.Problem(
    init=ses.make_init(model),
    loss_fn=ses.make_loss_fn(model),
    predict_fn=ses.make_predict_fn(model, dict(config.detection)),
    score_fn=ses.epoch_scores,
    train_arrays={"input": days, "target": days},
    eval_splits={},
    batch_keys=ses.MODEL_KEYS,
  )


def measure_ses_train(sizes: Sizes, mesh) -> dict:
  config = ses_config(sizes.ses_preset, sizes.ses_network, sizes.ses_batch)
  problem = ses_problem(config, sizes.ses_batch)
  optimizer = state_lib.adam(config.adam_eps)
  state = parallel.replicate(wiring.initial_state(problem, optimizer, config.seed), mesh)
  step = wiring.data_parallel_step(problem, optimizer, mesh)
  batch = parallel.shard_batch(problem.train_arrays, mesh)
  hparams = wiring.hyperparams(config, PAPER_TRAIN_DAYS // sizes.ses_batch)
  _, first, seconds = time_steps(step, state, batch, hparams, sizes.steps)
  steps_100 = PAPER_EPOCHS * (PAPER_TRAIN_DAYS // 128)
  minutes = steps_100 * seconds * 128 / sizes.ses_batch / 60
  parameters = sum(x.size for x in jax.tree.leaves(problem.init(jax.random.key(0))[0]))
  return dict(
    what=f"SES LSTM-AE ({sizes.ses_preset} size, {parameters:,} parameters) training step, "
    f"batch {sizes.ses_batch}",
    value=1.0 / seconds,
    unit="steps/s",
    target=f"100 paper epochs < 10 min (paper: {PAPER_MINUTES_RTX3070:.0f} min on an RTX 3070)",
    meets_target=minutes < 10.0 if sizes.ses_batch == 128 else None,
    details=dict(
      step_seconds=seconds,
      compile_and_first_step_seconds=first,
      paper_100_epochs_minutes=minutes,
      paper_100_epochs_steps=steps_100,
      parameters=parameters,
    ),
  )


def measure_ses_inference(sizes: Sizes, mesh) -> dict:
  config = ses_config(sizes.ses_preset, sizes.ses_network, sizes.inference_batch)
  problem = ses_problem(config, sizes.inference_batch)
  optimizer = state_lib.adam(config.adam_eps)
  state = parallel.replicate(wiring.initial_state(problem, optimizer, config.seed), mesh)
  predict = wiring.data_parallel_predict(problem, mesh)
  batch = parallel.shard_batch(problem.train_arrays, mesh)  # the target feeds RMSPE and MSE
  first, seconds = median_seconds(lambda: predict(state, batch), sizes.repeats)
  rate = sizes.inference_batch / seconds
  return dict(
    what=f"SES network + interval extraction, batch {sizes.inference_batch} days",
    value=rate,
    unit="days/s",
    target=">= 10,000 days/s",
    meets_target=rate >= 10_000,
    details=dict(batch_seconds=seconds, compile_and_first_seconds=first, ms_per_day=1e3 / rate),
  )


def measure_vmd_year(sizes: Sizes, mesh) -> dict:
  del mesh  # one call on the default device: the batch is vmapped inside the while loop
  minutes = np.arange(sizes.vmd_length, dtype=np.float64)
  rng = np.random.default_rng(0)
  series = np.stack(
    [
      3.0
      + 20.0 * np.sin(2 * np.pi * minutes / 1440.0 + rng.uniform(0, 2 * np.pi))
      + 3.0 * np.sin(2 * np.pi * minutes / 745.2)
      + rng.normal(size=sizes.vmd_length)
      for _ in range(sizes.vmd_series)
    ]
  ).astype(np.float32)
  signal = jax.device_put(series)
  result = None

  def call():
    nonlocal result
    result = vmd_lib.vmd(signal, num_modes=5, alpha=5000.0, tol=1e-7)
    return result.modes

  first, seconds = median_seconds(call, max(1, sizes.repeats // 2))
  return dict(
    what=f"VMD of {sizes.vmd_series} x {sizes.vmd_length:,} samples in one vmapped call "
    "(K=5, alpha=5000, tol=1e-7, float32)",
    value=seconds,
    unit="s",
    target="< 2 s",
    meets_target=seconds < 2.0,
    details=dict(
      compile_and_first_seconds=first,
      updates=np.asarray(result.num_iterations).tolist(),
      finite=bool(np.isfinite(np.asarray(result.modes)).all()),
    ),
  )


def measure_pyraformer_step(sizes: Sizes, mesh) -> dict:
  config = config_base.forecast_config(model="pyraformer", horizon=168)
  config.dataset.history, config.dataset.horizon = sizes.forecast_history, sizes.forecast_horizon
  if sizes.pyraformer:
    config.model.pyraformer.update(sizes.pyraformer)
  config.batch_size = sizes.forecast_batch
  count, rng = sizes.forecast_batch, np.random.default_rng(0)
  split = {
    "history": rng.normal(size=(count, sizes.forecast_history, 7)).astype(np.float32),
    "history_time": rng.uniform(-0.5, 0.5, (count, sizes.forecast_history, 4)).astype(np.float32),
    "future_time": rng.uniform(-0.5, 0.5, (count, sizes.forecast_horizon, 4)).astype(np.float32),
    "future": rng.normal(size=(count, sizes.forecast_horizon, 7)).astype(np.float32),
  }
  problem = forecast.setup(config, {"train": split, "val": split, "test": split})
  optimizer = state_lib.adam(config.adam_eps)
  state = parallel.replicate(wiring.initial_state(problem, optimizer, config.seed), mesh)
  step = wiring.data_parallel_step(problem, optimizer, mesh)
  batch = parallel.shard_batch(split, mesh)
  hparams = wiring.hyperparams(config, steps_per_epoch=259)
  _, first, seconds = time_steps(step, state, batch, hparams, max(2, sizes.steps // 4))
  parameters = sum(x.size for x in jax.tree.leaves(problem.init(jax.random.key(0))[0]["params"]))
  return dict(
    what=f"Pyraformer {sizes.forecast_history} -> {sizes.forecast_horizon} training step "
    f"({parameters:,} parameters, sparse pruned attention), batch {sizes.forecast_batch}",
    value=seconds,
    unit="s/step",
    target="(2-core CPU: 2.42 s/step; official PyTorch 6.13 s)",
    meets_target=None,
    details=dict(compile_and_first_step_seconds=first, parameters=parameters),
  )


def measure_attention_memory(sizes: Sizes, mesh) -> dict:
  del mesh  # one layer on the default device, as benchmarks/attention_bench.py
  d_model, d_inner, heads, d_k = sizes.attention_dims
  seq_len = sizes.attention_length + 1  # the predict token
  nodes = sum(pyramid_sizes(seq_len, (4, 4, 4)))
  graph = PyramidGraph(seq_len, (4, 4, 4), 3, 1, False)
  layer = EncoderLayer(d_model, d_inner, heads, d_k, d_k, 0.05, graph, 0, "sparse")
  key = jax.random.key(0)
  x = jax.random.normal(key, (sizes.attention_batch, nodes, d_model), jnp.float32)
  cotangent = jax.random.normal(jax.random.fold_in(key, 1), x.shape, jnp.float32)
  params = jax.jit(lambda: layer.init(key, x[:1], False))()

  def step(params, x, rng):
    loss = lambda p, inputs: jnp.sum(
      layer.apply(p, inputs, True, rngs={"dropout": rng}) * cotangent
    )
    return jax.grad(loss, argnums=(0, 1))(params, x)

  compiled = jax.jit(step).lower(params, x, key).compile()
  memory = compiled.memory_analysis()
  planned = (
    memory.temp_size_in_bytes
    + memory.argument_size_in_bytes
    + memory.output_size_in_bytes
    - memory.alias_size_in_bytes
  )
  details = dict(
    nodes=nodes,
    planned_gb=planned / 2**30,
    dense_scores_alone_gb=4 * sizes.attention_batch * heads * nodes * nodes / 2**30,
  )
  on_accelerator = jax.default_backend() != "cpu"
  if on_accelerator or sizes.attention_length <= 1024:  # a CPU runs only the smoke size
    _, seconds = median_seconds(lambda: compiled(params, x, key), max(1, sizes.repeats // 2))
    details.update(step_seconds=seconds, peak_gb=(peak_bytes() or 0) / 2**30)
  return dict(
    what=f"sparse pyramidal attention, one layer (d_model {d_model}, {heads} heads), "
    f"L = {sizes.attention_length:,}, batch {sizes.attention_batch}, forward + backward",
    value=planned / 2**30,
    unit="GB planned (XLA)",
    target="(2-core CPU plan: 42.0 GB at L = 16,384; dense: score tensor alone > 339 GB)",
    meets_target=None,
    details=details,
  )


def measure_vmapped_trials(sizes: Sizes, mesh) -> dict:
  config = ses_config(sizes.trial_preset, sizes.trial_network, sizes.trial_batch)
  problem = ses_problem(config, sizes.trial_batch)
  optimizer = state_lib.adam(config.adam_eps)
  per_epoch = 5400 // sizes.trial_batch
  rates = [config.learning_rate * (1 + 0.1 * i) for i in range(sizes.trials)]
  batch = parallel.shard_batch(problem.train_arrays, mesh)

  def fresh(seed):
    return wiring.initial_state(problem, optimizer, seed)

  single_step = wiring.data_parallel_step(problem, optimizer, mesh)
  one = parallel.replicate(fresh(0), mesh)
  hparams = wiring.hyperparams(config, per_epoch)
  _, first_single, single = time_steps(single_step, one, batch, hparams, sizes.steps)

  stacked_step = wiring.data_parallel_step(problem, optimizer, mesh, stacked=True)
  stacked = parallel.replicate(wiring.stack([fresh(i) for i in range(sizes.trials)]), mesh)
  stacked_hparams = wiring.stack(
    [wiring.hyperparams(config, per_epoch, {"learning_rate": r}) for r in rates]
  )
  _, first_stacked, vmapped = time_steps(stacked_step, stacked, batch, stacked_hparams, sizes.steps)

  # The same trials as separate runs would step: one compiled single step, 16 states in turn.
  states = [parallel.replicate(fresh(i), mesh) for i in range(sizes.trials)]
  trial_hparams = [wiring.hyperparams(config, per_epoch, {"learning_rate": r}) for r in rates]
  rounds = []
  for _ in range(max(2, sizes.steps // 4)):
    start = time.perf_counter()
    for i in range(sizes.trials):
      states[i], metrics = single_step(states[i], batch, trial_hparams[i])
    jax.block_until_ready(metrics["loss"])
    rounds.append(time.perf_counter() - start)
  sequential = statistics.median(rounds)
  ratio = vmapped / single
  return dict(
    what=f"{sizes.trials} SES trials ({sizes.trial_preset} model, batch {sizes.trial_batch}) "
    "in one vmapped step, against 1 trial",
    value=ratio,
    unit="x the step time of 1 trial",
    target="<= 3x",
    meets_target=ratio <= 3.0,
    details=dict(
      one_trial_step_seconds=single,
      vmapped_step_seconds=vmapped,
      sequential_trials_step_seconds=sequential,
      vmapped_speedup_over_sequential=sequential / vmapped,
      compile_and_first_step_seconds={"one": first_single, "vmapped": first_stacked},
    ),
  )


MEASURE = {
  "ses_train": measure_ses_train,
  "ses_inference": measure_ses_inference,
  "vmd_year": measure_vmd_year,
  "pyraformer_step": measure_pyraformer_step,
  "attention_memory": measure_attention_memory,
  "vmapped_trials": measure_vmapped_trials,
}


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _format(value: float) -> str:
  if value is None or not np.isfinite(value):
    return "-"
  return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _details_text(details: dict) -> str:
  parts = []
  for key, value in details.items():
    if isinstance(value, float):
      parts.append(f"{key} {_format(value)}")
    elif isinstance(value, dict):
      parts.append(f"{key} " + "/".join(_format(v) for v in value.values()))
    else:
      parts.append(f"{key} {value}")
  return "; ".join(parts)


def markdown(report: dict) -> str:
  """The one table of the suite, with its device, date and command."""
  verdict = {True: "yes", False: "**no**", None: "-"}
  lines = [
    f"## Accelerator suite ({report['mode']})",
    "",
    f"- date: {report['date']}",
    f"- device: {report['device']}; jax {report['jax']}",
    f"- command: `{report['command']}`",
    "",
    "| measurement | value | unit | target | met | details |",
    "|---|---:|---|---|---|---|",
  ]
  for m in report["measurements"]:
    if "error" in m:
      lines.append(f"| {m['name']} | - | | | failed | {m['error']} |")
      continue
    lines.append(
      f"| {m['name']}: {m['what']} | {_format(m['value'])} | {m['unit']} | {m['target']} "
      f"| {verdict[m['meets_target']]} | {_details_text(m['details'])} |"
    )
  return "\n".join(lines) + "\n"


def run_suite(names, sizes: Sizes, mode: str, command: str) -> dict:
  """Every named measurement (a failure is recorded, the others still run)."""
  mesh = parallel.make_mesh()
  device = device_description()
  report = dict(
    suite="accelerator_suite",
    mode=mode,
    device=device,
    date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    command=command,
    jax=jax.__version__,
    load_average_before=list(os.getloadavg()),
    measurements=[],
  )
  for name in names:
    started = time.perf_counter()
    try:
      result = dict(name=name, **MEASURE[name](sizes, mesh))
    except Exception as error:  # one failure must not hide the other numbers
      result = dict(name=name, error=f"{type(error).__name__}: {str(error)[:300]}")
    result.update(seconds=time.perf_counter() - started, device=device, date=report["date"])
    result["command"] = command
    report["measurements"].append(result)
    print(f"# {name}: {json.dumps(result, default=str)[:300]}", file=sys.stderr, flush=True)
  report["load_average_after"] = list(os.getloadavg())
  return report


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU, about a minute)")
  parser.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated subset")
  parser.add_argument("--steps", type=int, default=None, help="timed training steps")
  parser.add_argument("--repeats", type=int, default=None, help="timed calls of the others")
  parser.add_argument("--out", default="benchmarks/accelerator_suite_out", help="output folder")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  names = [n.strip() for n in args.only.split(",") if n.strip()]
  unknown = sorted(set(names) - set(MEASUREMENTS))
  if unknown:
    print(f"error: --only {','.join(unknown)}: expected some of {','.join(MEASUREMENTS)}")
    return 2
  sizes = SMOKE if args.smoke else FULL
  if args.steps:
    sizes = dataclasses.replace(sizes, steps=args.steps)
  if args.repeats:
    sizes = dataclasses.replace(sizes, repeats=args.repeats)
  command = "python " + " ".join([os.path.relpath(__file__), *(argv or sys.argv[1:])])
  report = run_suite(names, sizes, "smoke" if args.smoke else "full", command)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "accelerator_suite.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
  table = markdown(report)
  (out / "accelerator_suite.md").write_text(table)
  print(table, end="")
  return 0 if all("error" not in m for m in report["measurements"]) else 1


if __name__ == "__main__":
  sys.exit(main())

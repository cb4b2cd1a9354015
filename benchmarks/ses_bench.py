"""SES network throughput: training steps per second and inference milliseconds per day.

Measures, on whatever devices JAX sees (CPU here; GPUs/TPUs on an accelerator host), for each network:
  * the data-parallel training step (the exact step `python -m precursor_jax.train` runs) at a global batch;
  * batched inference per day: the network alone, and network + SES interval extraction (what detection
    costs), with the median of several timed runs after a warm-up (compilation excluded);
  * the projected wall time of the paper's 100 epochs at paper scale (19,143 training days).

  python benchmarks/ses_bench.py                                  # paper-size LSTM-AE, batch 128
  python benchmarks/ses_bench.py --networks lstm_ae,gru_ae,fc_ae,fct_ae --inference_batch 1024
  python benchmarks/ses_bench.py --preset small                   # the laptop preset's network

Prints a markdown table with the date, device and command.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax import config_base
from precursor_jax.anomaly import ses as ses_scoring
from precursor_jax.tasks import ses
from precursor_jax.training import parallel
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib

PAPER_TRAIN_DAYS = 19_143


def median_seconds(fn, repeats: int) -> float:
  jax.block_until_ready(fn())  # warm-up: compile
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def bench_network(
  name: str, preset: str, train_batch: int, inference_batch: int, repeats: int, unroll: int
) -> dict:
  config = config_base.ses_config("hkb", preset)
  config.model.name = name
  config.model.lstm_ae.unroll = unroll
  model = ses.build_model(config)
  mesh = parallel.make_mesh()
  rng = np.random.default_rng(0)
  days = (100 + 10 * rng.standard_normal((max(train_batch, inference_batch), 8640))).astype(
    np.float32
  )
  params = model.init(jax.random.key(0), jnp.asarray(days[:1]))["params"]
  optimizer = state_lib.adam(config.adam_eps)
  state = parallel.replicate(
    state_lib.create_train_state(params, optimizer, jax.random.key(1)), mesh
  )
  hparams = state_lib.make_hyperparams(
    learning_rate=config.learning_rate,
    lr_decay=config.lr_decay,
    weight_penalty=config.weight_penalty,
  )
  step = parallel.data_parallel(
    step_lib.make_train_step(ses.make_loss_fn(model), optimizer, axis_name=parallel.BATCH_AXIS),
    mesh,
    donate_state=False,
  )
  batch = parallel.shard_batch({"input": days[:train_batch], "target": days[:train_batch]}, mesh)
  step_seconds = median_seconds(lambda: step(state, batch, hparams)[1]["loss"], repeats)

  inputs = parallel.shard_batch({"input": days[:inference_batch]}, mesh)["input"]
  network = jax.jit(lambda p, x: model.apply({"params": p}, x))
  network_seconds = median_seconds(lambda: network(state.params, inputs), repeats)
  detect = jax.jit(
    lambda p, x: ses_scoring.extract_ses_interval(
      model.apply({"params": p}, x), **dict(config.detection)
    )
  )
  detect_seconds = median_seconds(lambda: detect(state.params, inputs), repeats)
  steps_per_epoch = PAPER_TRAIN_DAYS // 128
  return {
    "network": name,
    "preset": preset,
    "parameters": sum(x.size for x in jax.tree.leaves(params)),
    "train_batch": train_batch,
    "step_s": step_seconds,
    "days_per_s_train": train_batch / step_seconds,
    "paper_100_epochs_min": 100 * steps_per_epoch * step_seconds * 128 / train_batch / 60,
    "inference_batch": inference_batch,
    "network_ms_per_day": 1e3 * network_seconds / inference_batch,
    "detect_ms_per_day": 1e3 * detect_seconds / inference_batch,
  }


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--networks", default="lstm_ae")
  parser.add_argument("--preset", default="paper", choices=("small", "paper"))
  parser.add_argument("--train_batch", type=int, default=128)
  parser.add_argument("--inference_batch", type=int, default=512)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--unroll", type=int, default=1, help="recurrent steps per scan iteration")
  args = parser.parse_args()
  devices = jax.devices()
  print(
    f"# SES throughput, {datetime.date.today()}, {len(devices)} x {devices[0].device_kind} "
    f"({platform.processor() or platform.machine()}), jax {jax.__version__}"
  )
  print(f"command: python {' '.join(sys.argv)}\n")
  print(
    "| network | preset | params | train batch | step s | train days/s | paper 100 epochs (min) "
    "| inference batch | network ms/day | network + interval ms/day |"
  )
  print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
  for name in args.networks.split(","):
    r = bench_network(
      name, args.preset, args.train_batch, args.inference_batch, args.repeats, args.unroll
    )
    print(
      f"| {r['network']} | {r['preset']} | {r['parameters']:,} | {r['train_batch']} | {r['step_s']:.3f} "
      f"| {r['days_per_s_train']:.0f} | {r['paper_100_epochs_min']:.0f} | {r['inference_batch']} "
      f"| {r['network_ms_per_day']:.3f} | {r['detect_ms_per_day']:.3f} |",
      flush=True,
    )


if __name__ == "__main__":
  main()

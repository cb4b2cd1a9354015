"""Drive the official PyTorch Pyraformer (ant-research/Pyraformer) beside this project, for two
measurements.

This file contains no code of the official project: it imports it from a checkout you point it at,
builds its `Pyraformer_LR.Model` with the long-range ("FC" decoder) options of `long_range_main.py`,
and either

* `time`: times its training step (forward with the predict token, MSE, backward, Adam) on random
  data (used by benchmarks/pyraformer_step_bench.py), or
* `export`: writes an .npz with its weights, a random batch, its outputs (train and eval mode) and
  the gradients of a loss; tests/test_pyraformer.py loads such a file
  (tests/data/pyraformer_official/) into the Flax model and compares.

It runs under a separate PyTorch environment, never the project's:

  python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch numpy
  git clone https://github.com/ant-research/Pyraformer /tmp/pyraformer-official
  /tmp/torch-venv/bin/python benchmarks/official_pyraformer.py time \\
      --repo /tmp/pyraformer-official --threads 1 --steps 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types


def build_options(args) -> types.SimpleNamespace:
  """The option namespace that long_range_main.py would build for ETT data."""
  return types.SimpleNamespace(
    model="Pyraformer",
    decoder=args.decoder,
    input_size=args.history,
    predict_step=args.horizon,
    d_model=args.d_model,
    d_inner_hid=args.d_inner,
    d_k=args.d_k,
    d_v=args.d_k,
    d_bottleneck=args.d_bottleneck,
    n_head=args.n_heads,
    n_layer=args.n_layers,
    window_size=list(args.window_sizes),
    inner_size=args.inner_size,
    CSCM="Bottleneck_Construct",
    truncate=False,
    use_tvm=False,
    enc_in=args.channels,
    dec_in=args.channels,
    covariate_size=4,
    seq_num=1,
    embed_type="DataEmbedding",
    dropout=args.dropout,
    device="cpu",
  )


def import_official(repo: str):
  """Imports pyraformer.Pyraformer_LR from the checkout (shims its unused `align_tensors`)."""
  import torch.functional

  if not hasattr(torch.functional, "align_tensors"):
    torch.functional.align_tensors = None  # imported but never used by the official Layers.py
  sys.path.insert(0, os.path.abspath(repo))
  import pyraformer.Pyraformer_LR as official

  return official


def random_batch(torch, args, generator):
  """history (B, L, C), history_time (B, L, 4), future (B, H, C), future_time (B, H, 4)."""
  b, length, h, c = args.batch, args.history, args.horizon, args.channels
  return (
    torch.randn(b, length, c, generator=generator),
    torch.rand(b, length, 4, generator=generator) - 0.5,
    torch.randn(b, h, c, generator=generator),
    torch.rand(b, h, 4, generator=generator) - 0.5,
  )


def forward(torch, model, history, history_time, future, future_time):
  """The official training forward (FC decoder: the predict token appended first)."""
  if model.decoder_type == "attention":
    return model(history, history_time, torch.zeros_like(future), future_time, False)
  token = torch.zeros(history.size(0), 1, history.size(-1))
  x = torch.cat([history, token], dim=1)
  x_mark = torch.cat([history_time, future_time[:, 0:1, :]], dim=1)
  return model(x, x_mark, torch.zeros_like(future), future_time, False)


def time_steps(args) -> dict:
  """Seconds per training step (forward, MSE, backward, Adam) after warm-up steps."""
  import torch

  torch.set_num_threads(args.threads)
  official = import_official(args.repo)
  torch.manual_seed(args.seed)
  model = official.Model(build_options(args))
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
  batch = random_batch(torch, args, torch.Generator().manual_seed(args.seed))
  model.train()
  times, cpu_times = [], []
  for step in range(args.warmup + args.steps):
    start, cpu_start = time.perf_counter(), time.process_time()
    optimizer.zero_grad()
    prediction = forward(torch, model, *batch)
    loss = torch.mean((prediction - batch[2]) ** 2)
    loss.backward()
    optimizer.step()
    if step >= args.warmup:
      times.append(time.perf_counter() - start)
      cpu_times.append(time.process_time() - cpu_start)
  params = sum(p.numel() for p in model.parameters() if p.requires_grad)
  import resource

  return dict(
    step_seconds=times,
    step_cpu_seconds=cpu_times,
    parameters=params,
    threads=args.threads,
    peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    torch=torch.__version__,
    loss=loss.item(),
  )


def export(args) -> dict:
  """Saves weights, a batch, outputs (train and eval mode) and loss gradients to args.out."""
  import numpy as np
  import torch

  torch.set_num_threads(args.threads)
  official = import_official(args.repo)
  torch.manual_seed(args.seed)
  model = official.Model(build_options(args))
  batch = random_batch(torch, args, torch.Generator().manual_seed(args.seed + 1))
  arrays = {
    f"param/{name}": value.detach().numpy().copy() for name, value in model.state_dict().items()
  }
  # The fixed positional tables are 5000 rows long; the model uses at most the first L + 1.
  for name in [n for n in arrays if n.endswith("position_embedding.pe")]:
    arrays[name] = arrays[name][:, : args.history + 1]
  arrays.update(
    history=batch[0].numpy(),
    history_time=batch[1].numpy(),
    future=batch[2].numpy(),
    future_time=batch[3].numpy(),
  )
  model.train()  # BatchNorm on batch statistics; dropout must be 0 for a deterministic comparison
  prediction = forward(torch, model, *batch)
  loss = torch.mean((prediction - batch[2]) ** 2)
  loss.backward()
  arrays["train_output"] = prediction.detach().numpy()
  arrays["train_loss"] = np.float32(loss.item())
  arrays.update({f"grad/{name}": p.grad.numpy() for name, p in model.named_parameters()})
  arrays.update(
    {
      f"state_after_train/{name}": value.detach().numpy()
      for name, value in model.state_dict().items()
      if "running" in name
    }
  )
  model.eval()
  with torch.no_grad():
    arrays["eval_output"] = forward(torch, model, *batch).numpy()
  config = {
    k: getattr(args, k)
    for k in (
      "history",
      "horizon",
      "channels",
      "d_model",
      "d_inner",
      "d_k",
      "d_bottleneck",
      "n_heads",
      "n_layers",
      "window_sizes",
      "inner_size",
      "decoder",
      "batch",
      "seed",
    )
  }
  arrays["config_json"] = np.array(json.dumps(config))
  np.savez_compressed(args.out, **arrays)
  return dict(out=args.out, config=config, torch=torch.__version__, arrays=len(arrays))


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("mode", choices=["time", "export"])
  parser.add_argument(
    "--repo", required=True, help="checkout of github.com/ant-research/Pyraformer"
  )
  parser.add_argument("--threads", type=int, default=1)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="/tmp/official_pyraformer.npz")
  # ETTh1 168 -> 168 defaults (scripts/Pyraformer_LR.sh).
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--history", type=int, default=168)
  parser.add_argument("--horizon", type=int, default=168)
  parser.add_argument("--channels", type=int, default=7)
  parser.add_argument("--d-model", dest="d_model", type=int, default=512)
  parser.add_argument("--d-inner", dest="d_inner", type=int, default=512)
  parser.add_argument("--d-k", dest="d_k", type=int, default=128)
  parser.add_argument("--d-bottleneck", dest="d_bottleneck", type=int, default=128)
  parser.add_argument("--n-heads", dest="n_heads", type=int, default=6)
  parser.add_argument("--n-layers", dest="n_layers", type=int, default=4)
  parser.add_argument("--window-sizes", dest="window_sizes", type=int, nargs="+", default=[4, 4, 4])
  parser.add_argument("--inner-size", dest="inner_size", type=int, default=3)
  parser.add_argument("--dropout", type=float, default=0.05)
  parser.add_argument("--decoder", choices=["FC", "attention"], default="FC")
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  if args.mode == "export":
    args.dropout = 0.0
  result = time_steps(args) if args.mode == "time" else export(args)
  print(json.dumps(result))


if __name__ == "__main__":
  main()

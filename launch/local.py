"""Runs a manifest on this machine: one run after another, or N at a time on their own devices.

  python -m launch.local ROOT/runs.jsonl                        # sequential, every device per run
  python -m launch.local ROOT/runs.jsonl --parallel 4           # 4 runs at once
  python -m launch.local ROOT/runs.jsonl --parallel 2 --devices_per_run 4   # 8 GPUs as 2 x 4

Each run goes through `python -m launch.run` (launch/run.py: done runs are skipped, half-finished
ones resume from their checkpoints); its output is appended to ROOT/logs/<id>.log. Kill the
launcher at any point (even SIGKILL: the runs die with it) and start it again: it finishes the rest
without redoing a finished run. At the end it writes ROOT/launch_summary.md and .csv and prints the
table; its exit status is 0 when every run is done.

With --parallel N each of the N slots gets its own devices, set before JAX starts in the run:
  GPU   CUDA_VISIBLE_DEVICES (slot s: devices s*K .. s*K+K-1, K = --devices_per_run)
  TPU   TPU_VISIBLE_CHIPS / TPU_VISIBLE_DEVICES with 1, 2 or 4 chips per process, the process
        bounds and a mesh-controller port per slot (Cloud TPU VM variables)
  CPU   nothing: N processes share the cores (XLA uses every core in each; N = 1 is fastest per run)
The platform is found without starting JAX (which would hold the accelerators): nvidia-smi, then
/dev/accel* or /dev/vfio (TPU), else CPU; --platform and --devices say it explicitly.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from launch import manifest, run, summary

# TPU process bounds for a process that owns 1, 2 or 4 chips of a host.
TPU_CHIP_BOUNDS = {1: "1,1,1", 2: "1,2,1", 4: "2,2,1"}
TPU_FIRST_PORT = 8476


def detect_platform() -> tuple[str, int]:
  """(platform, accelerator count) of this machine, without importing JAX."""
  if shutil.which("nvidia-smi"):
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    gpus = [line for line in listing.stdout.splitlines() if line.startswith("GPU ")]
    if listing.returncode == 0 and gpus:
      return "gpu", len(gpus)
  chips = glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*")
  if chips:
    return "tpu", len(chips)
  return "cpu", os.cpu_count() or 1


def resolve_platform(platform: str, devices: int | None) -> tuple[str, int]:
  """(platform, device count): detected for "auto"; a named platform takes `devices` or, when
  this machine is that platform, its own count."""
  detected, count = detect_platform()
  if platform == "auto":
    platform = detected
  elif platform != detected and devices is None and platform != "cpu":
    raise ValueError(f"--platform {platform}: none found here; give --devices N to say how many")
  if devices is not None:
    if devices < 1:
      raise ValueError(f"--devices {devices}: expected >= 1")
    return platform, devices
  return platform, count if platform == detected else os.cpu_count() or 1


def device_env(platform: str, slot: int, per_run: int) -> dict[str, str]:
  """The environment that gives slot `slot` its own `per_run` devices (see the module doc)."""
  ids = ",".join(str(i) for i in range(slot * per_run, (slot + 1) * per_run))
  if platform == "gpu":
    return {"CUDA_VISIBLE_DEVICES": ids}
  if platform == "tpu":
    if per_run not in TPU_CHIP_BOUNDS:
      raise ValueError(f"--devices_per_run {per_run}: a TPU process owns 1, 2 or 4 chips")
    port = str(TPU_FIRST_PORT + slot)
    return {
      "TPU_VISIBLE_CHIPS": ids,
      "TPU_VISIBLE_DEVICES": ids,
      "TPU_CHIPS_PER_PROCESS_BOUNDS": TPU_CHIP_BOUNDS[per_run],
      "TPU_PROCESS_BOUNDS": "1,1,1",
      "TPU_MESH_CONTROLLER_ADDRESS": f"localhost:{port}",
      "TPU_MESH_CONTROLLER_PORT": port,
    }
  if platform == "cpu":
    return {}
  raise ValueError(f"--platform {platform!r}: expected auto, cpu, gpu or tpu")


def slot_environments(
  parallel: int, per_run: int | None, platform: str, available: int
) -> list[dict[str, str]]:
  """One environment per slot; a ValueError when the slots need more devices than there are."""
  if parallel < 1:
    raise ValueError(f"--parallel {parallel}: expected >= 1")
  if parallel == 1 and per_run is None:
    return [{}]  # one run at a time sees every device
  if platform == "cpu":
    return [{} for _ in range(parallel)]
  per_run = per_run or max(available // parallel, 1)
  if parallel * per_run > available:
    raise ValueError(
      f"--parallel {parallel} x --devices_per_run {per_run} needs {parallel * per_run} "
      f"{platform.upper()}s; this machine has {available}"
    )
  return [device_env(platform, slot, per_run) for slot in range(parallel)]


def launch(
  manifest_path: str | os.PathLike,
  *,
  parallel: int = 1,
  devices_per_run: int | None = None,
  platform: str = "auto",
  devices: int | None = None,
  python: str | None = None,
  environ: Mapping[str, str] | None = None,
) -> int:
  """Runs every pending run of the manifest (see the module doc); 0 when all are done."""
  environ = dict(os.environ if environ is None else environ)
  runs = manifest.read(manifest_path)
  root = manifest.root_of(manifest_path)
  platform, available = resolve_platform(platform, devices)
  slots = slot_environments(parallel, devices_per_run, platform, available)
  todo = collections.deque(manifest.pending(runs))
  print(
    f"[launch.local] {len(runs)} run(s): {len(runs) - len(todo)} done, {len(todo)} to run, "
    f"{len(slots)} at a time on {platform}",
    flush=True,
  )
  active: dict[int, tuple[subprocess.Popen, int, float]] = {}
  (root / "logs").mkdir(parents=True, exist_ok=True)
  while todo or active:
    for slot in range(len(slots)):
      if slot not in active and todo:
        active[slot] = _start(manifest_path, runs, todo.popleft(), slots[slot], environ, python)
    time.sleep(0.2)
    for slot, (process, index, started) in list(active.items()):
      if process.poll() is not None:
        del active[slot]
        print(
          f"[launch.local] {runs[index].id}: exit {process.returncode} after "
          f"{time.perf_counter() - started:.1f} s (log: {manifest.log_path(root, runs[index])})",
          flush=True,
        )
  md_path, _ = summary.write(manifest_path)
  print(md_path.read_text(), end="", flush=True)
  return 0 if not manifest.pending(runs) else 1


def _start(manifest_path, runs, index: int, slot_env, environ, python):
  """Starts `python -m launch.run` for one run, its output appended to the run's log."""
  root = manifest.root_of(manifest_path)
  log = manifest.log_path(root, runs[index])
  command = [sys.executable, "-m", "launch.run", str(manifest_path), "--index", str(index)]
  if python:
    command += ["--python", python]
  with open(log, "a") as handle:  # the child keeps its own copy of the descriptor
    handle.write(f"\n===== {manifest.now()} {' '.join(command)} {slot_env or ''}\n")
    handle.flush()
    process = subprocess.Popen(
      command,
      cwd=run.REPO_ROOT,
      env={**environ, **slot_env},
      stdout=handle,
      stderr=subprocess.STDOUT,
      preexec_fn=run.die_with_parent,
    )
  print(f"[launch.local] start {runs[index].id} {slot_env or ''}".rstrip(), flush=True)
  return process, index, time.perf_counter()


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.local", description=__doc__.split("\n")[0]
  )
  parser.add_argument("manifest", help="runs.jsonl")
  parser.add_argument("--parallel", type=int, default=1, help="runs at a time")
  parser.add_argument("--devices_per_run", type=int, default=None, help="devices per slot")
  parser.add_argument("--platform", default="auto", choices=("auto", "cpu", "gpu", "tpu"))
  parser.add_argument("--devices", type=int, default=None, help="devices here (default: found)")
  parser.add_argument("--python", default=None, help="interpreter for a leading 'python'")
  args = parser.parse_args(argv)
  try:
    return launch(
      args.manifest,
      parallel=args.parallel,
      devices_per_run=args.devices_per_run,
      platform=args.platform,
      devices=args.devices,
      python=args.python,
    )
  except (manifest.ManifestError, ValueError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())

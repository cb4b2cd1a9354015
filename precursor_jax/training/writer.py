"""What a run writes to its workdir: config.json, metrics as JSON lines and TensorBoard, progress with ETA."""

from __future__ import annotations

import json
import math
import pathlib
import sys
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

METRICS_FILE = "metrics.jsonl"


def to_python(value: Any) -> Any:
  """JSON-friendly scalars/lists from numpy/jax values."""
  if isinstance(value, (jax.Array, np.ndarray, np.generic)):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()
  if isinstance(value, Mapping):
    return {k: to_python(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_python(v) for v in value]
  return value


class MetricWriter:
  """One JSON line per logged step (and TensorBoard events when tensorboardX is installed).

  Only process 0 writes, so multi-host runs produce one file.
  """

  def __init__(self, workdir: str | pathlib.Path, *, tensorboard: bool = True):
    self.workdir = pathlib.Path(workdir)
    self._active = jax.process_index() == 0
    self._tb = None
    if self._active:
      self.workdir.mkdir(parents=True, exist_ok=True)
      if tensorboard:
        try:
          from tensorboardX import SummaryWriter

          self._tb = SummaryWriter(str(self.workdir / "tensorboard"))
        except ImportError:
          self._tb = None

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
    if not self._active:
      return
    record = {f"{prefix}{k}": to_python(v) for k, v in metrics.items()}
    with open(self.workdir / METRICS_FILE, "a") as f:
      f.write(json.dumps({"step": int(step), **record}) + "\n")
    if self._tb is not None:
      for name, value in record.items():
        if isinstance(value, (int, float)) and math.isfinite(value):
          self._tb.add_scalar(name, value, step)

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str | pathlib.Path) -> list[dict]:
  """All JSON lines of a run's metrics file."""
  path = pathlib.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Progress:
  """Steps/s and ETA, ignoring the first (compiling) step of the run."""

  def __init__(self, total_steps: int, start_step: int, *, stream=sys.stdout):
    self.total_steps = total_steps
    self.stream = stream
    self._t0 = None
    self._s0 = start_step

  def update(self, step: int) -> dict[str, float]:
    """Call after `step` updates are done; returns rate and ETA once measurable."""
    now = time.perf_counter()
    if self._t0 is None:  # first step of this process: compile time, not steady state
      self._t0, self._s0 = now, step
      return {}
    elapsed = now - self._t0
    rate = (step - self._s0) / elapsed if elapsed > 0 else float("nan")
    remaining = (self.total_steps - step) / rate if rate > 0 else float("nan")
    return {"steps_per_sec": rate, "eta_sec": remaining}

  def print(
    self, step: int, epoch: float, metrics: Mapping[str, Any], timing: Mapping[str, float]
  ) -> None:
    if jax.process_index() != 0:
      return
    parts = [f"step {step}/{self.total_steps}", f"epoch {epoch:.2f}"]
    parts += [
      f"{k} {to_python(v):.4g}"
      for k, v in metrics.items()
      if isinstance(to_python(v), (int, float))
    ]
    if timing:
      parts.append(f"{timing['steps_per_sec']:.2f} steps/s")
      parts.append(f"ETA {format_seconds(timing['eta_sec'])}")
    print(" | ".join(parts), file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

"""One home per task, and the registry the entry points look tasks up in (`config.task`).

A task module gives `train_and_evaluate(config, workdir, *, force_resume=False) -> summary`, and,
when it trains through the shared wiring, `setup(config) -> wiring.Problem` and the
`SELECTION_METRIC` (metric, "max" | "min") a sweep ranks its trials by on the validation split.
A task that sweeps its own way (detect recounts stored residuals) gives `run_sweep` instead.

A third task goes here: a module `tasks/<name>.py` with those names (its studies and figures in
modules of their own, as `ses_studies` and `ses_figures`), a base config in config_base.py, a file
in configs/, and one line in TASKS below; train, sweep and the launchers then serve it unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from precursor_jax.tasks import detect, evaluate, forecast, ses


@dataclasses.dataclass(frozen=True)
class Task:
  """A registered task: how to run it, and (for trainable tasks) how sweeps set it up and rank it."""

  name: str
  train_and_evaluate: Callable[..., dict]
  setup: Callable[..., Any] | None = None
  selection_metric: tuple[str, str] | None = None  # (metric, "max" | "min") on the validation split
  description: str = ""
  run_sweep: Callable[..., dict] | None = None  # its own sweep; None: tasks/sweeps.run_sweep
  entry_point: str = "precursor_jax.train"  # the command that runs one of its configs


TASKS: dict[str, Task] = {
  "ses": Task("ses", ses.train_and_evaluate, ses.setup, ses.SELECTION_METRIC, "SES detection"),
  "forecast": Task(
    "forecast",
    forecast.train_and_evaluate,
    forecast.setup,
    forecast.SELECTION_METRIC,
    "forecasting",
  ),
  "evaluate": Task(
    "evaluate",
    evaluate.train_and_evaluate,
    description="alarm-based skill of method 1",
    entry_point="precursor_jax.evaluate",
  ),
  "detect": Task(
    "detect",
    detect.train_and_evaluate,
    description="method 1: VMD-Pyraformer anomalies",
    run_sweep=detect.run_sweep,
    entry_point="precursor_jax.detect",
  ),
}


def get(name: str) -> Task:
  """The task registered as `name`; ValueError listing the tasks otherwise."""
  if name not in TASKS:
    raise ValueError(f"config.task={name!r}: expected one of {', '.join(TASKS)}")
  return TASKS[name]

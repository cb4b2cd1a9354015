"""One home per task, and the registry the entry points look tasks up in (`config.task`).

A task module gives `train_and_evaluate(config, workdir, *, force_resume=False) -> summary`, and,
when it trains through the shared wiring, `setup(config) -> wiring.Problem` and the
`SELECTION_METRIC` (metric, "max" | "min") a sweep ranks its trials by on the validation split.

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
    "evaluate", evaluate.train_and_evaluate, description="alarm-based skill of method 1"
  ),
  "detect": Task(
    "detect", detect.train_and_evaluate, description="method 1: VMD-Pyraformer anomalies"
  ),
}


def get(name: str) -> Task:
  """The task registered as `name`; ValueError listing the tasks otherwise."""
  if name not in TASKS:
    raise ValueError(f"config.task={name!r}: expected one of {', '.join(TASKS)}")
  return TASKS[name]

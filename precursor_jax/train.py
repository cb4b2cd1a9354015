"""Entry point: python -m precursor_jax.train --config configs/<experiment>.py [--workdir DIR].

Intentionally short (as the flax examples' main.py): it parses flags and hands the config to the task's
`train_and_evaluate(config, workdir)`, which tests call directly. Config fields can be overridden on the
command line: --config.num_epochs=2 --config.batch_size=64.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Experiment config file (configs/*.py[:arg]).", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Run directory (checkpoints, metrics, figures); a rerun resumes. "
  "Default: ~/.cache/precursor_jax/workdirs/<config name>[_<arg>].",
)
flags.mark_flags_as_required(["config"])


def task_runner(task: str):
  """The train_and_evaluate function of a task name."""
  if task == "ses":
    from precursor_jax.training.ses import train_and_evaluate
  elif task == "forecast":
    from precursor_jax.training.forecast import train_and_evaluate
  else:
    raise ValueError(f"config.task={task!r}: expected 'ses' or 'forecast'")
  return train_and_evaluate


def default_workdir(config_argument: str) -> pathlib.Path:
  """~/.cache/precursor_jax/workdirs/<file stem>[_<arg>] for --config configs/<file>.py[:<arg>]."""
  path, _, arg = config_argument.partition(":")
  name = pathlib.Path(path).stem + (f"_{arg}".replace("/", "-").replace(",", "_") if arg else "")
  return pathlib.Path.home() / ".cache" / "precursor_jax" / "workdirs" / name


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every file operation at INFO
  config = _CONFIG.value
  config_argument = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--config=")), None)
  if config_argument is None and "--config" in sys.argv:
    config_argument = sys.argv[sys.argv.index("--config") + 1]
  workdir = _WORKDIR.value or default_workdir(config_argument or "run")
  print(f"workdir: {workdir}", flush=True)
  task_runner(config.task)(config, workdir)


if __name__ == "__main__":
  app.run(main)

"""Entry point: python -m precursor_jax.train --config configs/<experiment>.py[:arg] [--workdir DIR].

Intentionally short (as the flax examples' main.py): it parses flags and hands the config to its
task's `train_and_evaluate(config, workdir)` (precursor_jax/tasks/), which tests call directly.
Config fields can be overridden on the command line: --config.num_epochs=2 --config.batch_size=64.
The default workdir is ~/.cache/precursor_jax/workdirs/<config>[_<arg>][-<hash of the overrides>];
a rerun with the same config resumes there (training/runs.py says when a rerun is refused).
"""

from __future__ import annotations

from precursor_jax import cli, tasks

_CONFIG, _WORKDIR, _FORCE = cli.define_config_flags(
  "Experiment config file (configs/*.py[:arg]).",
  "Run directory (checkpoints, metrics, report); a rerun resumes. Default: "
  "~/.cache/precursor_jax/workdirs/<config name>[_<arg>][-<hash of the overrides>].",
)


def main(argv) -> None:
  del argv
  config = cli.checked(_CONFIG.value)
  task = tasks.get(config.task)
  workdir = cli.workdir_for(_WORKDIR.value)
  print(f"workdir: {workdir}", flush=True)
  task.train_and_evaluate(config, workdir, force_resume=_FORCE.value)


if __name__ == "__main__":
  cli.main(main)

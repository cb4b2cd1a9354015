"""Entry point: vectorised hyperparameter sweeps over any registered task (see tasks/sweeps.py).

  python -m precursor_jax.sweep --config configs/ses_hkb.py --sweep learning_rate=1e-3,2e-3,5e-3 \
      --sweep seed=0,1 [--workdir DIR]
  python -m precursor_jax.sweep --config configs/ses_hkb.py --sweep configs/sweeps/ses_lr_seed.py
  python -m precursor_jax.sweep --config configs/pyraformer_etth1.py --sweep learning_rate=1e-4,3e-4
  python -m precursor_jax.sweep --config configs/detect_wenchuan.py:fast --sweep threshold.k=2,2.5,3

Trials that share shapes are stacked and trained by one jax.vmap of the training step inside the
data-parallel shard_map; trials that change shapes are grouped, each group vmapped. Results are
ranked by the validation metric (sweep.md, sweep.csv, sweep.png); the best trial is exported as a
normal run's workdir. Detect configs sweep their own way (tasks/detect/sweep.py: thresholds
recounted over the stored residuals, ranked without the pre-event window). The default workdir is ~/.cache/precursor_jax/sweeps/<config>-<hash of the
overrides and the trials>; a rerun resumes, and a workdir holding another trial list is refused.
"""

from __future__ import annotations

import shlex
import sys

from absl import flags

from precursor_jax import cli, tasks
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import sweeps
from precursor_jax.training.writer import to_python

_CONFIG, _WORKDIR, _FORCE = cli.define_config_flags(
  "Experiment config file (configs/*.py[:arg]) of the task to sweep.",
  "Sweep directory (resumable). Default: ~/.cache/precursor_jax/sweeps/<config>-<hash>.",
)
_SWEEP = flags.DEFINE_multi_string(
  "sweep", None, "NAME=v1,v2,... (repeatable, each NAME once), or a sweep file configs/sweeps/*.py."
)


def sweep_trials(specs: list[str], config) -> list[dict]:
  """The trials of the --sweep flags: one sweep file, or NAME=values shorthands (a grid)."""
  if not specs:
    raise ConfigError("give --sweep NAME=v1,v2 (repeatable) or --sweep FILE.py")
  files = [s for s in specs if s.endswith(".py")]
  if files:
    if len(specs) > 1:
      raise ConfigError("--sweep FILE.py stands alone: put every swept field in the file")
    return sweeps.expand(sweeps.load_sweep_file(files[0]))
  return sweeps.expand({"grid": sweeps.parse_shorthand(specs, config)})


def base_command(entry_point: str = "precursor_jax.train") -> str:
  """The command of the base config (the task's entry point) with this command line's overrides."""
  kept = [f"--config={cli.config_argument(sys.argv[1:])}"]
  kept += [a for a in sys.argv[1:] if a.startswith("--config.")]
  return f"python -m {entry_point} " + " ".join(shlex.quote(a) for a in kept)


def main(argv) -> None:
  del argv
  config = cli.checked(_CONFIG.value)
  task = tasks.get(config.task)
  trials = sweep_trials(_SWEEP.value or [], config)
  workdir = cli.workdir_for(_WORKDIR.value, "sweeps", extra=to_python(trials))
  print(f"workdir: {workdir}", flush=True)
  run_sweep = task.run_sweep or sweeps.run_sweep
  run_sweep(
    task,
    config,
    trials,
    workdir,
    force_resume=_FORCE.value,
    base_command=base_command(task.entry_point),
  )


if __name__ == "__main__":
  cli.main(main)

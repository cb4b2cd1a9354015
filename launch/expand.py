"""Expands configs, base overrides and a sweep into the run manifest every launcher consumes.

  python -m launch.expand --config configs/ses_hkb.py --root /shared/launches/lr \
      --sweep learning_rate=1e-3,2e-3,5e-3 --sweep seed=0,1 [--config.num_epochs=24 ...]
  python -m launch.expand --config configs/ses_hkb.py --sweep configs/sweeps/ses_lr_seed.py --root R
  python -m launch.expand --config configs/ses_hkb.py --config configs/ses_mts.py \
      --config configs/ses_ota.py --root R                         # a list of configs, one run each

Every config argument (a file and its `:arg`) is crossed with every trial of the sweep (one run
per config without --sweep); the base overrides (`--config.x=y`) apply to every run, and a trial's
value wins over a base override of the same field. Sweeps are read exactly as
`python -m precursor_jax.sweep` reads them (tasks/sweeps.py: NAME=v1,v2 grids, sweep files with a
grid, a seeded random search or a list). Unlike that command, each trial here is its own train run
with its own workdir (`<root>/runs/<id>`), so trials that change shapes, other tasks or whole
config files mix freely, and any scheduler can spread them over machines.

Every run's config is loaded and passes the same checks as a train command (unknown fields with the
nearest names, config_checks ranges) before anything is written. Writing the same manifest again
changes nothing; a root that holds another manifest is refused (its workdirs belong to other runs).
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from launch import manifest
from precursor_jax import cli, tasks
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import sweeps

ENTRY_POINT = "precursor_jax.train"
# Where a task's summary.json keeps the number the launch table shows (the task's selection metric):
# the test split, except forecasting, whose honest protocol picks the epoch on validation.
SUMMARY_SECTION = {"forecast": "honest"}
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9._=+-]+")


def format_value(value: Any) -> str:
  """A value as a --config.x= argument that ml_collections parses back to the same value."""
  if isinstance(value, bool):
    return "True" if value else "False"
  if isinstance(value, (tuple, list)):
    return repr(tuple(value))
  if isinstance(value, float):
    return repr(value)
  return str(value)


def _current_value(config: Any, name: str) -> Any:
  node = config
  for part in name.split("."):
    node = node[part]
  return node


def parse_overrides(arguments: Sequence[str], config: Any) -> dict[str, Any]:
  """['--config.batch_size=64', ...] -> {'batch_size': 64}, each value typed as its field."""
  overrides: dict[str, Any] = {}
  for argument in arguments:
    name, sep, text = argument[len("--config.") :].partition("=")
    if not sep:
      raise ConfigError(f"{argument}: expected --config.FIELD=VALUE")
    if name in overrides:
      raise ConfigError(f"--config.{name} is given twice")
    current = _current_value(config, name)
    if isinstance(current, (tuple, list)):
      try:
        overrides[name] = tuple(ast.literal_eval(text))
      except (ValueError, SyntaxError, TypeError):
        raise ConfigError(f"--config.{name}={text}: expected a tuple such as (1, 2)") from None
      continue
    (values,) = sweeps.parse_shorthand([f"{name}={text}"], config).values()
    if len(values) != 1:
      raise ConfigError(f"--config.{name}={text}: one value per field (a sweep takes several)")
    overrides[name] = values[0]
  return overrides


def sweep_trials(specs: Sequence[str], config: Any) -> list[dict]:
  """The trials of the --sweep arguments (none: one trial without changes)."""
  if not specs:
    return [{}]
  files = [s for s in specs if s.endswith(".py")]
  if files:
    if len(specs) > 1:
      raise ConfigError("--sweep FILE.py stands alone: put every swept field in the file")
    return sweeps.expand(sweeps.load_sweep_file(files[0]))
  return sweeps.expand({"grid": sweeps.parse_shorthand(specs, config)})


def run_id(index: int, label_parts: Sequence[str]) -> str:
  """'003-ses_mts-learning_rate=0.002': the position, then what tells the run apart."""
  label = _ID_CHARACTERS.sub("_", "-".join(label_parts)).strip("_-")[:64]
  return f"{index:03d}" + (f"-{label}" if label else "")


def _label(argument: str, trial: Mapping[str, Any], with_config: bool) -> list[str]:
  """What tells a run apart: its config (when there are several) and its trial's values."""
  path, _, arg = argument.partition(":")
  parts = [pathlib.Path(path).stem + (f"_{arg}" if arg else "")] if with_config else []
  return parts + [f"{k.rsplit('.', 1)[-1]}={format_value(v)}" for k, v in trial.items()]


def summary_metric(task_name: str) -> tuple[str, ...]:
  """The path of the task's headline metric in its summary.json."""
  task = tasks.get(task_name)
  if task.selection_metric is None:
    return ()
  return (SUMMARY_SECTION.get(task_name, "test"), task.selection_metric[0])


def expand(
  config_arguments: Sequence[str],
  override_arguments: Sequence[str],
  sweep_specs: Sequence[str],
  root: str | pathlib.Path,
  *,
  python: str = "python",
  entry_point: str = ENTRY_POINT,
) -> list[manifest.Run]:
  """The runs of every (config, trial) pair, checked; see the module doc."""
  if not config_arguments:
    raise ConfigError("give --config FILE.py[:arg] (repeatable)")
  root = pathlib.Path(root).expanduser().absolute()
  several_configs = len(config_arguments) > 1
  runs = []
  for argument in config_arguments:
    cli.check_override_names([f"--config={argument}", *override_arguments])
    base = cli.load_config_file(argument)
    base_overrides = parse_overrides(override_arguments, base)
    for trial in sweep_trials(sweep_specs, base):
      overrides = {**base_overrides, **trial}
      config = sweeps.trial_config(base, overrides)  # the checks of a train command
      index = len(runs)
      identifier = run_id(index, _label(argument, trial, several_configs))
      workdir = root / "runs" / identifier
      command = [python, "-m", entry_point, f"--config={argument}"]
      command += [f"--config.{k}={format_value(v)}" for k, v in overrides.items()]
      command.append(f"--workdir={workdir}")
      runs.append(
        manifest.Run(
          id=identifier,
          command=tuple(command),
          workdir=str(workdir),
          config=argument,
          overrides=overrides,
          task=config.task,
          metric=summary_metric(config.task) or None,
        )
      )
  return runs


def write_manifest(runs: Sequence[manifest.Run], root: str | pathlib.Path) -> pathlib.Path:
  """Writes <root>/runs.jsonl; the same manifest again is a no-op, another one is refused."""
  path = pathlib.Path(root).expanduser().absolute() / manifest.MANIFEST_NAME
  if path.is_file():
    stored = [run.to_json() for run in manifest.read(path)]
    as_written = json.loads(json.dumps([run.to_json() for run in runs]))  # tuples -> lists
    if stored != as_written:
      raise ConfigError(
        f"{path} holds another manifest ({len(stored)} runs); its workdirs belong to those runs: "
        "choose another --root"
      )
    return path
  return manifest.write(path, runs)


def _describe(runs: Sequence[manifest.Run], path: pathlib.Path) -> str:
  lines = [f"{len(runs)} run(s) -> {path}"]
  lines += [f"  {run.id}: {_overrides_text(run.overrides)}" for run in runs]
  return "\n".join(lines)


def _overrides_text(overrides: Mapping[str, Any]) -> str:
  return " ".join(f"{k}={format_value(v)}" for k, v in overrides.items()) or "(config defaults)"


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.expand",
    description=__doc__.split("\n\n")[0],
    allow_abbrev=False,
    epilog="Other arguments: --config.FIELD=VALUE base overrides for every run.",
  )
  parser.add_argument("--config", action="append", default=[], help="FILE.py[:arg], repeatable")
  parser.add_argument("--sweep", action="append", default=[], help="NAME=v1,v2 or a sweep file")
  parser.add_argument("--root", required=True, help="launch root: runs.jsonl and runs/<id>/")
  parser.add_argument("--python", default="python", help="interpreter named in the commands")
  parser.add_argument("--entry_point", default=ENTRY_POINT, help="module the commands run")
  args, rest = parser.parse_known_args(argv)
  unknown = [a for a in rest if not a.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognised arguments: {' '.join(unknown)}")
  try:
    runs = expand(
      args.config, rest, args.sweep, args.root, python=args.python, entry_point=args.entry_point
    )
    path = write_manifest(runs, args.root)
  except (ValueError, FileNotFoundError, KeyError) as error:  # ConfigError is a ValueError
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    print(f"error: {message}", file=sys.stderr)
    return 2
  print(_describe(runs, path))
  return 0


if __name__ == "__main__":
  sys.exit(main())

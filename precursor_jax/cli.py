"""What every command-line entry point shares (train, sweep, detect, evaluate): one path for flags,
argument checks, default workdirs and error reporting.

- `main(run, argv)` runs an absl main function after checking the `--config.x=...` overrides
  against the config file (an unknown field is named with the nearest valid names, not an
  AttributeError from ml_collections), joins a multi-host cluster when the environment describes
  one (before anything touches the devices), and turns a user's mistake (a refused workdir, a bad
  file, an invalid value) into one line on stderr and exit status 2. Set PRECURSOR_JAX_TRACEBACK=1
  to see the traceback too.
- `workdir_for(flag value, kind)`: the given --workdir, or the default named after the config
  argument and a hash of the effective overrides (training/runs.py).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

from precursor_jax.config_checks import ConfigError, check_config
from precursor_jax.core.errors import DataFormatError
from precursor_jax.training import loop, parallel, runs

# Exceptions that describe a user's mistake: reported in one line, without a traceback.
USER_ERRORS = (
  ConfigError,
  runs.RunRefused,
  DataFormatError,
  FileNotFoundError,
  NotADirectoryError,
  IsADirectoryError,
  PermissionError,
  ValueError,
  KeyError,
)


def define_config_flags(help_config: str, help_workdir: str) -> tuple[Any, Any, Any]:
  """The --config, --workdir and --force_resume flags of an entry point (defined once per process,
  so that several entry modules can be imported together, e.g. by tests)."""
  if "config" in flags.FLAGS:
    return tuple(
      flags.FlagHolder(flags.FLAGS, flags.FLAGS[n]) for n in ("config", "workdir", "force_resume")
    )
  config = config_flags.DEFINE_config_file("config", None, help_config, lock_config=True)
  workdir = flags.DEFINE_string("workdir", None, help_workdir)
  force = flags.DEFINE_bool(
    "force_resume",
    False,
    "Resume in a workdir whose stored config differs in a field that changes results "
    "(see training/runs.py); the change is logged in config_changes.jsonl.",
  )
  flags.mark_flags_as_required(["config"])
  return config, workdir, force


def config_argument(argv: Sequence[str]) -> str | None:
  """The value of --config in an argument list (`--config=X` or `--config X`)."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def load_config_file(argument: str) -> Any:
  """The config of `path[:arg]`, unlocked, as the --config flag would load it."""
  path, *arg = argument.split(":", 1)
  if not pathlib.Path(path).is_file():
    raise ConfigError(f"--config: no config file {path!r}")
  spec = importlib.util.spec_from_file_location(f"config_{pathlib.Path(path).stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(*arg)


def field_names(config: Any, prefix: str = "") -> list[str]:
  """Every dotted field path of a ConfigDict, sub-dicts included."""
  names = []
  for key in config.keys():
    name = f"{prefix}{key}"
    names.append(name)
    value = config[key]
    if hasattr(value, "keys") and hasattr(value, "to_dict"):
      names += field_names(value, name + ".")
  return names


def check_override_names(argv: Sequence[str]) -> None:
  """ConfigError for a --config.<field> that the config does not have, with the nearest names."""
  argument = config_argument(argv)
  overrides = [a[len("--config.") :].split("=", 1)[0] for a in argv if a.startswith("--config.")]
  if argument is None or not overrides:
    return
  known = field_names(load_config_file(argument))
  for name in overrides:
    if name not in known:
      close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
      leaf = [k for k in known if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]]
      hint = close + [name for name in leaf if name not in close]  # the closest first
      raise ConfigError(
        f"--config.{name}: {argument} has no field {name!r}"
        + (f"; did you mean {', '.join(hint)}?" if hint else "")
      )


def effective_overrides(config_flag_name: str = "config") -> dict[str, Any]:
  """The command-line overrides whose value differs from the config file's own."""
  flag = flags.FLAGS[config_flag_name]
  overrides = config_flags.get_override_values(flag)
  if not overrides:
    return {}
  defaults = load_config_file(config_flags.get_config_filename(flag))
  effective = {}
  for name, value in overrides.items():
    node = defaults
    for part in name.split("."):
      node = node[part]
    if node != value:
      effective[name] = value
  return effective


def workdir_for(
  workdir: str | None, kind: str = "workdirs", *, extra: Sequence = (), config_flag_name="config"
) -> pathlib.Path:
  """The --workdir given, or the default for this config argument and its effective overrides."""
  if workdir is not None:
    if not workdir.strip():
      raise ConfigError(
        "--workdir is empty: give a directory, or leave the flag out for the default"
      )
    return pathlib.Path(workdir)
  argument = config_flags.get_config_filename(flags.FLAGS[config_flag_name])
  return runs.default_workdir(argument, effective_overrides(config_flag_name), kind, extra=extra)


def _report(error: BaseException) -> int:
  if os.environ.get("PRECURSOR_JAX_TRACEBACK"):
    raise error
  message = str(error)
  if isinstance(error, KeyError) and error.args:
    message = str(error.args[0])
  print(f"error: {message}", file=sys.stderr, flush=True)
  return 2


def main(run: Callable[[Any], None], argv: Sequence[str] | None = None) -> None:
  """app.run(run) with the checks and error reporting of the module doc."""
  argv = list(sys.argv if argv is None else argv)
  try:
    check_override_names(argv[1:])
  except ConfigError as error:
    sys.exit(_report(error))
  parallel.maybe_initialize_distributed()

  def guarded(args):
    if len(args) > 1:
      raise app.UsageError(f"unexpected arguments: {args[1:]}")
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # orbax and tfds log every file operation at INFO
    try:
      run(args)
    except loop.StoppedEarly as stop:
      print(str(stop), flush=True)
    except USER_ERRORS as error:
      sys.exit(_report(error))

  app.run(guarded, argv=argv)


def checked(config: Any) -> Any:
  """The config after the shared range checks (config_checks.check_config)."""
  check_config(config)
  return config

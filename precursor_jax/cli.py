"""What every command-line entry point shares (train, sweep, detect, evaluate, qc): one path for
flags, argument checks, default workdirs and error reporting.

- `main(run, argv)` runs an absl main function after checking the command line against the config
  file before any flag is parsed: the config file loads (a missing file or an unknown preset is
  one line), every `--config.x=...` names a field the config has (an unknown one is named with the
  nearest valid names, not an AttributeError from ml_collections), and every value parses as its
  field's type (`--config.batch_size=0.5`: "expected an integer"). It then joins a multi-host
  cluster when the environment describes one (before anything touches the devices), and turns a
  user's mistake (a flag absl cannot parse, a refused workdir, a bad file, an invalid value) into
  one line on stderr and exit status 2. Set PRECURSOR_JAX_TRACEBACK=1 to see the traceback too.
- `workdir_for(flag value, kind)`: the given --workdir, or the default named after the config
  argument and a hash of the effective overrides (training/runs.py); an empty --workdir, a file,
  or a directory that cannot be created is refused before anything is written.
- `report(error)`: the one-line report and exit status, for entry points without absl (the
  dataset builders).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

from precursor_jax.config_checks import ConfigError, check_config, directory_problem, nearest_names
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
  """The config of `path[:arg]`, unlocked, as the --config flag would load it; ConfigError (one
  line) for a missing file or a get_config that refuses its argument."""
  path, *arg = argument.split(":", 1)
  if not pathlib.Path(path).is_file():
    raise ConfigError(f"--config: no config file {path!r}")
  spec = importlib.util.spec_from_file_location(f"config_{pathlib.Path(path).stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  try:
    return module.get_config(*arg)
  except (ValueError, TypeError, KeyError) as error:
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    raise ConfigError(f"--config {argument}: {message}") from None


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


def overrides(argv: Sequence[str]) -> list[tuple[str, str | None]]:
  """(field, value text) of every --config.<field>[=value] (None when no "=" follows)."""
  out = []
  for arg in argv:
    if arg.startswith("--config."):
      name, sep, value = arg[len("--config.") :].partition("=")
      out.append((name, value if sep else None))
  return out


def check_override_names(argv: Sequence[str], config: Any = None) -> None:
  """ConfigError for a --config.<field> that the config does not have, with the nearest names."""
  argument = config_argument(argv)
  names = [name for name, _ in overrides(argv)]
  if argument is None or not names:
    return
  known = field_names(load_config_file(argument) if config is None else config)
  for name in names:
    if name not in known:
      close = nearest_names(name, known)
      leaf = [k for k in known if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]]
      hint = close + [name for name in leaf if name not in close]  # the closest first
      raise ConfigError(
        f"--config.{name}: {argument} has no field {name!r}"
        + (f"; did you mean {', '.join(hint)}?" if hint else "")
      )


# The parsers ml_collections uses for scalar fields, and what each expects, in words.
_VALUE_PARSERS = {
  int: (flags.IntegerParser(), "an integer"),
  float: (flags.FloatParser(), "a number"),
  bool: (flags.BooleanParser(), "true or false"),
}


def field_type(config: Any, name: str) -> type | None:
  """The declared type of a dotted field (a placeholder's too)."""
  *path, leaf = name.split(".")
  parent = config
  for part in path:
    parent = parent[part]
  return parent.get_type(leaf)


def check_override_values(argv: Sequence[str], config: Any) -> None:
  """ConfigError for a --config.<field>=value that its field's parser refuses (checked with the
  parser ml_collections will use, so nothing it accepts is refused here)."""
  argument = config_argument(argv)
  for name, text in overrides(argv):
    parser, expected = _VALUE_PARSERS.get(field_type(config, name), (None, None))
    if parser is None or text is None:
      continue
    try:
      parser.parse(text)
    except ValueError:
      raise ConfigError(
        f"--config.{name}={text}: {argument} declares {name} as "
        f"{field_type(config, name).__name__}; expected {expected}, got {text!r}"
      ) from None


_HELP_FLAGS = ("--help", "--helpshort", "--helpfull", "--helpxml", "-h", "-?")


def check_command_line(argv: Sequence[str]) -> None:
  """The checks of the module doc that need only the command line and the config file."""
  if "config" not in flags.FLAGS or any(arg.split("=", 1)[0] in _HELP_FLAGS for arg in argv):
    return  # an entry point without a config file (qc), or absl prints the help
  argument = config_argument(argv)
  if argument is None:
    raise ConfigError("--config is required: give a config file, e.g. --config configs/ses_hkb.py")
  config = load_config_file(argument)
  check_override_names(argv, config)
  check_override_values(argv, config)


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
  """The --workdir given, or the default for this config argument and its effective overrides;
  ConfigError when it is empty, a file, or cannot be created (nothing is written)."""
  if workdir is not None:
    if not workdir.strip():
      raise ConfigError(
        "--workdir is empty: give a directory, or leave the flag out for the default"
      )
    path = pathlib.Path(workdir)
  else:
    argument = config_flags.get_config_filename(flags.FLAGS[config_flag_name])
    overrides_ = effective_overrides(config_flag_name)
    path = runs.default_workdir(argument, overrides_, kind, extra=extra)
  problem = directory_problem(path)
  if problem:
    raise ConfigError(f"--workdir {path}: {problem}; expected a new or existing run directory")
  return path


def report(error: BaseException) -> int:
  """Prints a user's mistake as one line on stderr and returns the exit status (2); re-raises it
  instead when PRECURSOR_JAX_TRACEBACK is set."""
  if os.environ.get("PRECURSOR_JAX_TRACEBACK"):
    raise error
  message = str(error)
  if isinstance(error, KeyError) and error.args:
    message = str(error.args[0])
  print(f"error: {message}", file=sys.stderr, flush=True)
  return 2


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, with a flag it cannot parse reported by `report` (absl's own parser
  prints "FATAL Flags parsing error" and exits with status 1)."""
  try:
    return flags.FLAGS(list(argv))
  except flags.Error as error:
    sys.exit(report(ConfigError(str(error))))


def main(run: Callable[[Any], None], argv: Sequence[str] | None = None) -> None:
  """app.run(run) with the checks and error reporting of the module doc."""
  argv = list(sys.argv if argv is None else argv)
  try:
    check_command_line(argv[1:])
  except ConfigError as error:
    sys.exit(report(error))
  parallel.maybe_initialize_distributed()

  def guarded(args):
    if len(args) > 1:
      sys.exit(
        report(ConfigError(f"unexpected arguments {args[1:]}: give options as --flag=value"))
      )
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # orbax and tfds log every file operation at INFO
    try:
      run(args)
    except loop.StoppedEarly as stop:
      print(str(stop), flush=True)
    except USER_ERRORS as error:
      sys.exit(report(error))

  app.run(guarded, argv=argv, flags_parser=parse_flags)


def checked(config: Any) -> Any:
  """The config after the shared range checks (config_checks.check_config)."""
  check_config(config)
  return config

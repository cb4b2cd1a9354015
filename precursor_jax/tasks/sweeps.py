"""Hyperparameter sweeps over any registered task: trials expanded, grouped, vmapped, ranked.

A sweep is a list of trials; a trial is {dotted config field: value}. Three ways to write one:

  --sweep learning_rate=1e-3,2e-3 --sweep seed=0,1      grid shorthand (each NAME once)
  --sweep configs/sweeps/ses_lr_seed.py                 a sweep file whose get_sweep() returns
      {"grid": {"learning_rate": [1e-3, 2e-3], "seed": [0, 1]}}            every combination
      {"random": {"learning_rate": ("log_uniform", 1e-4, 1e-2),            `count` draws with
                  "seed": ("choice", [0, 1, 2])}, "count": 8, "seed": 0}   a seeded generator
      {"trials": [{"learning_rate": 1e-3}, {"model.lstm_ae.encoder_features": 64}]}   a list
  Random distributions: ("uniform", low, high), ("log_uniform", low, high), ("int", low, high)
  (inclusive), ("choice", [values]).

Trials that differ only in fields of wiring.VMAPPABLE_FIELDS (learning rate, decays, penalties,
seed) share shapes: they are stacked and trained by one vmapped step. Trials that differ in any
other field (hidden sizes, window lengths, dropout) are grouped by those fields, and each group is
one vmapped run in `<workdir>/group_<k>`. Every trial's config passes the same start-up checks as a
single run (config_checks), and the trials of a group share the data order of the base config.

A trial whose loss turns NaN/Inf is frozen at that step and marked (step.freeze_diverged); the
others go on. Results are ranked by the task's validation metric (SELECTION_METRIC, on the
validation split, never the test split; the test value is reported beside it) and written as
sweep.csv, sweep.md, sweep.json and sweep.png (the metric against each swept field). The best
trial's parameters are exported to `<workdir>/best` as a normal run's workdir: the train command
with that trial's overrides and `--workdir <workdir>/best` resumes (and re-reports) it.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import itertools
import json
import math
import pathlib
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from precursor_jax import config_checks
from precursor_jax.config_checks import ConfigError
from precursor_jax.training import checkpoints, runs, wiring
from precursor_jax.training.writer import to_python

SWEEP_FILE = "sweep.json"


# --------------------------------------------------------------------------------------------------
# Specs -> trials
# --------------------------------------------------------------------------------------------------


def _field_value(config: Any, name: str) -> Any:
  node = config
  for part in name.split("."):
    try:
      node = node[part]
    except (KeyError, AttributeError):
      raise ConfigError(f"sweep: the config has no field {name!r}") from None
  return node


def _field_type(config: Any, name: str) -> type | None:
  """The declared type of a field (placeholders included), None when it has none."""
  parent = config
  parts = name.split(".")
  for part in parts[:-1]:
    parent = parent[part]
  _field_value(config, name)
  field = parent._fields[parts[-1]]  # FieldReference or value
  kind = field.get_type() if hasattr(field, "get_type") else type(field)
  return None if kind is type(None) else kind


def parse_value(text: str, kind: type | None, name: str) -> Any:
  """A --sweep value as the field's type: "1e3" is 1000 for an int field, "0.5" is refused."""
  text = text.strip()
  if kind is bool:
    if text.lower() not in ("true", "false"):
      raise ConfigError(f"--sweep {name}: expected true or false, got {text!r}")
    return text.lower() == "true"
  if kind is str:
    return text
  try:
    number = float(text)
  except ValueError:
    raise ConfigError(f"--sweep {name}: {text!r} is not a number") from None
  if kind is int:
    if not math.isfinite(number) or not number.is_integer():
      raise ConfigError(f"--sweep {name}: integers expected, got {text!r}")
    return int(number)
  return number


def parse_shorthand(specs: Sequence[str], config: Any) -> dict[str, list]:
  """['learning_rate=1e-3,2e-3', 'seed=0,1'] -> a grid {name: [values]}, checked."""
  grid: dict[str, list] = {}
  for spec in specs:
    name, sep, values = spec.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
      raise ConfigError(f"--sweep {spec!r}: expected NAME=v1,v2,... or a sweep file (.py)")
    if name in grid:
      raise ConfigError(f"--sweep {name} is given twice; put all its values in one list")
    kind = _field_type(config, name)
    parsed = [parse_value(v, kind, name) for v in values.split(",")]
    if len(set(map(repr, parsed))) != len(parsed):
      raise ConfigError(f"--sweep {name}: repeated value in {values!r}")
    grid[name] = parsed
  return grid


def load_sweep_file(path: str | pathlib.Path) -> dict:
  """get_sweep() of a sweep file."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ConfigError(f"--sweep: no sweep file {path}")
  spec = importlib.util.spec_from_file_location(f"sweep_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_sweep"):
    raise ConfigError(
      f"{path}: a sweep file defines get_sweep() (see precursor_jax/tasks/sweeps.py)"
    )
  return dict(module.get_sweep())


def _draw(rng: np.random.Generator, name: str, distribution) -> Any:
  kind, *args = distribution
  if kind == "uniform":
    return float(rng.uniform(*args))
  if kind == "log_uniform":
    low, high = args
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))
  if kind == "int":
    low, high = args
    return int(rng.integers(low, high + 1))
  if kind == "choice":
    (values,) = args
    return values[int(rng.integers(len(values)))]
  raise ConfigError(
    f"sweep random {name}: unknown distribution {kind!r} (uniform, log_uniform, int, choice)"
  )


def expand(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
  """The trials of a sweep spec (grid, random or list; see the module doc), in a fixed order."""
  kinds = [k for k in ("grid", "random", "trials") if k in spec]
  if len(kinds) != 1:
    raise ConfigError(f"a sweep has exactly one of 'grid', 'random', 'trials'; got {sorted(spec)}")
  if "grid" in spec:
    grid = {k: list(v) for k, v in spec["grid"].items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
      raise ConfigError(f"sweep grid: no values for {empty}")
    trials = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
  elif "random" in spec:
    count = int(spec.get("count", 0))
    if count < 1:
      raise ConfigError("a random sweep needs 'count' >= 1")
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    trials = [{k: _draw(rng, k, d) for k, d in spec["random"].items()} for _ in range(count)]
  else:
    trials = [dict(t) for t in spec["trials"]]
  if not trials:
    raise ConfigError("the sweep has no trials")
  keys = [json.dumps(to_python(t), sort_keys=True) for t in trials]
  repeated = sorted({k for k in keys if keys.count(k) > 1})
  if repeated:
    raise ConfigError(f"the sweep repeats trial(s) {repeated}")
  return trials


def trial_config(config: Any, trial: Mapping[str, Any]) -> Any:
  """A copy of `config` with the trial's values, checked like a single run's."""
  out = copy.deepcopy(config)
  for name, value in trial.items():
    _field_value(out, name)
    out.update_from_flattened_dict({name: value})
  try:
    config_checks.check_config(out)
  except ConfigError as error:
    raise ConfigError(f"sweep trial {dict(trial)}: {error}") from None
  return out


def groups(trials: Sequence[Mapping[str, Any]]) -> list[tuple[dict, list[int]]]:
  """[(static fields, indices of the trials)]: trials that share their non-vmappable fields."""
  out: dict[str, tuple[dict, list[int]]] = {}
  for index, trial in enumerate(trials):
    static = {k: v for k, v in trial.items() if k not in wiring.VMAPPABLE_FIELDS}
    key = json.dumps(to_python(static), sort_keys=True)
    out.setdefault(key, (static, []))[1].append(index)
  return list(out.values())


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


def check_sweep_dir(workdir, config, trials: list[dict], *, force: bool) -> pathlib.Path:
  """The absolute sweep workdir if this sweep may use it (RunRefused otherwise; nothing written).

  A sweep directory is identified by its sweep.json (config and trial list); each group directory
  inside is a run directory checked by the wiring like any other.
  """
  if str(workdir).strip() == "":
    raise runs.RunRefused("the workdir is empty: give a directory or leave --workdir out")
  path = pathlib.Path(workdir).expanduser().resolve()
  if path.exists() and not path.is_dir():
    raise runs.RunRefused(
      f"sweep workdir {path} is a file, not a directory: choose another --workdir"
    )
  stored_file = path / SWEEP_FILE
  if stored_file.is_file():
    stored = json.loads(stored_file.read_text())
    new_trials = json.loads(json.dumps(to_python(trials), default=str))
    if stored.get("trials") != new_trials and not force:
      raise runs.RunRefused(
        f"sweep workdir {path} holds another trial list ({len(stored.get('trials', []))} trials, "
        f"now {len(trials)}); use another --workdir (the default is named after the sweep), or "
        "--force_resume"
      )
    diffs = runs.result_changing_differences(stored.get("config", {}), runs.as_json(config))
    if diffs and not force:
      raise runs.RunRefused(
        f"sweep workdir {path} holds a sweep of another base config ({', '.join(diffs)} differ); "
        "use another --workdir, or --force_resume"
      )
  elif path.is_dir() and any(path.iterdir()):
    raise runs.RunRefused(
      f"sweep workdir {path} holds files but no {SWEEP_FILE}: not a sweep directory; choose a new "
      "or empty --workdir"
    )
  return path


def run_sweep(
  task: Any,  # a tasks.Task (not imported: the registry imports the tasks, which import this)
  config: Any,
  trials: Sequence[Mapping[str, Any]],
  workdir: str | pathlib.Path,
  *,
  force_resume: bool = False,
  base_command: str | None = None,
) -> dict:
  """Trains every trial (grouped and vmapped) and writes the ranked results; see the module doc.

  base_command: the train command of the base config (entry point and its overrides), completed
  in sweep.md into the command that resumes the best trial from `<workdir>/best`.
  """
  if task.setup is None or task.selection_metric is None:
    raise ConfigError(f"task {task.name!r} does not train through the shared wiring: no sweeps")
  trials = [dict(t) for t in trials]
  base_data_seed = wiring.data_seed(config)
  # A trial's own config, as a single run would need it to train the same: the trials of a group
  # share the base data order, so a trial with another seed names that order explicitly.
  overrides = [
    {**t, **({"data_seed": base_data_seed} if t.get("seed", config.seed) != base_data_seed else {})}
    for t in trials
  ]
  configs = [trial_config(config, o) for o in overrides]  # every trial checked before any work
  workdir = check_sweep_dir(workdir, config, trials, force=force_resume)
  if jax.process_index() == 0:
    workdir.mkdir(parents=True, exist_ok=True)
    identity = {"config": runs.as_json(config), "trials": trials}
    (workdir / SWEEP_FILE).write_text(json.dumps(to_python(identity), indent=2, default=str))
  metric, direction = task.selection_metric
  results: list[dict] = [{} for _ in trials]
  group_list = groups(trials)
  print(f"sweep of {len(trials)} trials in {len(group_list)} group(s) -> {workdir}", flush=True)
  exported = {}
  for number, (static, indices) in enumerate(group_list):
    group_config = trial_config(config, {**static, "data_seed": base_data_seed})
    stacked = [
      {k: v for k, v in trials[i].items() if k in wiring.VMAPPABLE_FIELDS} for i in indices
    ]
    group_dir = workdir / f"group_{number}"
    run = wiring.start_run(
      group_config,
      group_dir,
      (group_config.batch_size, wiring.eval_batch_size(group_config)),
      force_resume=force_resume,
      extra={"trials": stacked},
    )
    problem = task.setup(group_config, validation=True)
    trained = wiring.train(group_config, run, problem, trials=stacked)
    final = trained.record["history"][-1]
    diverged = np.asarray(jax.device_get(trained.state.diverged_at))
    for position, index in enumerate(indices):
      results[index] = {
        **trials[index],
        f"val_{metric}": final[f"val/{metric}"][position],
        f"test_{metric}": final[f"test/{metric}"][position],
        "diverged_at": int(diverged[position]) if diverged[position] >= 0 else None,
        "group": number,
      }
      exported[index] = (trained, position)
  order = rank(results, f"val_{metric}", direction)
  ranked = [results[i] for i in order]
  best = order[0]
  if jax.process_index() == 0:
    command = None
    if base_command is not None:
      flags_ = " ".join(f"--config.{k}={v}" for k, v in overrides[best].items())
      command = f"{base_command} {flags_} --workdir {workdir / 'best'}"
    write_results(workdir, ranked, trials, metric, command)
  trained, position = exported[best]
  export_trial(
    trained, position, configs[best], workdir / "best"
  )  # every process: orbax saves together
  if jax.process_index() == 0:
    identity = {"config": runs.as_json(config), "trials": trials, "ranked": ranked, "best": best}
    (workdir / SWEEP_FILE).write_text(json.dumps(to_python(identity), indent=2, default=str))
  return {"results": ranked, "best": results[order[0]], "workdir": str(workdir)}


def rank(results: Sequence[Mapping], key: str, direction: str) -> list[int]:
  """Trial indices best first by results[i][key] ("max" or "min"); diverged and NaN trials last."""

  def score(i):
    value = results[i][key]
    bad = results[i].get("diverged_at") is not None or value is None or not math.isfinite(value)
    return (bad, -value if direction == "max" and not bad else (value if not bad else 0.0), i)

  return sorted(range(len(results)), key=score)


def export_trial(trained: wiring.Trained, position: int, config: Any, target: pathlib.Path) -> None:
  """One trial of a stacked run written as a normal run's workdir (config, environment, checkpoint)."""
  state = jax.tree.map(lambda x: np.asarray(x)[position], jax.device_get(trained.state))
  history = [
    {k: (v[position] if isinstance(v, list) else v) for k, v in entry.items()}
    for entry in trained.record.get("history", [])
  ]
  if jax.process_index() == 0:
    if target.exists():  # derived output: written afresh from the trial every time
      shutil.rmtree(target)
    target.mkdir(parents=True)
    runs.record_start(target, config, fingerprints=trained.problem.fingerprints, force=True)
  if jax.process_count() > 1:  # the directory is fresh before any process saves into it
    multihost_utils.sync_global_devices(f"export {target}")
  checkpointer = checkpoints.Checkpointer(target / "checkpoints")
  try:
    checkpointer.save(
      int(state.step), state, {"history": history, "exported_from": position}, force=True
    )
  finally:
    checkpointer.close()


def write_results(
  workdir: pathlib.Path, ranked: Sequence[Mapping], trials, metric: str, command: str | None = None
) -> None:
  """sweep.csv, sweep.md and sweep.png (the validation metric against each swept field)."""
  fields = sorted({k for t in trials for k in t})
  columns = fields + [f"val_{metric}", f"test_{metric}", "diverged_at", "group"]
  with open(workdir / "sweep.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, columns, extrasaction="ignore")
    writer.writeheader()
    for row in ranked:
      writer.writerow({k: to_python(row.get(k)) for k in columns})
  lines = [
    f"Trials ranked by validation {metric} (test {metric} beside it, never used to rank).",
    "",
    "| rank | " + " | ".join(columns) + " |",
    "|---" * (len(columns) + 1) + "|",
  ]
  for position, row in enumerate(ranked, 1):
    cells = [cell(row.get(k)) for k in columns]
    lines.append(f"| {position} | " + " | ".join(cells) + " |")
  if command:
    lines += [
      "",
      f"The best trial is a normal run in {workdir / 'best'}; resume or re-report it with:",
      "",
      f"    {command}",
    ]
  (workdir / "sweep.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines), flush=True)
  plot_results(workdir / "sweep.png", ranked, fields, f"val_{metric}", f"validation {metric}")


def cell(value) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    return f"{value:.4g}"
  return str(value)


def plot_results(
  path: pathlib.Path, ranked: Sequence[Mapping], fields: Sequence[str], key: str, label: str
) -> None:
  """The ranking value `key` of every trial against each swept field, one panel per field."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(
    1, max(len(fields), 1), figsize=(4 * max(len(fields), 1), 3.2), squeeze=False
  )
  for ax, field in zip(axes[0], fields, strict=False):
    xs = [row.get(field) for row in ranked]
    ys = [row[key] for row in ranked]
    numeric = all(isinstance(x, int | float) for x in xs)
    positions = xs if numeric else list(range(len(xs)))
    ax.scatter(positions, ys, color="k", s=18)
    if numeric and all(x > 0 for x in xs) and max(xs) / min(xs) > 20:
      ax.set_xscale("log")
    if not numeric:
      ax.set_xticks(positions, [str(x) for x in xs], rotation=45)
    ax.set_xlabel(field)
    ax.set_ylabel(label)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)

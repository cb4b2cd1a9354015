"""Run identity: which workdir a run uses, whether a rerun may resume there, what a run records.

A workdir belongs to one run. A rerun with the same workdir resumes from its last checkpoint only
when its config equals the stored `config.json` in every field that can change results; the fields
in SAFE_TO_CHANGE_ON_RESUME (logging and checkpoint cadence, evaluation settings, where the data
live, the device count) may differ. Any other difference is refused before anything is written,
with the differing fields listed and the two ways out: another --workdir, or --force_resume (which
resumes anyway and logs the change in config_changes.jsonl; sensible only for changes that keep
the parameter tree, such as more epochs).

The default workdir (`default_workdir`) is named after the config argument plus a short hash of the
effective command-line overrides, so `--config.model.name=gru_ae` or `--config.num_epochs=5` never
lands in the directory of the run without them.

What a run records once its start-up checks have passed (`record_start`, process 0 only):
  config.json          the resolved config
  environment.json     start time, the git commit of the code (and whether it had uncommitted
                       changes), Python, platform, CPU (model, family/model numbers, vector
                       ISA), resolved package versions and the jaxlib wheel's platform tag, devices, the XLA
                       flags and jax numerics settings in force, the CPUs the process may use,
                       and the fingerprints of the data the run read (checked again on resume)
  config_changes.jsonl one line per forced resume: the fields that changed

What moves a result on CPU (measured; the README's "Reproducibility"): on one machine, with the
same usable cores and flags, runs are bit-identical. XLA:CPU compiles for the host's vector ISA
(--xla_cpu_max_isa in XLA_FLAGS caps it) and splits work by the number of usable cores; either
changes the order of float reductions, hence the last bits, hence (over thousands of steps) the
trained model. Hence the CPU's family/model numbers and ISA flags, the usable CPUs and the XLA
flags in environment.json.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from precursor_jax.training.writer import to_python

CONFIG_FILE = "config.json"
ENVIRONMENT_FILE = "environment.json"
CHANGES_FILE = "config_changes.jsonl"
# Fields (and whole subtrees) that do not change what a run computes, only how often it reports,
# where it reads its (fingerprinted) data from, or how it evaluates at the end.
SAFE_TO_CHANGE_ON_RESUME = (
  "log_every_steps",
  "checkpoint_every_steps",
  "checkpoints_to_keep",
  "eval_every_epochs",
  "stop_after_step",
  "num_devices",
  "dataset.data_dir",
  "dataset.validation_repeats",
  "eval",
)
# Packages whose versions can move a result; recorded in environment.json.
RECORDED_PACKAGES = (
  "jax",
  "jaxlib",
  "flax",
  "optax",
  "orbax-checkpoint",
  "numpy",
  "scipy",
  "tensorflow-datasets",
  "array-record",
  "ml-collections",
  "precursor_jax",
)
DEFAULT_ROOT = pathlib.Path.home() / ".cache" / "precursor_jax"


class RunRefused(ValueError):
  """A run that may not start in the workdir it was given; nothing has been written."""


def as_json(config: Any) -> Any:
  """The config as plain JSON values (what config.json holds), for comparison and writing."""
  as_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return json.loads(json.dumps(to_python(as_dict), sort_keys=True, default=str))


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1}; an empty mapping stays a leaf."""
  flat: dict[str, Any] = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping) and value:
      flat.update(flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


_ABSENT = "<absent>"


def differences(stored: Mapping, new: Mapping) -> dict[str, tuple[Any, Any]]:
  """Dotted field -> (stored value, new value) for every field that differs (or exists in one)."""
  a, b = flatten(stored), flatten(new)
  return {
    key: (a.get(key, _ABSENT), b.get(key, _ABSENT))
    for key in sorted(set(a) | set(b))
    if a.get(key, _ABSENT) != b.get(key, _ABSENT)
  }


def is_safe_to_change(field: str) -> bool:
  return any(field == safe or field.startswith(safe + ".") for safe in SAFE_TO_CHANGE_ON_RESUME)


def result_changing_differences(stored: Mapping, new: Mapping) -> dict[str, tuple[Any, Any]]:
  """The differences that a resume may not carry silently."""
  return {k: v for k, v in differences(stored, new).items() if not is_safe_to_change(k)}


def _describe(diffs: Mapping[str, tuple[Any, Any]], limit: int = 12) -> str:
  lines = [f"  {key}: {old!r} -> {new!r}" for key, (old, new) in list(diffs.items())[:limit]]
  if len(diffs) > limit:
    lines.append(f"  ... and {len(diffs) - limit} more")
  return "\n".join(lines)


def run_json(config: Any, extra: Mapping[str, Any] | None = None) -> dict:
  """What config.json holds: the config, plus `extra` (e.g. a sweep's trials) under "_run"."""
  stored = as_json(config)
  if extra:
    stored["_run"] = json.loads(json.dumps(to_python(dict(extra)), sort_keys=True, default=str))
  return stored


def check_workdir(
  workdir: str | os.PathLike,
  config: Any,
  *,
  force: bool = False,
  extra: Mapping[str, Any] | None = None,
) -> pathlib.Path:
  """The absolute workdir if this run may use it; RunRefused (nothing written) otherwise.

  A new or empty directory is free; one with a config.json may be resumed by the same config
  (SAFE_TO_CHANGE_ON_RESUME fields aside) or, with force, by another; a directory that holds files
  but no config.json is not a run directory and is never written into.
  """
  if str(workdir).strip() == "":
    raise RunRefused("the workdir is empty: give a directory (--workdir DIR) or leave the flag out")
  path = pathlib.Path(workdir).expanduser().resolve()
  if path.exists() and not path.is_dir():
    raise RunRefused(f"workdir {path} is a file, not a directory: choose another --workdir")
  stored_file = path / CONFIG_FILE
  if stored_file.is_file():
    try:
      stored = json.loads(stored_file.read_text())
    except json.JSONDecodeError as error:
      raise RunRefused(
        f"{stored_file} is not valid JSON ({error}): choose another --workdir"
      ) from None
    diffs = result_changing_differences(stored, run_json(config, extra))
    if diffs and not force:
      raise RunRefused(
        f"workdir {path} holds a run with another config; these fields differ (stored -> now):\n"
        f"{_describe(diffs)}\n"
        "Resuming would mix two experiments. Use another --workdir (or leave --workdir out: the "
        "default is named after the overrides), or pass --force_resume to continue this run "
        "with the new values (only sensible when the parameter tree stays the same)."
      )
  elif path.is_dir() and any(path.iterdir()):
    raise RunRefused(
      f"workdir {path} holds files but no {CONFIG_FILE}: it is not a precursor_jax run directory, "
      "and nothing is written into it; choose a new or empty --workdir"
    )
  return path


def fingerprint_arrays(arrays: Mapping[str, np.ndarray]) -> str:
  """blake2b over the names, dtypes, shapes and bytes of arrays (in name order): a data identity."""
  digest = hashlib.blake2b(digest_size=16)
  for name in sorted(arrays):
    array = np.ascontiguousarray(arrays[name])
    digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def fingerprint_file(path: str | os.PathLike) -> str:
  """blake2b of a file's bytes."""
  digest = hashlib.blake2b(digest_size=16)
  with open(path, "rb") as handle:
    for block in iter(lambda: handle.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _cpu() -> dict[str, Any]:
  info: dict[str, Any] = {"machine": platform.machine(), "processor": platform.processor()}
  try:
    text = pathlib.Path("/proc/cpuinfo").read_text()
  except OSError:
    return info
  # "model name" can be as vague as "AMD EPYC": family and model numbers name the generation.
  fields = {"model name": "model", "cpu family": "family", "model": "model_number"}
  for line in text.splitlines():
    key, _, value = line.partition(":")
    key = key.strip()
    if key in fields and fields[key] not in info:
      info[fields[key]] = value.strip()
    if key == "flags" and "isa" not in info:
      flags = set(value.split())
      info["isa"] = sorted(f for f in flags if f.startswith(("avx", "sse4", "fma", "amx")))
  info["logical_cpus"] = os.cpu_count()
  return info


def _usable_cpus() -> int | None:
  """The CPUs this process may run on (taskset, cgroup cpusets): XLA sizes its thread pool by it."""
  try:
    return len(os.sched_getaffinity(0))
  except (AttributeError, OSError):
    return None


def _xla() -> dict[str, Any]:
  """The XLA flags and jax settings that can change the numbers of a CPU run."""
  flags = os.environ.get("XLA_FLAGS", "")
  max_isa = [f.split("=", 1)[1] for f in flags.split() if f.startswith("--xla_cpu_max_isa=")]
  return {
    "cpu_max_isa": max_isa[-1] if max_isa else "host (no --xla_cpu_max_isa)",
    "usable_cpus": _usable_cpus(),
    "thread_variables": {
      name: os.environ[name]
      for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
      if name in os.environ
    },
    "jax_config": {
      name: to_python(getattr(jax.config, name, None))
      for name in (
        "jax_enable_x64",
        "jax_default_matmul_precision",
        "jax_threefry_partitionable",
        "jax_num_cpu_devices",
      )
    },
  }


def _wheel_tag(name: str) -> str | None:
  """The platform tag of an installed wheel (the build a binary package came from)."""
  try:
    wheel = importlib.metadata.distribution(name).read_text("WHEEL") or ""
  except importlib.metadata.PackageNotFoundError:
    return None
  tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
  return ", ".join(tags) or None


def source_revision() -> dict[str, Any] | None:
  """The git commit of the checkout precursor_jax runs from and whether it has uncommitted
  changes; None for an installed copy outside git (or no git), where the versions must do."""
  root = pathlib.Path(__file__).resolve().parents[2]

  def git(*args: str) -> str:
    return subprocess.run(
      ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()

  try:
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
  except (OSError, subprocess.SubprocessError):
    return None
  return {"commit": commit, "dirty": dirty}


def environment(fingerprints: Mapping[str, str] | None = None) -> dict[str, Any]:
  """What can move a result besides the config: interpreter, packages, hardware, XLA settings,
  data (see the module doc)."""
  versions = {}
  for name in RECORDED_PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  devices = jax.devices()
  return {
    "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "source": source_revision(),
    "python": sys.version.split()[0],
    "platform": platform.platform(),
    "cpu": _cpu(),
    "packages": versions,
    "jaxlib_wheel": _wheel_tag("jaxlib"),
    "devices": {
      "count": len(devices),
      "kind": devices[0].device_kind,
      "platform": devices[0].platform,
    },
    "process_count": jax.process_count(),
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "xla": _xla(),
    "data_fingerprints": dict(fingerprints or {}),
  }


def record_start(
  workdir: pathlib.Path,
  config: Any,
  *,
  fingerprints: Mapping[str, str] | None = None,
  force: bool = False,
  extra: Mapping[str, Any] | None = None,
) -> None:
  """Writes config.json and environment.json once the run's start-up checks have passed.

  On resume, data whose fingerprints differ from the stored ones are refused (RunRefused, nothing
  written) unless `force`; a forced config change is appended to config_changes.jsonl. `extra`
  (e.g. a sweep's trial list) goes into config.json under "_run".
  """
  new_config = run_json(config, extra)
  stored_env_file = workdir / ENVIRONMENT_FILE
  if stored_env_file.is_file() and fingerprints:
    stored = json.loads(stored_env_file.read_text()).get("data_fingerprints", {})
    changed = {k: (stored[k], v) for k, v in fingerprints.items() if k in stored and stored[k] != v}
    if changed and not force:
      raise RunRefused(
        f"workdir {workdir}: the data differ from the data this run was trained on "
        f"(fingerprints stored -> now):\n{_describe(changed)}\n"
        "Use another --workdir, or --force_resume to continue on the new data."
      )
  if jax.process_index() != 0:
    return
  workdir.mkdir(parents=True, exist_ok=True)
  stored_file = workdir / CONFIG_FILE
  if stored_file.is_file():
    diffs = differences(json.loads(stored_file.read_text()), new_config)
    if diffs:
      line = {"time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
      line["changed"] = {k: list(v) for k, v in diffs.items()}
      line["forced"] = bool(force)
      with open(workdir / CHANGES_FILE, "a") as handle:
        handle.write(json.dumps(line, default=str) + "\n")
  write_atomically(stored_file, json.dumps(new_config, indent=2, sort_keys=True))
  write_atomically(stored_env_file, json.dumps(environment(fingerprints), indent=2, sort_keys=True))


def write_atomically(path: pathlib.Path, text: str) -> None:
  """Writes `text` to `path` through a temporary file and one rename, so a reader (another
  process checking the workdir, a run killed mid-write) sees the old file or the new, never half."""
  partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
  partial.write_text(text)
  os.replace(partial, path)


def override_hash(overrides: Mapping[str, Any]) -> str:
  """8 hex digits identifying a set of effective overrides (order-free)."""
  text = json.dumps(to_python(dict(overrides)), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:8]


def default_workdir(
  config_argument: str,
  overrides: Mapping[str, Any],
  kind: str = "workdirs",
  *,
  extra: Sequence = (),
) -> pathlib.Path:
  """~/.cache/precursor_jax/<kind>/<config stem>[_<arg>][-<hash of overrides and extra>].

  Without overrides the name is the config's alone (the README's path); with any effective
  override (or `extra`, e.g. a sweep grid) an 8-digit hash keeps the runs apart.
  """
  path, _, arg = config_argument.partition(":")
  name = pathlib.Path(path).stem
  if arg:
    name += "_" + "".join(c if c.isalnum() or c in "-_." else "_" for c in arg)
  if overrides or extra:
    name += "-" + override_hash({"overrides": dict(overrides), "extra": list(extra)})
  return DEFAULT_ROOT / kind / name

"""The run manifest (`runs.jsonl`) and what a launch root says about each of its runs.

One JSON object per line, in launch order:

  {"id": "001-learning_rate=0.002",
   "command": ["python", "-m", "precursor_jax.train", "--config=configs/ses_hkb.py",
               "--config.learning_rate=0.002", "--workdir=/shared/l/runs/001-learning_rate=0.002"],
   "workdir": "/shared/l/runs/001-learning_rate=0.002",
   "config": "configs/ses_hkb.py", "overrides": {"learning_rate": 0.002},
   "task": "ses", "metric": ["test", "success"]}

`command` is an argv list run from the repository root; a leading "python" means the interpreter
that runs the launcher (launch/run.py). `overrides` are every --config.x=y of the command, as
typed values. `metric` is the path of the task's headline number inside summary.json.

The launch root is the manifest's directory. Beside it the launchers keep:
  runs/<id>/          the workdirs (unless the manifest names others)
  logs/<id>.log       stdout and stderr of every attempt (local launcher; SLURM: logs/slurm-*.out)
  status/<id>.json    the last attempt: status, exit code, wall time, attempt count, host
  status/<id>.lock    held (flock) while a process runs the run; released when it dies

A run's state comes from its workdir first: summary.json means done, whatever the status file says;
otherwise the status file and lock tell running, failed, interrupted (a dead attempt) or pending.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import os
import pathlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MANIFEST_NAME = "runs.jsonl"
SUMMARY_FILE = "summary.json"
# Environment variables that number the hosts of one multi-host run, first match wins; the host
# numbered 0 (or a run with none of them) is the primary: it records status and writes the table.
HOST_INDEX_VARIABLES = (
  "PRECURSOR_JAX_HOST_INDEX",  # set by the rendered TPU VM commands (from the metadata server)
  "JAX_PROCESS_ID",
  "SLURM_PROCID",
  "JOB_COMPLETION_INDEX",  # Kubernetes indexed Jobs (JobSet)
  "TPU_WORKER_ID",
)
REQUIRED_KEYS = ("id", "command", "workdir", "config", "overrides")


class ManifestError(ValueError):
  """A manifest that cannot be used, with the file, line and field at fault."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One line of the manifest."""

  id: str
  command: tuple[str, ...]
  workdir: str
  config: str
  overrides: Mapping[str, Any]
  task: str | None = None
  metric: tuple[str, ...] | None = None

  def to_json(self) -> dict:
    """The manifest line (plain JSON values)."""
    line = dataclasses.asdict(self)
    line["command"] = list(self.command)
    line["overrides"] = dict(self.overrides)
    line["metric"] = None if self.metric is None else list(self.metric)
    return line


def write(path: str | os.PathLike, runs: Sequence[Run]) -> pathlib.Path:
  """Writes the manifest (one JSON line per run) atomically; returns its path."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  text = "".join(json.dumps(run.to_json(), sort_keys=True) + "\n" for run in runs)
  write_atomically(path, text)
  return path


def read(path: str | os.PathLike) -> list[Run]:
  """The runs of a manifest; ManifestError naming the line and field of any mistake."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ManifestError(f"{path}: no such manifest (make one with python -m launch.expand)")
  runs, seen = [], set()
  for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
    if not text.strip():
      continue
    try:
      line = json.loads(text)
    except json.JSONDecodeError as error:
      raise ManifestError(f"{path}:{number}: not a JSON object ({error.msg})") from None
    if not isinstance(line, dict):
      raise ManifestError(f"{path}:{number}: expected a JSON object, got {type(line).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in line]
    if missing:
      raise ManifestError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
    command = line["command"]
    if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
      raise ManifestError(f"{path}:{number}: field 'command': expected a non-empty list of strings")
    if not isinstance(line["overrides"], dict):
      raise ManifestError(f"{path}:{number}: field 'overrides': expected an object")
    if line["id"] in seen:
      raise ManifestError(f"{path}:{number}: field 'id': {line['id']!r} repeats an earlier run")
    seen.add(line["id"])
    metric = line.get("metric")
    runs.append(
      Run(
        id=str(line["id"]),
        command=tuple(command),
        workdir=str(line["workdir"]),
        config=str(line["config"]),
        overrides=dict(line["overrides"]),
        task=line.get("task"),
        metric=None if metric is None else tuple(metric),
      )
    )
  if not runs:
    raise ManifestError(f"{path}: the manifest holds no runs")
  return runs


def root_of(manifest_path: str | os.PathLike) -> pathlib.Path:
  """The launch root: the manifest's directory (absolute)."""
  return pathlib.Path(manifest_path).absolute().parent


def write_atomically(path: pathlib.Path, text: str) -> None:
  """Writes `text` so that a reader sees the old file or the new one, never half of one."""
  partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  partial.write_text(text, encoding="utf-8")
  os.replace(partial, path)


# --------------------------------------------------------------------------------------------------
# Hosts, status files and locks
# --------------------------------------------------------------------------------------------------


def host_index(environ: Mapping[str, str]) -> int:
  """This host's number within a multi-host run (HOST_INDEX_VARIABLES); 0 when none is set."""
  for name in HOST_INDEX_VARIABLES:
    value = environ.get(name, "").strip()
    if value:
      try:
        return int(value)
      except ValueError:
        raise ManifestError(f"{name}={value!r}: expected a host number") from None
  return 0


def is_done(run: Run) -> bool:
  """The resume rule: a run whose workdir holds summary.json is finished."""
  return (pathlib.Path(run.workdir) / SUMMARY_FILE).is_file()


def status_path(root: pathlib.Path, run: Run) -> pathlib.Path:
  return root / "status" / f"{run.id}.json"


def log_path(root: pathlib.Path, run: Run) -> pathlib.Path:
  return root / "logs" / f"{run.id}.log"


def read_status(root: pathlib.Path, run: Run) -> dict:
  """The last attempt's status record ({} when the run was never started)."""
  path = status_path(root, run)
  try:
    return json.loads(path.read_text())
  except (FileNotFoundError, json.JSONDecodeError):
    return {}


def write_status(root: pathlib.Path, run: Run, **fields) -> dict:
  """Records this attempt (merged into the previous record) with the time and host."""
  record = {**read_status(root, run), **fields, "id": run.id}
  record["updated"] = now()
  record["host"] = socket.gethostname()
  path = status_path(root, run)
  path.parent.mkdir(parents=True, exist_ok=True)
  write_atomically(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
  return record


def now() -> str:
  return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class RunLock:
  """An exclusive flock on status/<id>.lock: one process at a time runs a run. The kernel
  releases it when the holder dies, even by SIGKILL, so a dead attempt never blocks a rerun."""

  def __init__(self, root: pathlib.Path, run: Run):
    self.path = root / "status" / f"{run.id}.lock"
    self._handle = None

  def acquire(self) -> bool:
    """True when this process now holds the lock; False when another process holds it."""
    self.path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(self.path, "a")  # closed by release()
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.close()
      return False
    self._handle = handle
    return True

  def release(self) -> None:
    if self._handle is not None:
      fcntl.flock(self._handle, fcntl.LOCK_UN)
      self._handle.close()
      self._handle = None


def is_locked(root: pathlib.Path, run: Run) -> bool:
  """True while some process runs `run` (it holds the run's lock)."""
  lock = RunLock(root, run)
  if not lock.path.exists():
    return False
  if lock.acquire():
    lock.release()
    return False
  return True


def state(root: pathlib.Path, run: Run) -> str:
  """done | running | failed | stopped | interrupted | pending (see the module doc)."""
  if is_done(run):
    return "done"
  if is_locked(root, run):
    return "running"
  status = read_status(root, run).get("status")
  if status in ("failed", "stopped"):
    return status
  if status == "running" or (pathlib.Path(run.workdir) / "checkpoints").is_dir():
    return "interrupted"  # an attempt died without recording its end
  return "pending"


def pending(runs: Iterable[Run]) -> list[int]:
  """Indices of the runs that are not done (what a launcher still has to run)."""
  return [index for index, run in enumerate(runs) if not is_done(run)]

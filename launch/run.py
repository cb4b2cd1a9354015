"""Runs one line of a manifest, the way every launcher does: `python -m launch.run MANIFEST --index I`.

  - done (summary.json in the workdir): skipped, exit 0;
  - another process runs it now (it holds status/<id>.lock): left alone, exit 0;
  - otherwise the train command runs (from the repository root; a leading "python" is this
    interpreter) and resumes from the workdir's last checkpoint if an earlier attempt left one.

On a multi-host run every host calls this with the same index and runs the command (JAX joins the
hosts); only the primary host (launch/manifest.py: HOST_INDEX_VARIABLES) takes the lock, records
the attempt in status/<id>.json and refreshes the launch table. SIGTERM and SIGINT (a scheduler's
preemption notice) are passed on to the train process, and the train process dies with this one
(Linux), so killing a launcher never leaves a run training unseen. The exit status is the train
command's.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from launch import manifest, summary

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
  """preexec_fn: the child gets SIGKILL when the process that started it dies (Linux only)."""
  try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
  except (OSError, AttributeError):  # not Linux: the child outlives a killed parent
    pass


def command_of(run: manifest.Run, python: str | None = None) -> list[str]:
  """The run's argv with a leading "python" replaced by `python` (default: this interpreter)."""
  argv = list(run.command)
  if argv[0] == "python":
    argv[0] = python or sys.executable
  return argv


def run_one(
  manifest_path: str | os.PathLike,
  index: int,
  *,
  python: str | None = None,
  environ: Mapping[str, str] | None = None,
) -> int:
  """Runs (or skips) line `index` of the manifest; returns the exit status (see the module doc)."""
  environ = os.environ if environ is None else environ
  runs = manifest.read(manifest_path)
  if not 0 <= index < len(runs):
    raise manifest.ManifestError(
      f"{manifest_path}: --index {index}, but the manifest has runs 0..{len(runs) - 1}"
    )
  run, root = runs[index], manifest.root_of(manifest_path)
  if manifest.is_done(run):
    print(f"[launch] {run.id}: done (summary.json present), skipped", flush=True)
    return 0
  primary = manifest.host_index(environ) == 0
  lock = manifest.RunLock(root, run)
  if primary and not lock.acquire():
    print(f"[launch] {run.id}: another process is running it, left alone", flush=True)
    return 0
  try:
    return _attempt(run, root, primary, python)
  finally:
    lock.release()
    if primary:
      summary.refresh(manifest_path)


def _attempt(run: manifest.Run, root: pathlib.Path, primary: bool, python: str | None) -> int:
  previous = manifest.read_status(root, run)
  attempt = int(previous.get("attempts", 0)) + 1
  resumes = (pathlib.Path(run.workdir) / "checkpoints").is_dir()
  if primary:
    manifest.write_status(
      root, run, status="running", attempts=attempt, started=manifest.now(), returncode=None
    )
  print(
    f"[launch] {run.id}: attempt {attempt}" + (" (resumes its checkpoint)" if resumes else ""),
    flush=True,
  )
  started = time.perf_counter()
  child = subprocess.Popen(command_of(run, python), cwd=REPO_ROOT, preexec_fn=die_with_parent)
  forward = lambda signum, frame: child.send_signal(signum)
  previous_handlers = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    returncode = child.wait()
  finally:
    for number, handler in previous_handlers.items():
      signal.signal(number, handler)
  wall = time.perf_counter() - started
  done = manifest.is_done(run)
  status = "done" if done else ("failed" if returncode else "stopped")
  if primary:
    manifest.write_status(
      root, run, status=status, returncode=returncode, wall_seconds=wall, finished=manifest.now()
    )
  print(f"[launch] {run.id}: {status} (exit {returncode}) after {wall:.1f} s", flush=True)
  return returncode


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(prog="python -m launch.run", description=__doc__.split("\n")[0])
  parser.add_argument("manifest", help="runs.jsonl")
  parser.add_argument("--index", type=int, required=True, help="0-based line of the manifest")
  parser.add_argument("--python", default=None, help="interpreter for a leading 'python'")
  args = parser.parse_args(argv)
  try:
    return run_one(args.manifest, args.index, python=args.python)
  except manifest.ManifestError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())

"""Renders a SLURM job array for a manifest: array task i runs line i (`python -m launch.run`).

  python -m launch.slurm ROOT/runs.jsonl --gpus_per_node 8 [--nodes 2] [--time 04:00:00] \
      [--partition P] [--account A] [--max_running 4] [--setup "source .venv/bin/activate"]
  jid=$(sbatch --parsable ROOT/slurm_array.sbatch)                      # the runs
  sbatch --dependency=afterany:$jid ROOT/slurm_summary.sbatch           # the table at the end

The array is `--array=0-(N-1)` for N runs (`%M` caps how many run at once). Each task runs one
process per node through srun; with several nodes jax.distributed.initialize() reads SLURM's
variables (training/parallel.py) and SLURM_PROCID names the primary host. `--requeue` lets SLURM
resubmit a preempted task, which resumes from its checkpoint; resubmitting the whole array skips
the finished runs. Logs go to ROOT/logs/slurm-<array job>_<task>.out (the directory is made here,
since SLURM will not). Both scripts `cd` to the repository they were rendered from (--repo).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shlex
import sys
from collections.abc import Sequence

from launch import manifest, run

_TIME = re.compile(r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$")
ARRAY_SCRIPT = "slurm_array.sbatch"
SUMMARY_SCRIPT = "slurm_summary.sbatch"


def render_array(
  manifest_path: str | pathlib.Path,
  count: int,
  *,
  nodes: int = 1,
  gpus_per_node: int = 0,
  cpus_per_task: int | None = None,
  time: str = "04:00:00",
  partition: str | None = None,
  account: str | None = None,
  max_running: int | None = None,
  job_name: str = "precursor_jax",
  setup: Sequence[str] = (),
  python: str = "python",
  repo: str | pathlib.Path = run.REPO_ROOT,
) -> str:
  """The sbatch script of the array (see the module doc)."""
  if count < 1:
    raise ValueError("the manifest holds no runs")
  if nodes < 1 or gpus_per_node < 0:
    raise ValueError(f"--nodes {nodes} --gpus_per_node {gpus_per_node}: expected >= 1 and >= 0")
  if not _TIME.match(time):
    raise ValueError(f"--time {time!r}: expected [days-]hours[:minutes[:seconds]]")
  manifest_path = pathlib.Path(manifest_path).absolute()
  root = manifest_path.parent
  array = f"0-{count - 1}" + (f"%{max_running}" if max_running else "")
  directives = [
    f"--job-name={job_name}",
    f"--array={array}",
    f"--nodes={nodes}",
    "--ntasks-per-node=1",
    f"--time={time}",
    "--requeue",
    f"--output={root / 'logs' / 'slurm-%A_%a.out'}",
  ]
  if gpus_per_node:
    directives.append(f"--gpus-per-node={gpus_per_node}")
  if cpus_per_task:
    directives.append(f"--cpus-per-task={cpus_per_task}")
  if partition:
    directives.append(f"--partition={partition}")
  if account:
    directives.append(f"--account={account}")
  step = [python, "-m", "launch.run", str(manifest_path), "--index"]
  lines = [
    "#!/usr/bin/env bash",
    f"# Rendered by `python -m launch.slurm` from {manifest_path} ({count} runs).",
    "# One array task per manifest line; rerun or resubmit freely: finished runs are skipped.",
    f"#   jid=$(sbatch --parsable {shlex.quote(str(root / ARRAY_SCRIPT))})",
    f"#   sbatch --dependency=afterany:$jid {shlex.quote(str(root / SUMMARY_SCRIPT))}",
    *(f"#SBATCH {d}" for d in directives),
    "set -euo pipefail",
    f"cd {shlex.quote(str(repo))}",
    *setup,
    'echo "array task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID} on $(hostname)"',
    "srun --ntasks-per-node=1 "
    + " ".join(shlex.quote(a) for a in step)
    + ' "${SLURM_ARRAY_TASK_ID}"',
  ]
  return "\n".join(lines) + "\n"


def render_summary(
  manifest_path: str | pathlib.Path,
  *,
  partition: str | None = None,
  account: str | None = None,
  job_name: str = "precursor_jax",
  setup: Sequence[str] = (),
  python: str = "python",
  repo: str | pathlib.Path = run.REPO_ROOT,
) -> str:
  """A one-task job that writes the launch table (submit it after the array)."""
  manifest_path = pathlib.Path(manifest_path).absolute()
  root = manifest_path.parent
  directives = [f"--job-name={job_name}-summary", "--ntasks=1", "--time=00:10:00"]
  directives.append(f"--output={root / 'logs' / 'slurm-summary-%j.out'}")
  if partition:
    directives.append(f"--partition={partition}")
  if account:
    directives.append(f"--account={account}")
  lines = [
    "#!/usr/bin/env bash",
    f"# Rendered by `python -m launch.slurm`: the launch table of {manifest_path}.",
    *(f"#SBATCH {d}" for d in directives),
    "set -euo pipefail",
    f"cd {shlex.quote(str(repo))}",
    *setup,
    " ".join(shlex.quote(a) for a in (python, "-m", "launch.summary", str(manifest_path))),
  ]
  return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.slurm", description=__doc__.split("\n")[0]
  )
  parser.add_argument("manifest", help="runs.jsonl")
  parser.add_argument("--nodes", type=int, default=1, help="nodes per run (one process each)")
  parser.add_argument("--gpus_per_node", type=int, default=0)
  parser.add_argument("--cpus_per_task", type=int, default=None)
  parser.add_argument("--time", default="04:00:00", help="limit per run, [days-]HH:MM:SS")
  parser.add_argument("--partition", default=None)
  parser.add_argument("--account", default=None)
  parser.add_argument("--max_running", type=int, default=None, help="array tasks at once")
  parser.add_argument("--job_name", default="precursor_jax")
  parser.add_argument("--setup", action="append", default=[], help="shell line before the run")
  parser.add_argument("--python", default="python")
  parser.add_argument("--repo", default=str(run.REPO_ROOT), help="repository on the cluster")
  args = parser.parse_args(argv)
  try:
    runs = manifest.read(args.manifest)
    root = manifest.root_of(args.manifest)
    shared = dict(
      partition=args.partition,
      account=args.account,
      job_name=args.job_name,
      setup=args.setup,
      python=args.python,
      repo=args.repo,
    )
    array = render_array(
      args.manifest,
      len(runs),
      nodes=args.nodes,
      gpus_per_node=args.gpus_per_node,
      cpus_per_task=args.cpus_per_task,
      time=args.time,
      max_running=args.max_running,
      **shared,
    )
    final = render_summary(args.manifest, **shared)
  except (manifest.ManifestError, ValueError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  (root / "logs").mkdir(parents=True, exist_ok=True)
  manifest.write_atomically(root / ARRAY_SCRIPT, array)
  manifest.write_atomically(root / SUMMARY_SCRIPT, final)
  print(f"wrote {root / ARRAY_SCRIPT} ({len(runs)} array tasks) and {root / SUMMARY_SCRIPT}")
  print(f"  jid=$(sbatch --parsable {shlex.quote(str(root / ARRAY_SCRIPT))})")
  print(f"  sbatch --dependency=afterany:$jid {shlex.quote(str(root / SUMMARY_SCRIPT))}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

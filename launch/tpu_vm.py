"""Renders the Cloud TPU VM commands of a manifest: each run on every worker of the slice, in turn.

  python -m launch.tpu_vm ROOT/runs.jsonl --tpu my-v4-32 --zone us-central2-b [--project P] \
      [--repo '~/precursor_jax'] [--python python3]
  bash ROOT/tpu_vm.sh                                     # rerun it to resume

One `gcloud compute tpus tpu-vm ssh NAME --zone Z --worker=all --command ...` per run, run one after
another: every worker runs `python -m launch.run MANIFEST --index i` from the repository, and the
train command inside joins the workers (precursor_jax/cli.py calls
parallel.maybe_initialize_distributed(), which starts jax.distributed.initialize() on a slice).
Each worker reads its number from the TPU VM metadata server (as JAX does) into
PRECURSOR_JAX_HOST_INDEX, so that only worker 0 records status. A failed run does not stop the
others; the script ends with the launch table (written on worker 0) and exits non-zero if any run
failed. Prerequisites on every worker: the repository at --repo, installed with
`pip install -e . "jax[tpu]"`, and the launch root (the manifest's directory) on a file system all
workers share at the same path (e.g. a Filestore or gcsfuse mount).
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys
from collections.abc import Sequence

from launch import manifest

SCRIPT = "tpu_vm.sh"
WORKER_NUMBER = (
  "$(curl -sf -m 10 -H 'Metadata-Flavor: Google' "
  "http://metadata.google.internal/computeMetadata/v1/instance/attributes/agent-worker-number "
  "|| echo 0)"
)


def _cd(repo: str) -> str:
  """`cd REPO` for the remote shell; a leading ~/ stays unquoted so that the worker expands it."""
  if repo.startswith("~/"):
    return "cd ~/" + shlex.quote(repo[2:])
  return "cd " + shlex.quote(repo)


def remote_command(repo: str, python: str, arguments: Sequence[str]) -> str:
  """The shell line a worker runs: into the repository, then python with `arguments`."""
  quoted = " ".join(shlex.quote(a) for a in (python, *arguments))
  return f"{_cd(repo)} && PRECURSOR_JAX_HOST_INDEX={WORKER_NUMBER} {quoted}"


def ssh_line(tpu: str, zone: str, project: str | None, worker: str, command: str) -> str:
  """One `gcloud compute tpus tpu-vm ssh` line (the remote command single-quoted)."""
  parts = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", tpu, "--zone", zone]
  if project:
    parts += ["--project", project]
  parts += [f"--worker={worker}", "--command"]
  return " ".join(shlex.quote(p) for p in parts) + " " + shlex.quote(command)


def render(
  manifest_path: str | pathlib.Path,
  runs: Sequence[manifest.Run],
  *,
  tpu: str,
  zone: str,
  project: str | None = None,
  repo: str = "~/precursor_jax",
  python: str = "python",
) -> str:
  """The bash script: one ssh line per run (--worker=all), then the table (see the module doc)."""
  if not runs:
    raise ValueError("the manifest holds no runs")
  if not tpu or not zone:
    raise ValueError("--tpu and --zone are required")
  manifest_path = str(pathlib.Path(manifest_path).absolute())
  lines = [
    "#!/usr/bin/env bash",
    f"# Rendered by `python -m launch.tpu_vm` from {manifest_path}: {len(runs)} runs on TPU {tpu},",
    "# one after another on every worker. Rerun to resume: finished runs are skipped.",
    "set -uo pipefail",
    "failed=0",
  ]
  for index, run in enumerate(runs):
    command = remote_command(
      repo, python, ["-m", "launch.run", manifest_path, "--index", str(index)]
    )
    lines.append(f"# {run.id}")
    lines.append(
      ssh_line(tpu, zone, project, "all", command)
      + f" || {{ failed=1; echo 'run {index} failed'; }}"
    )
  summary = remote_command(repo, python, ["-m", "launch.summary", manifest_path])
  lines.append(ssh_line(tpu, zone, project, "0", summary) + " || failed=1")
  lines.append('exit "$failed"')
  return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.tpu_vm", description=__doc__.split("\n")[0]
  )
  parser.add_argument("manifest", help="runs.jsonl")
  parser.add_argument("--tpu", required=True, help="TPU VM (slice) name")
  parser.add_argument("--zone", required=True)
  parser.add_argument("--project", default=None)
  parser.add_argument("--repo", default="~/precursor_jax", help="repository on every worker")
  parser.add_argument("--python", default="python")
  parser.add_argument("--out", default=None, help=f"script path (default ROOT/{SCRIPT})")
  args = parser.parse_args(argv)
  try:
    runs = manifest.read(args.manifest)
    text = render(
      args.manifest,
      runs,
      tpu=args.tpu,
      zone=args.zone,
      project=args.project,
      repo=args.repo,
      python=args.python,
    )
  except (manifest.ManifestError, ValueError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  out = pathlib.Path(args.out) if args.out else manifest.root_of(args.manifest) / SCRIPT
  manifest.write_atomically(out, text)
  print(f"wrote {out}: {len(runs)} runs on {args.tpu}; run it with: bash {shlex.quote(str(out))}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

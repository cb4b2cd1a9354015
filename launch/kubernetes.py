"""Renders a Kubernetes JobSet for a manifest: one multi-host Job per run, then the launch table.

  python -m launch.kubernetes ROOT/runs.jsonl --image IMAGE --accelerator gpu --hosts 2 \
      --gpus_per_host 8 --pvc runs-volume                       # 2 nodes x 8 GPUs per run
  python -m launch.kubernetes ROOT/runs.jsonl --image IMAGE --accelerator tpu --hosts 4 \
      --tpu_type tpu-v5p-slice --tpu_topology 2x2x4 --chips_per_host 4 --pvc runs-volume
  kubectl apply -f ROOT/jobset.yaml

The JobSet (apiVersion jobset.x-k8s.io/v1alpha2) has two replicated jobs:
  runs     replicas = the number of runs; replica i is a batch/v1 Indexed Job of --hosts pods
           (parallelism = completions = hosts) whose container runs
           `python -m launch.run MANIFEST --index i` from the image's repository (--repo); the
           run index comes from the pod label jobset.sigs.k8s.io/job-index.
  summary  one pod after every run has completed (dependsOn): `python -m launch.summary`.
Multi-host JAX: on GPU (and CPU) nodes the pods get JAX_COORDINATOR_ADDRESS (pod 0 of the run's Job,
by the hostname JobSet gives it: <name>-runs-<i>-0.<name>), JAX_NUM_PROCESSES = hosts and
JAX_PROCESS_ID = the pod's completion index, which training/parallel.py hands to
jax.distributed.initialize(); on GKE TPU node pools (google.com/tpu and the
cloud.google.com/gke-tpu-* node selectors) GKE provides the TPU worker variables and JAX finds the
slice by itself. A failed pod restarts the whole JobSet (failurePolicy.maxRestarts); finished runs
are skipped and half-finished ones resume from their checkpoints, which is why the launch root (the
manifest's directory, with every workdir) must be a volume all pods share (--pvc, mounted at the
root's path). The YAML is written by a small emitter here (no YAML package needed).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from launch import manifest

API_VERSION = "jobset.x-k8s.io/v1alpha2"
MANIFEST_FILE = "jobset.yaml"
RUNS_JOB = "runs"
SUMMARY_JOB = "summary"
COORDINATOR_PORT = 1234
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]*$")
# Words YAML 1.1 reads as booleans or null when unquoted.
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
# Characters that are line breaks or not printable in YAML although in the ranges it allows:
# the line and paragraph separators, the surrogates, the byte-order mark.
_NOT_PLAIN = {0x2028, 0x2029, 0xFEFF, *range(0xD800, 0xE000)}


def default_name(root: pathlib.Path) -> str:
  """A DNS-1035 label from the launch root's directory name."""
  name = re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-")
  name = re.sub(r"^[^a-z]+", "", name)[:24].rstrip("-")
  return name or "precursor-jax"


def _env(name: str, value: str | None = None, field: str | None = None) -> dict:
  if field is not None:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}}
  return {"name": name, "value": value}


def container_env(name: str, accelerator: str, hosts: int, port: int) -> list[dict]:
  """RUN_INDEX from JobSet's label; the JAX cluster variables for multi-host GPU/CPU runs."""
  env = [_env("RUN_INDEX", field="metadata.labels['jobset.sigs.k8s.io/job-index']")]
  if hosts > 1 and accelerator != "tpu":
    coordinator = f"{name}-{RUNS_JOB}-$(RUN_INDEX)-0.{name}:{port}"
    env += [
      _env("JAX_COORDINATOR_ADDRESS", coordinator),
      _env("JAX_NUM_PROCESSES", str(hosts)),
      _env(
        "JAX_PROCESS_ID", field="metadata.annotations['batch.kubernetes.io/job-completion-index']"
      ),
    ]
  return env


def pod_spec(
  container: dict, *, volumes: list[dict], node_selector: Mapping[str, str] | None = None
) -> dict:
  spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
  if node_selector:
    spec["nodeSelector"] = dict(node_selector)
  if volumes:
    spec["volumes"] = volumes
  return spec


def job_template(pods: int, pod: dict) -> dict:
  """A batch/v1 Job template: an Indexed Job of `pods` pods, no retries inside (JobSet restarts)."""
  return {
    "spec": {
      "parallelism": pods,
      "completions": pods,
      "completionMode": "Indexed",
      "backoffLimit": 0,
      "template": {"spec": pod},
    }
  }


def render(
  manifest_path: str | pathlib.Path,
  runs: Sequence[manifest.Run],
  *,
  image: str,
  accelerator: str = "gpu",
  hosts: int = 1,
  gpus_per_host: int = 8,
  tpu_type: str | None = None,
  tpu_topology: str | None = None,
  chips_per_host: int = 4,
  cpu: str | None = None,
  memory: str | None = None,
  pvc: str | None = None,
  name: str | None = None,
  repo: str = "/app",
  python: str = "python",
  max_restarts: int = 3,
  port: int = COORDINATOR_PORT,
) -> dict:
  """The JobSet as a dict (see the module doc); ValueError for settings no cluster accepts."""
  if not runs:
    raise ValueError("the manifest holds no runs")
  if not image:
    raise ValueError("--image is required: an image with this repository installed at --repo")
  if accelerator not in ("gpu", "tpu", "cpu"):
    raise ValueError(f"--accelerator {accelerator!r}: expected gpu, tpu or cpu")
  if hosts < 1:
    raise ValueError(f"--hosts {hosts}: expected >= 1")
  manifest_path = pathlib.Path(manifest_path).absolute()
  root = manifest_path.parent
  name = name or default_name(root)
  longest = f"{name}-{RUNS_JOB}-{len(runs) - 1}-{hosts - 1}"
  if not _DNS_LABEL.match(name) or len(longest) > 63:
    raise ValueError(
      f"--name {name!r}: expected lower-case letters, digits and '-', starting with a letter, "
      f"short enough that pod hostnames such as {longest!r} stay within 63 characters"
    )
  limits: dict[str, Any] = {}
  requests: dict[str, Any] = {}
  node_selector = None
  if accelerator == "gpu":
    limits["nvidia.com/gpu"] = gpus_per_host
  elif accelerator == "tpu":
    if not tpu_type or not tpu_topology:
      raise ValueError("--accelerator tpu needs --tpu_type (e.g. tpu-v5p-slice) and --tpu_topology")
    limits["google.com/tpu"] = chips_per_host
    node_selector = {
      "cloud.google.com/gke-tpu-accelerator": tpu_type,
      "cloud.google.com/gke-tpu-topology": tpu_topology,
    }
  if cpu:
    requests["cpu"] = cpu
  if memory:
    requests["memory"] = memory
  resources = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
  volumes, mounts = [], []
  if pvc:
    volumes = [{"name": "launch-root", "persistentVolumeClaim": {"claimName": pvc}}]
    mounts = [{"name": "launch-root", "mountPath": str(root)}]

  def container(container_name, command, env, resources):
    spec = {"name": container_name, "image": image, "workingDir": repo, "command": command}
    if env:
      spec["env"] = env
    if resources:
      spec["resources"] = resources
    if mounts:
      spec["volumeMounts"] = mounts
    return spec

  train = container(
    "train",
    [python, "-m", "launch.run", str(manifest_path), "--index", "$(RUN_INDEX)"],
    container_env(name, accelerator, hosts, port),
    resources,
  )
  if hosts > 1 and accelerator != "tpu":
    train["ports"] = [{"containerPort": port, "name": "coordinator"}]
  table = container("summary", [python, "-m", "launch.summary", str(manifest_path)], [], {})
  return {
    "apiVersion": API_VERSION,
    "kind": "JobSet",
    "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "precursor-jax"}},
    "spec": {
      "failurePolicy": {"maxRestarts": max_restarts},
      "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
      "replicatedJobs": [
        {
          "name": RUNS_JOB,
          "replicas": len(runs),
          "template": job_template(
            hosts, pod_spec(train, volumes=volumes, node_selector=node_selector)
          ),
        },
        {
          "name": SUMMARY_JOB,
          "replicas": 1,
          "dependsOn": [{"name": RUNS_JOB, "status": "Complete"}],
          "template": job_template(1, pod_spec(table, volumes=volumes)),
        },
      ],
    },
  }


def _scalar(value: Any) -> str:
  if value is None:
    return "null"
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, int):
    return str(value)
  if isinstance(value, float):
    if not math.isfinite(value):
      raise ValueError(f"{value!r} has no place in a Kubernetes manifest")
    text = repr(value)
    # YAML 1.1 (PyYAML, and Kubernetes' parser) reads 1e-05 as a string: write 1.0e-05.
    return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
  return _quoted(str(value))


def _quoted(text: str) -> str:
  """A double-quoted YAML scalar: printable characters as they are, the rest escaped (YAML's
  \\u / \\U escapes; JSON's surrogate pairs would not round-trip)."""
  out = []
  for char in text:
    code = ord(char)
    if char in '"\\':
      out.append("\\" + char)
    elif 0x20 <= code <= 0x7E or (0xA0 <= code <= 0xFFFD and code not in _NOT_PLAIN):
      out.append(char)
    elif 0x10000 <= code:
      out.append(f"\\U{code:08x}")
    else:
      out.append(f"\\u{code:04x}")
  return '"' + "".join(out) + '"'


def _key(key: Any) -> str:
  """A mapping key: plain where no YAML reader can take it for anything but a string."""
  text = str(key)
  if _PLAIN_KEY.match(text) and text.lower() not in _YAML_WORDS:
    return text
  return _quoted(text)


def to_yaml(value: Any, indent: int = 0) -> str:
  """Block-style YAML of dicts, lists and scalars (strings always quoted)."""
  pad = " " * indent
  if isinstance(value, Mapping):
    if not value:
      return pad + "{}\n"
    out = []
    for key, item in value.items():
      if isinstance(item, (Mapping, list)) and item:
        out.append(f"{pad}{_key(key)}:\n{to_yaml(item, indent + 2)}")
      else:
        out.append(f"{pad}{_key(key)}: {to_yaml(item).strip()}\n")
    return "".join(out)
  if isinstance(value, list):
    if not value:
      return pad + "[]\n"
    out = []
    for item in value:
      text = to_yaml(item, indent + 2)
      out.append(f"{pad}- {text[indent + 2 :]}")
    return "".join(out)
  return pad + _scalar(value) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.kubernetes", description=__doc__.split("\n")[0]
  )
  parser.add_argument("manifest", help="runs.jsonl")
  parser.add_argument("--image", required=True, help="container image with the repository")
  parser.add_argument("--accelerator", default="gpu", choices=("gpu", "tpu", "cpu"))
  parser.add_argument("--hosts", type=int, default=1, help="pods (hosts) per run")
  parser.add_argument("--gpus_per_host", type=int, default=8)
  parser.add_argument("--tpu_type", default=None, help="e.g. tpu-v5p-slice, tpu-v5-lite-podslice")
  parser.add_argument("--tpu_topology", default=None, help="e.g. 2x2x4")
  parser.add_argument("--chips_per_host", type=int, default=4)
  parser.add_argument("--cpu", default=None, help="CPU request per pod, e.g. 16")
  parser.add_argument("--memory", default=None, help="memory request per pod, e.g. 64Gi")
  parser.add_argument("--pvc", default=None, help="claim holding the launch root")
  parser.add_argument("--name", default=None, help="JobSet name (default: from the root)")
  parser.add_argument("--repo", default="/app", help="repository path inside the image")
  parser.add_argument("--python", default="python")
  parser.add_argument("--max_restarts", type=int, default=3)
  parser.add_argument("--out", default=None, help=f"path (default ROOT/{MANIFEST_FILE})")
  args = parser.parse_args(argv)
  try:
    runs = manifest.read(args.manifest)
    jobset = render(
      args.manifest,
      runs,
      image=args.image,
      accelerator=args.accelerator,
      hosts=args.hosts,
      gpus_per_host=args.gpus_per_host,
      tpu_type=args.tpu_type,
      tpu_topology=args.tpu_topology,
      chips_per_host=args.chips_per_host,
      cpu=args.cpu,
      memory=args.memory,
      pvc=args.pvc,
      name=args.name,
      repo=args.repo,
      python=args.python,
      max_restarts=args.max_restarts,
    )
  except (manifest.ManifestError, ValueError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  out = pathlib.Path(args.out) if args.out else manifest.root_of(args.manifest) / MANIFEST_FILE
  header = f"# Rendered by `python -m launch.kubernetes` from {manifest.root_of(args.manifest)}\n"
  manifest.write_atomically(out, header + to_yaml(jobset))
  print(
    f"wrote {out}: JobSet {jobset['metadata']['name']!r}, {len(runs)} run(s) x {args.hosts} pod(s)"
  )
  print(f"  kubectl apply -f {shlex.quote(str(out))}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

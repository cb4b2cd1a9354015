"""Batch launches (launch/): the expansion into a manifest, the per-run resume rule and its records,
the local launcher end to end (killed by SIGKILL halfway and restarted, it finishes the rest without
redoing finished runs), and the rendered SLURM, Cloud TPU VM and Kubernetes files checked for what
their schedulers require (bash -n, array size, JobSet fields), and run where that needs no cluster.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import tiny_ses
import yaml
from absl import flags
from hypothesis import given, settings
from hypothesis import strategies as st
from ml_collections import config_flags

from launch import expand, kubernetes, local, manifest, slurm, summary, tpu_vm
from launch import run as run_lib
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import sweeps

REPO = pathlib.Path(__file__).resolve().parent.parent
# 2 epochs (3 steps each), so that a run has a checkpoint halfway.
TINY = tiny_ses.command_line(num_epochs=2)


def parsed_by_the_train_flags(command) -> dict:
  """The config a train command's --config flags produce, parsed by ml_collections itself."""
  argv = ["train", *[a for a in command if a.startswith("--config")]]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file(
    "config", None, "", flag_values=values, lock_config=True, sys_argv=argv
  )
  values(argv)
  return values.config


def test_expansion_crosses_configs_and_trials_and_commands_parse_back(tmp_path):
  runs = expand.expand(
    ["configs/ses_hkb.py", "configs/ses_mts.py:paper"],
    ["--config.batch_size=16", "--config.learning_rate=5e-3", "--config.eval.studies=()"],
    ["learning_rate=1e-3,2e-3"],
    tmp_path / "root",
  )
  assert len(runs) == 4 and len({r.id for r in runs}) == 4
  assert [r.config for r in runs] == ["configs/ses_hkb.py"] * 2 + ["configs/ses_mts.py:paper"] * 2
  assert runs[2].id == "002-ses_mts_paper-learning_rate=0.001"
  for run, rate in zip(runs, [1e-3, 2e-3, 1e-3, 2e-3], strict=True):
    assert pathlib.Path(run.workdir) == (tmp_path / "root" / "runs" / run.id).absolute()
    assert run.command[:3] == ("python", "-m", "precursor_jax.train")
    assert run.command[-1] == f"--workdir={run.workdir}"
    # The trial's value wins over the base override; values keep their field's type.
    assert run.overrides == {"batch_size": 16, "learning_rate": rate, "eval.studies": ()}
    assert run.task == "ses" and run.metric == ("test", "success")
    config = parsed_by_the_train_flags(run.command)
    assert (config.batch_size, config.learning_rate, config.eval.studies) == (16, rate, ())
  assert parsed_by_the_train_flags(runs[3].command).dataset.config == "mts"  # the :paper preset

  from_file = expand.expand(
    ["configs/ses_hkb.py"], [], ["configs/sweeps/ses_lr_seed.py"], tmp_path / "b"
  )
  trials = sweeps.expand(sweeps.load_sweep_file("configs/sweeps/ses_lr_seed.py"))
  assert [dict(r.overrides) for r in from_file] == trials
  assert [r.id for r in expand.expand(["configs/ses_hkb.py"], [], [], tmp_path / "c")] == ["000"]


@pytest.mark.parametrize(
  "overrides, sweep, message",
  [
    (["--config.batch_sise=8"], [], "did you mean batch_size"),
    (["--config.batch_size=0"], [], "config.batch_size"),
    (["--config.batch_size=8", "--config.batch_size=16"], [], "given twice"),
    (["--config.eval.studies=7"], [], "expected a tuple"),
    ([], ["seed=0,0.5"], "integers expected"),
  ],
)
def test_expansion_mistakes_are_named_before_anything_is_written(
  tmp_path, overrides, sweep, message
):
  with pytest.raises(ConfigError, match=message):
    expand.expand(["configs/ses_hkb.py"], overrides, sweep, tmp_path)
  assert not any(tmp_path.iterdir())


def test_the_manifest_is_written_once_and_read_back_with_its_mistakes_named(tmp_path):
  runs = expand.expand(["configs/ses_hkb.py"], ["--config.eval.studies=()"], ["seed=0,1"], tmp_path)
  path = expand.write_manifest(runs, tmp_path)
  assert [r.id for r in manifest.read(path)] == [r.id for r in runs]
  assert manifest.read(path)[1].command == runs[1].command
  written = path.stat().st_mtime_ns
  assert expand.write_manifest(runs, tmp_path) == path and path.stat().st_mtime_ns == written
  with pytest.raises(ConfigError, match="holds another manifest"):
    expand.write_manifest(runs[:1], tmp_path)
  lines = path.read_text().splitlines()
  broken = tmp_path / "broken.jsonl"
  for text, error in [
    (lines[0] + "\n{not json\n", r"broken.jsonl:2: not a JSON object"),
    (lines[0] + "\n" + lines[0] + "\n", r"broken.jsonl:2: field 'id': .* repeats"),
    (json.dumps({"id": "x"}) + "\n", r"broken.jsonl:1: missing field\(s\) command, workdir"),
  ]:
    broken.write_text(text)
    with pytest.raises(manifest.ManifestError, match=error):
      manifest.read(broken)


def fake_run(root: pathlib.Path, index: int, code: str) -> manifest.Run:
  """A manifest line whose command is a small Python program (argv[1] = its workdir)."""
  workdir = root / "runs" / f"{index:03d}"
  return manifest.Run(
    id=f"{index:03d}",
    command=(sys.executable, "-c", textwrap.dedent(code), str(workdir)),
    workdir=str(workdir),
    config="fake",
    overrides={"n": index},
    task="ses",
    metric=("test", "success"),
  )


FINISHES = """
  import json, os, pathlib, sys, time
  workdir = pathlib.Path(sys.argv[1]); workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "seen.json").write_text(json.dumps(
    {"start": time.time(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}))
  time.sleep(1.0)
  (workdir / "summary.json").write_text(json.dumps({"test": {"success": 0.75}}))
"""


def test_run_records_each_attempt_and_skips_done_or_busy_runs(tmp_path):
  runs = [fake_run(tmp_path, 0, FINISHES), fake_run(tmp_path, 1, "import sys; sys.exit(3)")]
  path = manifest.write(tmp_path / "runs.jsonl", runs)
  assert run_lib.run_one(path, 1) == 3
  assert manifest.read_status(tmp_path, runs[1])["status"] == "failed"
  assert manifest.state(tmp_path, runs[1]) == "failed"
  lock = manifest.RunLock(tmp_path, runs[0])  # another process runs it
  assert lock.acquire()
  assert manifest.state(tmp_path, runs[0]) == "running"
  assert run_lib.run_one(path, 0) == 0 and not manifest.is_done(runs[0])
  lock.release()
  # A non-primary host of a multi-host run runs the command but records nothing.
  assert run_lib.run_one(path, 0, environ={"SLURM_PROCID": "1"}) == 0
  assert manifest.is_done(runs[0]) and manifest.read_status(tmp_path, runs[0]) == {}
  assert run_lib.run_one(path, 0) == 0  # done: skipped
  assert manifest.read_status(tmp_path, runs[0]) == {}
  table = summary.rows(path)
  assert [(r["status"], r["value"], r["overrides"]) for r in table] == [
    ("done", 0.75, "n=0"),
    ("failed", None, "n=1"),
  ]
  with pytest.raises(manifest.ManifestError, match="runs 0..1"):
    run_lib.run_one(path, 2)


def test_local_slots_get_their_own_devices_and_run_at_the_same_time(tmp_path):
  assert local.slot_environments(1, None, "gpu", 8) == [{}]
  gpus = local.slot_environments(2, 4, "gpu", 8)
  assert gpus == [{"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}]
  tpus = local.slot_environments(4, 1, "tpu", 4)
  assert [t["TPU_VISIBLE_CHIPS"] for t in tpus] == ["0", "1", "2", "3"]
  assert len({t["TPU_MESH_CONTROLLER_PORT"] for t in tpus}) == 4
  assert local.slot_environments(3, None, "cpu", 2) == [{}, {}, {}]
  with pytest.raises(ValueError, match="needs 12 GPUs; this machine has 8"):
    local.slot_environments(3, 4, "gpu", 8)
  with pytest.raises(ValueError, match="1, 2 or 4 chips"):
    local.slot_environments(1, 3, "tpu", 8)

  runs = [fake_run(tmp_path, i, FINISHES) for i in range(2)]
  path = manifest.write(tmp_path / "runs.jsonl", runs)
  assert local.launch(path, parallel=2, platform="gpu", devices=4) == 0
  seen = [json.loads((pathlib.Path(r.workdir) / "seen.json").read_text()) for r in runs]
  assert [s["cuda"] for s in seen] == ["0,1", "2,3"]
  assert abs(seen[0]["start"] - seen[1]["start"]) < 0.9  # both ran during the other's second
  assert "2 done" in (tmp_path / summary.MARKDOWN).read_text()


def finalized_steps(workdir: pathlib.Path) -> list[int]:
  directory = workdir / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def file_times(directory: pathlib.Path) -> dict[str, int]:
  return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*")}


def train_processes(workdir: str) -> list[psutil.Process]:
  """Live processes training into `workdir`."""
  found = []
  for process in psutil.process_iter(["cmdline"]):
    if f"--workdir={workdir}" in (process.info["cmdline"] or []):
      found.append(process)
  return found


@pytest.mark.slow
def test_local_launcher_killed_halfway_finishes_the_rest_without_redoing_runs(
  tmp_path, ses_data_dir
):
  root = tmp_path / "launch"
  env = dict(os.environ, JAX_PLATFORMS="cpu", HOME=str(tmp_path / "home"))
  command = [sys.executable, "-m", "launch.expand", "--config", "configs/ses_hkb.py"]
  command += [*TINY, f"--config.dataset.data_dir={ses_data_dir}"]
  command += ["--sweep", "learning_rate=1e-3,2e-3,3e-3", "--root", str(root)]
  made = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert made.returncode == 0, made.stderr[-2000:]
  path = root / "runs.jsonl"
  runs = manifest.read(path)
  assert len(runs) == 3
  first, middle, last = (pathlib.Path(r.workdir) for r in runs)

  # Kill the launcher's whole process group (as a scheduler does) once the middle run has
  # checkpointed its first epoch and before it has finished.
  launcher = subprocess.Popen(
    [sys.executable, "-m", "launch.local", str(path)],
    cwd=REPO,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    start_new_session=True,
  )
  deadline = time.time() + 600
  while not finalized_steps(middle) and time.time() < deadline and launcher.poll() is None:
    time.sleep(0.05)
  os.killpg(launcher.pid, signal.SIGKILL)
  launcher.wait()
  assert finalized_steps(middle), "the middle run never checkpointed"
  assert not (middle / "summary.json").exists(), "killed too late: the middle run had finished"
  assert (first / "summary.json").is_file() and not last.exists()
  time.sleep(1.0)
  assert train_processes(str(middle)) == []  # nothing trains on unseen
  assert [row["status"] for row in summary.rows(path)] == ["done", "interrupted", "pending"]
  first_times = file_times(first)
  first_steps = finalized_steps(first)

  restarted = subprocess.run(
    [sys.executable, "-m", "launch.local", str(path)],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr[-3000:]
  assert "3 run(s): 1 done, 2 to run" in restarted.stdout
  # The finished run was not touched: no file of its workdir (summary, checkpoints) was rewritten.
  assert file_times(first) == first_times and finalized_steps(first) == first_steps
  # The half-finished run resumed from its checkpoint instead of starting again.
  log = manifest.log_path(root, runs[1]).read_text()
  assert "resuming from step 3" in log or "resuming from step 6" in log
  logged = [m["step"] for m in map(json.loads, (middle / "metrics.jsonl").read_text().splitlines())]
  assert logged.count(1) == 1  # step 1 was trained once, by the first attempt
  table = summary.rows(path)
  assert [r["status"] for r in table] == ["done"] * 3
  assert [r["attempts"] for r in table] == [1, 2, 1]
  assert all(0.0 <= r["value"] <= 1.0 and r["wall_s"] > 0 for r in table)
  csv_lines = (root / summary.CSV).read_text().splitlines()
  assert csv_lines[0] == ",".join(summary.COLUMNS) and len(csv_lines) == 4
  assert "learning_rate=0.003" in (root / summary.MARKDOWN).read_text()


def done_manifest(root: pathlib.Path, count: int) -> pathlib.Path:
  """A manifest of `count` runs whose workdirs already hold summary.json."""
  runs = [fake_run(root, i, "raise SystemExit(9)") for i in range(count)]
  for run in runs:
    pathlib.Path(run.workdir).mkdir(parents=True)
    (pathlib.Path(run.workdir) / "summary.json").write_text('{"test": {"success": 1.0}}')
  return manifest.write(root / "runs.jsonl", runs)


def shim(directory: pathlib.Path, name: str, body: str) -> None:
  """An executable `name` on a PATH directory (stands in for a cluster's command)."""
  directory.mkdir(exist_ok=True)
  path = directory / name
  path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
  path.chmod(0o755)


def test_the_slurm_array_script_passes_bash_n_and_has_one_task_per_run(tmp_path):
  path = done_manifest(tmp_path, 3)
  script = slurm.render_array(
    path, 3, nodes=2, gpus_per_node=8, max_running=2, python=sys.executable, repo=REPO
  )
  (tmp_path / "array.sbatch").write_text(script)
  subprocess.run(["bash", "-n", str(tmp_path / "array.sbatch")], check=True)
  directives = [line.split(" ", 1)[1] for line in script.splitlines() if line.startswith("#SBATCH")]
  assert "--array=0-2%2" in directives and "--nodes=2" in directives
  assert "--gpus-per-node=8" in directives and "--requeue" in directives
  last_directive = max(
    i for i, line in enumerate(script.splitlines()) if line.startswith("#SBATCH")
  )
  first_command = script.splitlines().index("set -euo pipefail")
  assert last_directive < first_command  # sbatch reads no directive after the first command
  final = slurm.render_summary(path, python=sys.executable, repo=REPO)
  (tmp_path / "summary.sbatch").write_text(final)
  subprocess.run(["bash", "-n", str(tmp_path / "summary.sbatch")], check=True)
  # The body of array task 1, with srun standing in for itself on one node.
  shim(tmp_path / "bin", "srun", 'while [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n')
  env = dict(
    os.environ,
    PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    SLURM_ARRAY_TASK_ID="1",
    SLURM_ARRAY_JOB_ID="77",
  )
  result = subprocess.run(
    ["bash", str(tmp_path / "array.sbatch")], env=env, capture_output=True, text=True, timeout=120
  )
  assert result.returncode == 0, result.stderr
  assert "array task 1 of job 77" in result.stdout and "001: done" in result.stdout
  with pytest.raises(ValueError, match="--time"):
    slurm.render_array(path, 3, time="four hours")


def test_the_tpu_vm_script_runs_each_run_on_every_worker_then_the_table(tmp_path):
  path = done_manifest(tmp_path, 2)
  runs = manifest.read(path)
  script = tpu_vm.render(
    path, runs, tpu="my-v4-32", zone="us-central2-b", repo=str(REPO), python=sys.executable
  )
  (tmp_path / "tpu.sh").write_text(script)
  subprocess.run(["bash", "-n", str(tmp_path / "tpu.sh")], check=True)
  ssh = [line for line in script.splitlines() if line.startswith("gcloud compute tpus tpu-vm ssh")]
  assert len(ssh) == 3 and all("my-v4-32 --zone us-central2-b" in line for line in ssh)
  for index, line in enumerate(ssh[:2]):
    assert "--worker=all" in line and f"launch.run {path} --index {index}'" in line
  assert "--worker=0" in ssh[2] and "launch.summary" in ssh[2]
  # Each worker's command, run here by a gcloud that executes --command locally.
  shim(
    tmp_path / "bin",
    "gcloud",
    """
    while [ "$1" != "--command" ]; do shift; done
    echo "worker command: $2"
    exec bash -c "$2"
    """,
  )
  shim(tmp_path / "bin", "curl", "exit 7\n")  # no metadata server here: worker number 0
  env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
  result = subprocess.run(
    ["bash", str(tmp_path / "tpu.sh")], env=env, capture_output=True, text=True, timeout=300
  )
  assert result.returncode == 0, result.stdout + result.stderr
  assert result.stdout.count("skipped") == 2 and "2 done" in result.stdout
  assert (tmp_path / summary.MARKDOWN).is_file()


def replicated_job(jobset: dict, name: str) -> dict:
  (job,) = [j for j in jobset["spec"]["replicatedJobs"] if j["name"] == name]
  return job


def test_the_kubernetes_jobset_parses_and_has_the_fields_jobset_requires(tmp_path):
  path = done_manifest(tmp_path / "lr-sweep", 3)
  runs = manifest.read(path)
  text = kubernetes.to_yaml(
    kubernetes.render(path, runs, image="registry/precursor:1", hosts=2, pvc="runs")
  )
  jobset = yaml.safe_load(text)
  assert jobset["apiVersion"] == "jobset.x-k8s.io/v1alpha2" and jobset["kind"] == "JobSet"
  assert jobset["metadata"]["name"] == "lr-sweep"
  for job in jobset["spec"]["replicatedJobs"]:
    assert job["name"] and isinstance(job["replicas"], int)
    pod = job["template"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert all(c["image"] == "registry/precursor:1" and c["command"] for c in pod["containers"])
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "runs"
  runs_job = replicated_job(jobset, "runs")
  assert runs_job["replicas"] == 3
  spec = runs_job["template"]["spec"]
  assert spec["parallelism"] == spec["completions"] == 2 and spec["completionMode"] == "Indexed"
  (train,) = spec["template"]["spec"]["containers"]
  assert train["command"] == ["python", "-m", "launch.run", str(path), "--index", "$(RUN_INDEX)"]
  assert train["resources"]["limits"] == {"nvidia.com/gpu": 8}
  assert train["volumeMounts"][0]["mountPath"] == str(path.parent)
  env = {e["name"]: e for e in train["env"]}
  assert [e["name"] for e in train["env"]][0] == "RUN_INDEX"  # defined before it is used
  assert env["RUN_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"].endswith(
    "['jobset.sigs.k8s.io/job-index']"
  )
  assert env["JAX_COORDINATOR_ADDRESS"]["value"] == "lr-sweep-runs-$(RUN_INDEX)-0.lr-sweep:1234"
  assert env["JAX_NUM_PROCESSES"]["value"] == "2"
  assert "job-completion-index" in env["JAX_PROCESS_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
  assert replicated_job(jobset, "summary")["dependsOn"] == [{"name": "runs", "status": "Complete"}]

  tpu = kubernetes.render(
    path,
    runs,
    image="img",
    accelerator="tpu",
    hosts=4,
    tpu_type="tpu-v5p-slice",
    tpu_topology="2x2x4",
    name="tpu-sweep",
  )
  pod = yaml.safe_load(kubernetes.to_yaml(tpu))["spec"]["replicatedJobs"][0]["template"]["spec"]
  assert pod["parallelism"] == 4
  assert pod["template"]["spec"]["nodeSelector"] == {
    "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
    "cloud.google.com/gke-tpu-topology": "2x2x4",
  }
  (container,) = pod["template"]["spec"]["containers"]
  assert container["resources"]["limits"] == {"google.com/tpu": 4}
  assert [e["name"] for e in container["env"]] == ["RUN_INDEX"]  # GKE describes the slice
  with pytest.raises(ValueError, match="63 characters"):
    kubernetes.render(path, runs, image="img", name="x" * 60)
  with pytest.raises(ValueError, match="--tpu_type"):
    kubernetes.render(path, runs, image="img", accelerator="tpu")


YAML_SCALARS = st.one_of(
  st.none(),
  st.booleans(),
  st.integers(-(10**12), 10**12),
  st.floats(allow_nan=False, allow_infinity=False, width=32),
  st.text(max_size=12),
)
YAML_KEYS = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-/]{0,12}", fullmatch=True)
YAML_TREES = st.recursive(
  YAML_SCALARS,
  lambda children: (
    st.lists(children, max_size=3) | st.dictionaries(YAML_KEYS, children, max_size=3)
  ),
  max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(YAML_TREES)
def test_the_yaml_emitter_round_trips_through_a_yaml_parser(tree):
  assert yaml.safe_load(kubernetes.to_yaml(tree)) == tree

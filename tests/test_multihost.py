"""Multi-process training on this machine: two JAX processes (a loopback coordinator, gloo CPU
collectives) train the SES model as one data-parallel run, each feeding its own rows of every
global batch, and end with the parameters of a single-process run on the same global batches;
their checkpoint restores in one process; only process 0 prints and writes reports. Plus the
pieces that make it so: the data-parallel gradient is the mean over devices (not N times it),
and the cluster description the launchers put in the environment is read and checked."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import multihost_worker
import numpy as np
import optax
import pytest

from precursor_jax.tasks import ses
from precursor_jax.training import checkpoints, parallel
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import read_metrics

REPO = pathlib.Path(__file__).resolve().parent.parent
WORKER = pathlib.Path(multihost_worker.__file__).resolve()
# conftest's tiny SES config (16-unit LSTM-AE, 4 days x 8 SES: 29 train / 3 test days, batch 8,
# 2 epochs = 6 steps, evaluated after each epoch) as dotted overrides, without the study sets.
TINY = {
  "dataset.num_days": 4,
  "dataset.repeats": 8,
  "batch_size": 8,
  "num_epochs": 2,
  "eval_every_epochs": 1,
  "log_every_steps": 2,
  "eval.train_examples": 8,
  "eval.figure_examples": 2,
  "eval.ica_days": 0,
  "eval.embedded_anomalies": 0,
  "eval.studies": (),
  "model.lstm_ae.bidirectional_features": 16,
  "model.lstm_ae.encoder_features": 8,
  "model.lstm_ae.decoder_features": 16,
}


def test_the_data_parallel_gradient_is_the_mean_over_devices():
  """Plain gradient descent over 8 devices takes the step of the whole batch's mean gradient."""
  rng = np.random.default_rng(0)
  params = {"w": rng.normal(size=(3,)).astype(np.float32)}
  batch = {"x": rng.normal(size=(16, 3)).astype(np.float32)}

  def loss_fn(p, batch_stats, b, key, train):
    del batch_stats, key, train
    return jax.numpy.mean(jax.numpy.square(b["x"] @ p["w"])), ({}, {})

  optimizer = optax.identity()
  mesh = parallel.make_mesh()
  assert mesh.size == 8
  step = parallel.data_parallel(
    step_lib.make_train_step(loss_fn, optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  state = parallel.replicate(
    state_lib.create_train_state(params, optimizer, jax.random.key(0)), mesh
  )
  rate = 0.1
  state, metrics = step(
    state, parallel.shard_batch(batch, mesh), state_lib.make_hyperparams(learning_rate=rate)
  )
  x = batch["x"].astype(np.float64)
  gradient = 2 * x.T @ (x @ params["w"]) / len(x)  # d/dw mean((x w)^2), by hand
  np.testing.assert_allclose(state.params["w"], params["w"] - rate * gradient, rtol=1e-5)
  np.testing.assert_allclose(metrics["grad_norm"], np.linalg.norm(gradient), rtol=1e-5)


def test_the_cluster_description_in_the_environment_is_read_and_checked():
  assert parallel.explicit_cluster({"JAX_COORDINATOR_ADDRESS": "h:1"}) is None
  environ = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
  assert parallel.explicit_cluster(environ) == dict(
    coordinator_address="h:1", num_processes=4, process_id=3
  )
  with pytest.raises(ValueError, match="JAX_PROCESS_ID is not"):
    parallel.explicit_cluster({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"})
  with pytest.raises(ValueError, match="expected 0 <= id < JAX_NUM_PROCESSES=4"):
    parallel.explicit_cluster({**environ, "JAX_PROCESS_ID": "4"})
  with pytest.raises(ValueError, match="expected integers"):
    parallel.explicit_cluster({**environ, "JAX_NUM_PROCESSES": "two"})


def free_port() -> int:
  """A TCP port free on the loopback interface now."""
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def run_workers(
  workdir, data_dir, out, count: int, *, sweep: bool = False
) -> list[subprocess.CompletedProcess]:
  """`count` worker processes of one cluster, started together; their stdout and stderr."""
  address = f"127.0.0.1:{free_port()}"
  command = [sys.executable, str(WORKER), "--workdir", str(workdir), "--data_dir", str(data_dir)]
  command += ["--overrides", json.dumps(TINY), "--out", str(out)] + (["--sweep"] if sweep else [])
  processes = []
  for index in range(count):
    env = dict(
      os.environ,
      JAX_PLATFORMS="cpu",
      JAX_COORDINATOR_ADDRESS=address,
      JAX_NUM_PROCESSES=str(count),
      JAX_PROCESS_ID=str(index),
    )
    processes.append(
      subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
      )
    )
  results = []
  for process in processes:
    try:
      stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
      for other in processes:
        other.kill()
      raise
    results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
  return results


def restore_params(workdir: pathlib.Path, config) -> dict:
  """The final parameters of a run's checkpoint, restored in this process on one device."""
  model = ses.build_model(config)
  variables, rng = ses.make_init(model)(jax.random.key(0))
  optimizer = state_lib.adam(config.adam_eps)
  target = parallel.replicate(
    state_lib.create_train_state(variables["params"], optimizer, rng), parallel.make_mesh(1)
  )
  checkpointer = checkpoints.Checkpointer(workdir / "checkpoints")
  try:
    state, _ = checkpointer.restore(checkpoints.abstract_like(target))
  finally:
    checkpointer.close()
  assert int(state.step) == 6
  leaves = jax.tree_util.tree_leaves_with_path(state.params)
  return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def largest_difference(a: dict, b: dict) -> float:
  assert a.keys() == b.keys()
  return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.slow
def test_two_processes_train_like_one_and_their_checkpoint_restores_in_one(tmp_path, ses_data_dir):
  config = multihost_worker.tiny_config(ses_data_dir, TINY)
  for split in ("train", "test"):  # built here once, so the workers only read it
    ses.load_split(config, config.dataset.config, split)
  workdir = tmp_path / "two_processes"
  started = time.perf_counter()
  outputs = run_workers(workdir, ses_data_dir, tmp_path / "out", 2, sweep=True)
  wall = time.perf_counter() - started
  for index, result in enumerate(outputs):
    assert result.returncode == 0, f"process {index}:\n{result.stderr[-3000:]}"
  reports = [json.loads((tmp_path / "out" / f"process_{i}.json").read_text()) for i in (0, 1)]
  print(f"2-process run + 2-trial sweep (2 x 1 CPU device): {wall:.1f} s wall")
  assert [(r["process_count"], r["devices"], r["local_devices"]) for r in reports] == [
    (2, 2, 1)
  ] * 2
  assert reports[0]["test"] == reports[1]["test"]  # both gathered the outputs of the whole split
  # Only process 0 prints (the C++ gloo library announces its connection by itself) and reports.
  assert "SES detection with lstm_ae" in outputs[0].stdout
  assert [line for line in outputs[1].stdout.splitlines() if not line.startswith("[Gloo]")] == []
  logged = [m["step"] for m in read_metrics(workdir) if "train/loss" in m]
  assert logged == [1, 2, 4, 6]  # one metrics line per logged step, not one per process
  assert (workdir / "summary.json").is_file() and (workdir / "detections.png").is_file()
  # The sweep ran in both processes: ranked once, its best trial exported by both together.
  swept = pathlib.Path(f"{workdir}_sweep")
  assert "Trials ranked by validation success" in (swept / "sweep.md").read_text()
  best = json.loads((swept / "sweep.json").read_text())["best"]
  exported = json.loads((swept / "best" / "config.json").read_text())
  assert exported["learning_rate"] == [1e-3, 3e-3][best]
  restore_params(swept / "best", config)

  # The checkpoint both processes wrote, restored in this one process, against single-process
  # runs on the same global batches: one process with the same 2-device mesh, and one device.
  two_processes = restore_params(workdir, config)
  singles = {}
  for devices in (2, 1):
    single = multihost_worker.tiny_config(ses_data_dir, {**TINY, "num_devices": devices})
    ses.train_and_evaluate(single, tmp_path / f"single_{devices}")
    singles[devices] = restore_params(tmp_path / f"single_{devices}", single)
  difference = {d: largest_difference(two_processes, p) for d, p in singles.items()}
  print(f"largest parameter difference to one process: {difference} (|params| <= 3)")
  for params in singles.values():
    for name, value in params.items():
      # float32 reduction order: the gradient means are summed in another order
      np.testing.assert_allclose(two_processes[name], value, rtol=1e-5, atol=2e-6, err_msg=name)

  # The 2-process workdir resumes in this single process: nothing left to train, the same report.
  resumed = ses.train_and_evaluate(
    multihost_worker.tiny_config(ses_data_dir, {**TINY, "num_devices": 1}), workdir
  )
  assert resumed["test"]["count"] == reports[0]["test"]["count"] == 3
  for key in ("success", "near_success", "failure"):
    assert resumed["test"][key] == reports[0]["test"][key]
  np.testing.assert_allclose(resumed["test"]["mse"], reports[0]["test"]["mse"], rtol=1e-5)

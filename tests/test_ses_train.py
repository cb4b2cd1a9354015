"""SES training end to end on a tiny synthetic set: outputs, resume after a kill, transfer, clear errors."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from precursor_jax.tasks import ses
from precursor_jax.training import checkpoints, loop


def test_a_run_writes_its_report(tmp_path, ses_data_dir, tiny_ses_config):
  config = tiny_ses_config(ses_data_dir)
  config.eval.studies = ("amp_10_small",)
  config.eval.ica_days = 3
  config.eval.embedded_anomalies, config.eval.embedding_days = 2, 2
  config.dataset.repeats = 10  # 4 test days, so that some SES lies before 05:00
  summary = ses.train_and_evaluate(config, tmp_path)
  comparison = summary["fastica_comparison"]
  assert comparison["days"] == 3 and comparison["dipoles"] == 3
  assert comparison["fastica"]["count"] == comparison["network_dipole0"]["count"] == 3
  embedded = summary["embedded_anomaly"]
  assert embedded["overall"]["count"] == 3 * embedded["anomalies"] * embedded["days"] > 0
  assert {"04:00", "13:00", "18:00"} <= set(embedded)
  test = summary["test"]
  assert test["count"] == 4
  assert test["success"] + test["near_success"] + test["failure"] == pytest.approx(1.0)
  assert np.isfinite(test["rmspe"]) and np.isfinite(test["mse"])
  assert (
    summary["studies"]["amp_10_small"]["count"] == 4
  )  # one SES per day of the resized sweep set
  assert summary["studies"]["amp_10_small"]["amplitude_mV_km"] == pytest.approx(10.0)
  for name in (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "summary.txt",
    "detections.png",
    "sweeps.png",
  ):
    assert (tmp_path / name).exists(), name
  assert "success rate" in (tmp_path / "summary.txt").read_text()
  logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [line["step"] for line in logged if "test/success" in line] == [4, 8]  # after each epoch
  assert [h["epoch"] for h in summary["history"]] == [1, 2]


def test_a_run_stopped_in_the_middle_resumes_to_the_same_parameters(
  tmp_path, ses_data_dir, tiny_ses_config
):
  ses.train_and_evaluate(tiny_ses_config(ses_data_dir), tmp_path / "whole")
  with pytest.raises(loop.StoppedEarly) as stopped:
    ses.train_and_evaluate(tiny_ses_config(ses_data_dir, stop_after_step=4), tmp_path / "resumed")
  assert stopped.value.step == 4
  summary = ses.train_and_evaluate(tiny_ses_config(ses_data_dir), tmp_path / "resumed")
  assert [h["epoch"] for h in summary["history"]] == [1, 2]
  assert_same_final_parameters(tmp_path / "whole", tmp_path / "resumed")


def assert_same_final_parameters(first, second):
  a, b = (checkpoints.Checkpointer(d / "checkpoints") for d in (first, second))
  assert a.latest_step() == b.latest_step()
  (state_a, _), (state_b, _) = a.restore_as_stored(), b.restore_as_stored()
  a.close()
  b.close()
  leaves_a, leaves_b = jax.tree.leaves(state_a), jax.tree.leaves(state_b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def train_command(data_dir, workdir, epochs, network):
  return [
    sys.executable,
    "-m",
    "precursor_jax.train",
    "--config",
    "configs/ses_hkb.py",
    f"--workdir={workdir}",
    f"--config.dataset.data_dir={data_dir}",
    "--config.dataset.num_days=4",
    "--config.dataset.repeats=8",
    "--config.batch_size=8",
    f"--config.num_epochs={epochs}",
    "--config.checkpoint_every_steps=2",
    "--config.eval.train_examples=8",
    *(f"--config.model.lstm_ae.{k}={v}" for k, v in network.items()),
  ]


@pytest.mark.slow
def test_the_command_killed_with_sigkill_resumes_to_the_same_parameters(
  tmp_path, ses_data_dir, tiny_ses_network
):
  data_dir = ses_data_dir
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  epochs = 12  # 36 steps
  subprocess.run(
    train_command(data_dir, tmp_path / "whole", epochs, tiny_ses_network),
    cwd=repo,
    env=env,
    check=True,
    capture_output=True,
    timeout=600,
  )
  process = subprocess.Popen(
    train_command(data_dir, tmp_path / "killed", epochs, tiny_ses_network),
    cwd=repo,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  checkpoint_dir = tmp_path / "killed" / "checkpoints"
  deadline = time.time() + 600
  while time.time() < deadline and process.poll() is None:
    steps = (
      [int(p.name) for p in checkpoint_dir.glob("[0-9]*") if p.name.isdigit()]
      if checkpoint_dir.exists()
      else []
    )
    if steps and max(steps) >= 4:
      break
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
  assert not (tmp_path / "killed" / "summary.json").exists()
  subprocess.run(
    train_command(data_dir, tmp_path / "killed", epochs, tiny_ses_network),
    cwd=repo,
    env=env,
    check=True,
    capture_output=True,
    timeout=600,
  )
  assert_same_final_parameters(tmp_path / "whole", tmp_path / "killed")


def test_transfer_starts_from_another_runs_parameters(tmp_path, ses_data_dir, tiny_ses_config):
  ses.train_and_evaluate(tiny_ses_config(ses_data_dir, num_epochs=1), tmp_path / "source")
  config = tiny_ses_config(ses_data_dir, num_epochs=1, init_from=str(tmp_path / "source"))
  config.dataset.config = "hkb_2001_small"
  ses.train_and_evaluate(config, tmp_path / "transfer")
  saved = json.loads((tmp_path / "transfer" / "config.json").read_text())
  assert saved["init_from"] == str(tmp_path / "source")
  target = checkpoints.Checkpointer(tmp_path / "transfer" / "checkpoints")
  _, record = target.restore_as_stored()
  target.close()
  assert record["init_from"] == str(tmp_path / "source")


def test_a_batch_that_does_not_divide_by_the_devices_stops_the_run(
  tmp_path, ses_data_dir, tiny_ses_config
):
  with pytest.raises(ValueError, match="does not divide by the 8 devices"):
    ses.train_and_evaluate(tiny_ses_config(ses_data_dir, batch_size=12), tmp_path)


def test_an_unknown_network_is_a_clear_error(tmp_path, ses_data_dir, tiny_ses_config):
  config = tiny_ses_config(ses_data_dir)
  config.model.name = "resnet"
  with pytest.raises(ValueError, match="config.model.name='resnet'"):
    ses.train_and_evaluate(config, tmp_path)

"""Run identity: default workdirs named after the overrides, refused resumes that say what to do,
nothing written by a refused run, and the README's commands each training their own model."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import tiny_ses

from precursor_jax import config_base
from precursor_jax.training import runs

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_default_workdir_names_the_config_and_hashes_the_overrides():
  plain = runs.default_workdir("configs/ses_hkb.py", {})
  assert plain == runs.DEFAULT_ROOT / "workdirs" / "ses_hkb"
  assert runs.default_workdir("configs/ses_hkb.py:paper", {}).name == "ses_hkb_paper"
  gru = runs.default_workdir("configs/ses_hkb.py", {"model.name": "gru_ae"})
  epochs = runs.default_workdir("configs/ses_hkb.py", {"num_epochs": 5})
  assert len({plain, gru, epochs}) == 3 and gru.name.startswith("ses_hkb-")
  assert gru == runs.default_workdir("configs/ses_hkb.py", {"model.name": "gru_ae"})
  both = runs.default_workdir("configs/ses_hkb.py", {"num_epochs": 5, "model.name": "gru_ae"})
  assert both == runs.default_workdir(
    "configs/ses_hkb.py", {"model.name": "gru_ae", "num_epochs": 5}
  )


def test_differences_and_the_fields_safe_to_change():
  config = config_base.ses_config("hkb")
  stored = runs.as_json(config)
  config.log_every_steps = 7
  config.eval.studies = ()
  assert runs.result_changing_differences(stored, runs.as_json(config)) == {}
  config.num_epochs = 5
  config.model.name = "gru_ae"
  diffs = runs.result_changing_differences(stored, runs.as_json(config))
  assert diffs == {"model.name": ("lstm_ae", "gru_ae"), "num_epochs": (48, 5)}


def test_check_workdir_refuses_files_foreign_directories_and_other_configs(tmp_path):
  config = config_base.ses_config("hkb")
  assert runs.check_workdir(tmp_path / "new", config) == (tmp_path / "new").resolve()
  (tmp_path / "a_file").write_text("x")
  with pytest.raises(runs.RunRefused, match="is a file"):
    runs.check_workdir(tmp_path / "a_file", config)
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("mine")
  with pytest.raises(runs.RunRefused, match="not a precursor_jax run directory"):
    runs.check_workdir(foreign, config)
  with pytest.raises(runs.RunRefused, match="empty"):
    runs.check_workdir("", config)
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps(runs.as_json(config)))
  assert runs.check_workdir(run, config) == run.resolve()
  config.model.name = "gru_ae"
  with pytest.raises(
    runs.RunRefused, match=r"model.name: 'lstm_ae' -> 'gru_ae'[\s\S]*--force_resume"
  ):
    runs.check_workdir(run, config)
  assert runs.check_workdir(run, config, force=True) == run.resolve()


def test_record_start_refuses_changed_data_and_logs_forced_changes(tmp_path):
  config = config_base.ses_config("hkb")
  runs.record_start(tmp_path, config, fingerprints={"train": "aaa"})
  environment = json.loads((tmp_path / "environment.json").read_text())
  assert environment["data_fingerprints"] == {"train": "aaa"}
  assert environment["packages"]["jax"] and environment["cpu"]
  before = (tmp_path / "config.json").read_bytes()
  with pytest.raises(runs.RunRefused, match="the data differ"):
    runs.record_start(tmp_path, config, fingerprints={"train": "bbb"})
  assert (tmp_path / "config.json").read_bytes() == before
  config.num_epochs = 60
  runs.record_start(tmp_path, config, fingerprints={"train": "aaa"}, force=True)
  change = json.loads((tmp_path / "config_changes.jsonl").read_text().splitlines()[0])
  assert change["changed"] == {"num_epochs": [48, 60]} and change["forced"]


TINY = tiny_ses.command_line(num_epochs=1)


def train(home, data_dir, *extra, workdir=None):
  command = [sys.executable, "-m", "precursor_jax.train", "--config", "configs/ses_hkb.py", *TINY]
  command += [f"--config.dataset.data_dir={data_dir}", *extra]
  if workdir is not None:
    command.append(f"--workdir={workdir}")
  env = dict(os.environ, HOME=str(home), JAX_PLATFORMS="cpu")
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_readme_commands_each_train_their_own_model(tmp_path, ses_data_dir):
  home = tmp_path / "home"
  outputs = [
    train(home, ses_data_dir),
    train(home, ses_data_dir, "--config.model.name=gru_ae"),
    train(home, ses_data_dir, "--config.num_epochs=2"),
  ]
  for result in outputs:
    assert result.returncode == 0, result.stderr[-2000:]
  dirs = sorted((home / ".cache" / "precursor_jax" / "workdirs").iterdir())
  assert len(dirs) == 3
  stored = [json.loads((d / "config.json").read_text()) for d in dirs]
  assert sorted((c["model"]["name"], c["num_epochs"]) for c in stored) == [
    ("gru_ae", 1),
    ("lstm_ae", 1),
    ("lstm_ae", 2),
  ]
  assert all((d / "summary.json").exists() and (d / "environment.json").exists() for d in dirs)


@pytest.mark.slow
def test_a_refused_resume_says_what_to_do_and_writes_nothing(tmp_path, ses_data_dir):
  workdir = tmp_path / "run"
  first = train(tmp_path, ses_data_dir, workdir=workdir)
  assert first.returncode == 0, first.stderr[-2000:]
  snapshot = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")}
  refused = train(tmp_path, ses_data_dir, "--config.model.name=gru_ae", workdir=workdir)
  assert refused.returncode == 2
  assert (
    "model.name: 'lstm_ae' -> 'gru_ae'" in refused.stderr and "--force_resume" in refused.stderr
  )
  assert "Traceback" not in refused.stderr
  assert {p: p.stat().st_mtime_ns for p in workdir.rglob("*")} == snapshot
  unknown = train(tmp_path, ses_data_dir, "--config.num_epoch=3", workdir=workdir)
  assert unknown.returncode == 2 and "did you mean num_epochs" in unknown.stderr
  assert "Traceback" not in unknown.stderr

"""Every entry point refuses a user's mistake at start-up: one line on stderr that names the field,
flag or file and what is expected, exit status 2, no traceback, and nothing written.

Each case runs the real command in a subprocess (train, sweep, the ses_synthetic builder, qc) with
HOME in the test's directory, and compares that directory before and after: a refused run writes
no workdir, no dataset, no default workdir. The refusals come before any data is read or any
model built, so a case costs its Python start-up (a few seconds). The slow cases first train a
tiny run (and a tiny sweep) in process, then check that refused reruns into those workdirs leave
every byte as it was.
"""

import hashlib
import os
import pathlib
import subprocess
import sys

import pytest
import test_configs

from precursor_jax import config_base, config_checks, tasks
from precursor_jax.tasks import ses, sweeps

REPO = pathlib.Path(__file__).resolve().parent.parent
TRAIN = ("precursor_jax.train", "--config", "configs/ses_hkb.py")
SWEEP = ("precursor_jax.sweep", "--config", "configs/ses_hkb.py")
BUILD = ("data_builders.ses_synthetic.build",)
QC = ("precursor_jax.qc",)


def snapshot(root: pathlib.Path) -> dict[str, str]:
  """Relative path -> blake2b of the bytes (directories: "dir") of everything under root."""
  out = {}
  for path in sorted(root.rglob("*")):
    relative = str(path.relative_to(root))
    out[relative] = "dir" if path.is_dir() else hashlib.blake2b(path.read_bytes()).hexdigest()
  return out


def run(root: pathlib.Path, *command: str) -> subprocess.CompletedProcess:
  """`python -m COMMAND` in the repository, with HOME and the tfds default inside root."""
  env = dict(
    os.environ,
    HOME=str(root / "home"),
    TFDS_DATA_DIR=str(root / "home" / "tfds"),
    JAX_PLATFORMS="cpu",
    # matplotlib caches its font list under HOME on first import: a library's cache, not output.
    MPLCONFIGDIR=str(root.parent / "matplotlib"),
  )
  env.pop("PRECURSOR_JAX_TRACEBACK", None)
  return subprocess.run(
    [sys.executable, "-m", *command],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def assert_refused(done: subprocess.CompletedProcess, *expected: str) -> None:
  """Exit status 2, the expected fragments on one error line of stderr, and no traceback."""
  assert done.returncode == 2, (done.returncode, done.stdout[-1500:], done.stderr[-1500:])
  assert "Traceback" not in done.stderr, done.stderr[-3000:]
  errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1, done.stderr[-2000:]
  for fragment in expected:
    assert fragment in errors[0], (fragment, errors[0])


def refused_and_nothing_written(root, command, expected):
  (root / "a_file").write_text("not a directory\n")
  before = snapshot(root)
  command = [part.replace("ROOT", str(root)) for part in command]
  assert_refused(run(root, *command), *[e.replace("ROOT", str(root)) for e in expected])
  assert snapshot(root) == before, "a refused command wrote something"


# (command, fragments the one error line must hold): every numeric mistake the issue lists, the
# workdir and data-directory mistakes, and what absl or ml_collections would have reported
# as a FATAL flags error or a traceback.
TRAIN_CASES = {
  "batch_size_0": (["--config.batch_size=0"], ["config.batch_size", "expected >= 1", "got 0"]),
  "batch_size_negative": (["--config.batch_size=-4"], ["config.batch_size", "expected >= 1"]),
  "batch_size_half": (
    ["--config.batch_size=0.5"],
    ["--config.batch_size=0.5", "expected an integer", "'0.5'"],
  ),
  "num_epochs_negative": (["--config.num_epochs=-1"], ["config.num_epochs", "expected >= 1"]),
  "learning_rate_nan": (["--config.learning_rate=nan"], ["config.learning_rate", "finite"]),
  "learning_rate_inf": (["--config.learning_rate=inf"], ["config.learning_rate", "finite"]),
  "learning_rate_negative": (["--config.learning_rate=-1e-3"], ["config.learning_rate", "> 0"]),
  "learning_rate_text": (["--config.learning_rate=fast"], ["learning_rate", "expected a number"]),
  "weight_penalty_negative": (["--config.weight_penalty=-1"], ["config.weight_penalty", ">= 0"]),
  "bias_penalty_negative": (["--config.bias_penalty=-1e-9"], ["config.bias_penalty", ">= 0"]),
  "layer_size_zero": (
    ["--config.model.lstm_ae.encoder_features=0"],
    ["config.model.lstm_ae.encoder_features", "expected >= 1"],
  ),
  "strides_not_integers": (
    ["--config.model.fc_ae.strides=(10,2.5)"],
    ["config.model.fc_ae.strides", "element 1", "expected an integer"],
  ),
  "bool_not_bool": (
    ["--config.model.lstm_ae.recurrent_layer_norm=maybe"],
    ["recurrent_layer_norm", "expected true or false"],
  ),
  "unknown_field": (["--config.num_epoch=3"], ["--config.num_epoch", "did you mean num_epochs"]),
  "unknown_nested_field": (
    ["--config.model.lstm_ae.encoder_feature=3"],
    ["model.lstm_ae.encoder_feature", "did you mean model.lstm_ae.encoder_features"],
  ),
  "unknown_dataset": (
    ["--config.dataset.config=hkb_smal"],
    ["config.dataset.config", "'hkb_smal'", "did you mean hkb_small", "expected one of: hkb,"],
  ),
  "unknown_study_set": (
    ["--config.eval.studies=('amp_6',)"],
    ["config.eval.studies", "'amp_6'", "amp_06"],
  ),
  "data_dir_is_a_file": (
    ["--config.dataset.data_dir=ROOT/a_file"],
    ["config.dataset.data_dir", "ROOT/a_file is a file, not a directory"],
  ),
  "data_dir_cannot_be_created": (
    ["--config.dataset.data_dir=ROOT/a_file/tfds"],
    ["config.dataset.data_dir", "cannot be created", "ROOT/a_file is a file"],
  ),
  "data_dir_empty": (["--config.dataset.data_dir="], ["config.dataset.data_dir", "empty"]),
  "workdir_empty": (["--workdir="], ["--workdir is empty", "give a directory"]),
  "workdir_is_a_file": (
    ["--workdir=ROOT/a_file"],
    ["--workdir", "ROOT/a_file is a file, not a directory"],
  ),
  "workdir_cannot_be_created": (
    ["--workdir=ROOT/a_file/run"],
    ["--workdir", "cannot be created", "ROOT/a_file is a file"],
  ),
  "unknown_flag": (["--worksdir=ROOT/run"], ["Unknown command line flag 'worksdir'"]),
  "positional_argument": (["ROOT/run"], ["unexpected arguments", "--flag=value"]),
}


@pytest.mark.parametrize("name", list(TRAIN_CASES))
def test_train_refuses_at_start_up(tmp_path, name):
  extra, expected = TRAIN_CASES[name]
  workdir = [] if any(a.startswith("--workdir") for a in extra) else ["--workdir=ROOT/run"]
  refused_and_nothing_written(tmp_path, [*TRAIN, *extra, *workdir], expected)


CONFIG_FILE_CASES = {
  "no_config": (["precursor_jax.train", "--workdir=ROOT/run"], ["--config is required"]),
  "missing_config_file": (
    ["precursor_jax.train", "--config=configs/ses_hbk.py"],
    ["--config", "no config file 'configs/ses_hbk.py'"],
  ),
  "unknown_preset": (
    ["precursor_jax.train", "--config=configs/ses_hkb.py:huge"],
    ["configs/ses_hkb.py:huge", "preset must be one of", "'small'"],
  ),
}


@pytest.mark.parametrize("name", list(CONFIG_FILE_CASES))
def test_a_bad_config_argument_is_one_line(tmp_path, name):
  command, expected = CONFIG_FILE_CASES[name]
  refused_and_nothing_written(tmp_path, command, expected)


SWEEP_CASES = {
  "name_given_twice": (
    ["--sweep", "seed=0,1", "--sweep", "seed=2"],
    ["--sweep seed is given twice", "one list"],
  ),
  "repeated_value": (["--sweep", "seed=0,1,1"], ["--sweep seed", "repeated value"]),
  "seed_not_an_integer": (["--sweep", "seed=0,0.5"], ["--sweep seed", "integers expected", "0.5"]),
  "seed_not_a_number": (["--sweep", "seed=0,one"], ["--sweep seed", "'one' is not a number"]),
  "learning_rate_nan": (["--sweep", "learning_rate=1e-3,nan"], ["config.learning_rate", "finite"]),
  "learning_rate_negative": (["--sweep", "learning_rate=-1e-3"], ["config.learning_rate", "> 0"]),
  "penalty_negative": (["--sweep", "weight_penalty=0,-1e-7"], ["config.weight_penalty", ">= 0"]),
  "unknown_dataset_in_a_trial": (
    ["--sweep", "dataset.config=hkb_small,hkb_smal"],
    ["config.dataset.config", "'hkb_smal'", "did you mean hkb_small"],
  ),
  "unknown_field": (["--sweep", "learning_rat=1e-3"], ["no field 'learning_rat'"]),
  "no_sweep": ([], ["give --sweep NAME=v1,v2"]),
  "workdir_empty": (["--sweep", "seed=0,1", "--workdir="], ["--workdir is empty"]),
}


@pytest.mark.parametrize("name", list(SWEEP_CASES))
def test_sweep_refuses_at_start_up(tmp_path, name):
  extra, expected = SWEEP_CASES[name]
  workdir = [] if any(a.startswith("--workdir") for a in extra) else ["--workdir=ROOT/sweep"]
  refused_and_nothing_written(tmp_path, [*SWEEP, *extra, *workdir], expected)


BUILD_CASES = {
  "no_name": (["--config=,"], ["--config=','", "config names separated by commas"]),
  "empty_name": (["--config=hkb_small,"], ["--config='hkb_small,'", "no empty name"]),
  "unknown_name": (
    ["--config=hkb_smal"],
    ["--config", "'hkb_smal'", "did you mean hkb_small", "expected one of: hkb,"],
  ),
  "repeated_name": (["--config=mts_small,mts_small"], ["mts_small more than once"]),
  "data_dir_is_a_file": (
    ["--config=hkb_small", "--data_dir=ROOT/a_file"],
    ["--data_dir=ROOT/a_file", "is a file, not a directory"],
  ),
  "data_dir_cannot_be_created": (
    ["--config=hkb_small", "--data_dir=ROOT/a_file/tfds"],
    ["--data_dir", "cannot be created"],
  ),
  "background_dir_missing": (
    ["--config=hkb_small", "--data_dir=ROOT/tfds", "--background_dir=ROOT/no_days"],
    ["--background_dir=ROOT/no_days", "expected an existing directory"],
  ),
}


@pytest.mark.parametrize("name", list(BUILD_CASES))
def test_builder_refuses_before_building(tmp_path, name):
  extra, expected = BUILD_CASES[name]
  refused_and_nothing_written(tmp_path, [*BUILD, *extra], expected)


QC_CASES = {
  "nothing_to_check": ([], ["give --four_gauge DIR", "--iaga2002 PATH"]),
  "missing_file": (["--iaga2002=ROOT/BOU2016.min"], ["ROOT/BOU2016.min"]),
  "unknown_flag": (["--iaga=ROOT/a_file"], ["Unknown command line flag 'iaga'"]),
}


@pytest.mark.parametrize("name", list(QC_CASES))
def test_qc_refuses_in_one_line(tmp_path, name):
  extra, expected = QC_CASES[name]
  refused_and_nothing_written(tmp_path, [*QC, *extra], expected)


def test_directory_rule_creates_nothing_and_names_the_obstacle(tmp_path):
  (tmp_path / "a_file").write_text("x")
  assert config_checks.directory_problem(tmp_path) is None
  assert config_checks.directory_problem(tmp_path / "new" / "deeper") is None
  assert "is a file" in config_checks.directory_problem(tmp_path / "a_file")
  blocked = config_checks.directory_problem(tmp_path / "a_file" / "x" / "y")
  assert "cannot be created" in blocked and str(tmp_path / "a_file") in blocked
  assert config_checks.directory_problem(" ") == "the path is empty"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
  if os.geteuid() != 0:  # root may write anywhere
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "not writable" in config_checks.directory_problem(locked / "run")


# The tasks whose configs must be fully covered: every task.
COVERED_TASKS = ("ses", "forecast", "detect", "evaluate")


def rule_for(field: str) -> config_checks.Rule | None:
  matching = [r for p, r in config_checks.RULES.items() if config_checks._matches(p, field)]
  return matching[0] if matching else None


def test_every_numeric_field_of_every_training_config_has_a_rule():
  """A numeric field that no rule covers would accept 0, -4 or NaN at start-up."""
  uncovered, checked = set(), 0
  for param in test_configs.config_cases():
    path, preset = param.values
    config = test_configs.cli.load_config_file(f"{path}:{preset}" if preset else str(path))
    if config.task not in COVERED_TASKS:
      continue
    for field, value in config_checks._leaves(config).items():
      values = value if isinstance(value, tuple) else (value,)
      numeric = values and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
      )
      checked += bool(numeric)
      if numeric and rule_for(field) is None:
        uncovered.add(field)
  assert checked > 50
  assert not uncovered, f"no range rule for {sorted(uncovered)} (config_checks.RULES)"


def test_rules_refuse_the_issue_values_and_accept_the_shipped_ones():
  assert rule_for("batch_size").problem(0) == "expected >= 1, got 0"
  assert rule_for("batch_size").problem(2.0) is None  # an integral float is an integer value
  assert "finite" in rule_for("learning_rate").problem(float("nan"))
  assert "finite" in rule_for("learning_rate").problem(float("-inf"))
  assert rule_for("weight_penalty").problem(-1e-9) == "expected >= 0, got -1e-09"
  assert rule_for("model.fc_ae.channels").problem(()).startswith("expected a non-empty tuple")
  assert rule_for("threshold.false_alarm_rate").problem(1.0) == "expected < 1, got 1.0"
  assert rule_for("forecaster.batch_size").problem(-4) == "expected >= 1, got -4"
  assert rule_for("model.pyraformer.dropout").problem(1.0) == "expected < 1, got 1.0"
  assert rule_for("forecaster.lstm.dropout").problem(0.05) is None


def test_the_ses_check_runs_wherever_configs_are_checked():
  assert config_checks.TASK_CHECKS["ses"] is ses.check_data  # registered when ses is imported
  config = config_base.ses_config("hkb")
  config.dataset.config = "hkb_smal"
  with pytest.raises(config_checks.ConfigError, match="did you mean hkb_small"):
    config_checks.check_config(config)
  with pytest.raises(config_checks.ConfigError, match="did you mean hkb_small"):
    sweeps.trial_config(config_base.ses_config("hkb"), {"dataset.config": "hkb_smal"})


@pytest.mark.slow
def test_refused_train_runs_leave_an_existing_workdir_as_it_was(
  tmp_path, ses_data_dir, tiny_ses_config
):
  workdir = tmp_path / "run"
  config = tiny_ses_config(ses_data_dir, num_epochs=1)
  config.eval.studies = ()
  ses.train_and_evaluate(config, workdir)
  before = snapshot(workdir)
  assert "config.json" in before and "summary.json" in before
  cases = [
    (["--config.batch_size=0"], ["config.batch_size"]),
    (["--config.dataset.config=hkb_smal"], ["'hkb_smal'"]),
    (["--config.dataset.data_dir=ROOT/a_file"], ["is a file"]),
    # The shipped config differs from the tiny run's: refused before anything is written.
    ([f"--config.dataset.data_dir={ses_data_dir}"], ["holds a run with another config"]),
  ]
  (tmp_path / "a_file").write_text("x")
  for extra, expected in cases:
    extra = [a.replace("ROOT", str(tmp_path)) for a in extra]
    assert_refused(run(tmp_path, *TRAIN, *extra, f"--workdir={workdir}"), *expected)
    assert snapshot(workdir) == before, extra


@pytest.mark.slow
def test_refused_sweeps_leave_an_existing_sweep_workdir_as_it_was(
  tmp_path, ses_data_dir, tiny_ses_config
):
  workdir = tmp_path / "sweep"
  config = tiny_ses_config(ses_data_dir, num_epochs=1)
  config.eval.studies = ()
  trials = sweeps.expand({"grid": {"learning_rate": [1e-3, 2e-3]}})
  sweeps.run_sweep(tasks.get("ses"), config, trials, workdir)
  before = snapshot(workdir)
  assert "sweep.json" in before and "best/config.json" in before
  cases = [
    (["--sweep", "seed=0,1", "--sweep", "seed=2"], ["given twice"]),
    (["--sweep", "learning_rate=1e-3,nan"], ["finite"]),
    (["--sweep", "bias_penalty=-1"], [">= 0"]),
    (["--sweep", "learning_rate=1e-3,2e-3", "--config.dataset.config=hkb_smal"], ["'hkb_smal'"]),
    # Another trial list (and base config) than the stored sweep's.
    (["--sweep", "seed=3,4", f"--config.dataset.data_dir={ses_data_dir}"], ["another trial list"]),
  ]
  for extra, expected in cases:
    assert_refused(run(tmp_path, *SWEEP, *extra, f"--workdir={workdir}"), *expected)
    assert snapshot(workdir) == before, extra

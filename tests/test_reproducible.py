"""Reproducible runs: the same config twice on one machine gives bit-identical results, and the
workdir records what can move them on another machine (package versions, CPU and vector ISA, XLA
flags, usable CPUs, data fingerprints).

Timing fields are the only ones allowed to differ. Both runs happen in one pytest process, so they
see the same devices (8 fake CPU devices, conftest.py), threads and flags; the README's
"Reproducibility" paragraph says what changes the last bits across machines.
"""

import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import sys
import tomllib

import jax
import jaxlib
import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from test_forecast_train import tiny_config as tiny_forecast_config

from data_builders.ses_synthetic import load_ses_split
from precursor_jax.tasks import forecast, ses
from precursor_jax.training import checkpoints, runs

REPO = pathlib.Path(__file__).resolve().parent.parent
# What a summary or a metrics line may hold that depends on the wall clock.
TIMING_FIELDS = {
  "train_seconds_this_process",
  "inference_ms_per_day",
  "train_seconds",
  "train/steps_per_sec",
  "train/eta_sec",
}


def without_timing(tree):
  """`tree` with every TIMING_FIELDS key removed, at any depth."""
  if isinstance(tree, dict):
    return {k: without_timing(v) for k, v in tree.items() if k not in TIMING_FIELDS}
  if isinstance(tree, list):
    return [without_timing(v) for v in tree]
  return tree


def canonical(path: pathlib.Path) -> str:
  """A JSON file without its timing fields, as text with sorted keys (floats at full precision)."""
  return json.dumps(without_timing(json.loads(path.read_text())), sort_keys=True)


def metrics_lines(workdir: pathlib.Path) -> list[str]:
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return [json.dumps(without_timing(json.loads(line)), sort_keys=True) for line in lines]


def parameters(workdir: pathlib.Path) -> list[np.ndarray]:
  checkpointer = checkpoints.Checkpointer(workdir / "checkpoints")
  try:
    state, _ = checkpointer.restore_as_stored()
  finally:
    checkpointer.close()
  return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def assert_bit_identical_runs(a: pathlib.Path, b: pathlib.Path) -> None:
  summary_a, summary_b = canonical(a / "summary.json"), canonical(b / "summary.json")
  assert summary_a == summary_b
  assert metrics_lines(a) == metrics_lines(b)
  for x, y in zip(parameters(a), parameters(b), strict=True):
    assert x.dtype == y.dtype and x.shape == y.shape
    assert x.tobytes() == y.tobytes()  # bit for bit, NaN patterns included
  env_a, env_b = (json.loads((d / "environment.json").read_text()) for d in (a, b))
  assert env_a["data_fingerprints"] == env_b["data_fingerprints"] != {}


@pytest.mark.slow
def test_two_ses_runs_give_bit_identical_summaries(tmp_path, ses_data_dir, tiny_ses_config):
  config = tiny_ses_config(ses_data_dir)
  config.eval.studies = ("amp_06_small",)  # resized to the tiny run's 4 days: the study path too
  first = ses.train_and_evaluate(config, tmp_path / "a")
  second = ses.train_and_evaluate(config, tmp_path / "b")
  assert first["test"]["count"] == 3 and "amp_06_small" in first["studies"]
  assert second["train_seconds_this_process"] > 0  # the field the comparison leaves out exists
  assert_bit_identical_runs(tmp_path / "a", tmp_path / "b")
  # The recorded fingerprints are those of the arrays the run read (recomputed here from tfds).
  fingerprints = json.loads((tmp_path / "a" / "environment.json").read_text())["data_fingerprints"]
  name = ses.builder_config(config, config.dataset.config)
  for split in ("train", "test"):
    arrays = load_ses_split(name, split, str(ses_data_dir))
    assert fingerprints[f"{config.dataset.config}/{split}"] == runs.fingerprint_arrays(arrays)


@pytest.mark.slow
def test_two_forecast_runs_give_bit_identical_summaries(tmp_path, test_data_dir):
  config = tiny_forecast_config(test_data_dir)
  config.num_epochs = 1
  forecast.train_and_evaluate(config, tmp_path / "a")
  forecast.train_and_evaluate(config, tmp_path / "b")
  assert_bit_identical_runs(tmp_path / "a", tmp_path / "b")


def test_environment_records_what_moves_a_cpu_result(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX --xla_cpu_enable_fast_math=false")
  monkeypatch.setenv("OMP_NUM_THREADS", "1")
  environment = runs.environment({"hkb_small/train": "abc"})
  assert environment["xla_flags"] == os.environ["XLA_FLAGS"]
  assert environment["xla"]["cpu_max_isa"] == "AVX"
  assert environment["xla"]["thread_variables"] == {"OMP_NUM_THREADS": "1"}
  assert environment["xla"]["usable_cpus"] == len(os.sched_getaffinity(0))
  assert environment["xla"]["jax_config"]["jax_enable_x64"] is jax.config.jax_enable_x64
  assert environment["packages"]["jaxlib"] == jaxlib.__version__
  # The wheel tag names this interpreter and machine (cp311-cp311-manylinux_2_27_x86_64).
  tag = environment["jaxlib_wheel"]
  assert tag.startswith(f"cp{sys.version_info.major}{sys.version_info.minor}")
  assert platform.machine().lower() in tag.lower()
  assert environment["data_fingerprints"] == {"hkb_small/train": "abc"}
  monkeypatch.delenv("XLA_FLAGS")
  assert runs.environment()["xla"]["cpu_max_isa"].startswith("host")


def test_environment_names_the_commit_of_the_code():
  root = pathlib.Path(runs.__file__).resolve().parents[2]
  try:
    head = subprocess.run(
      ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    pytest.skip("precursor_jax does not run from a git checkout here")
  source = runs.environment()["source"]
  assert source["commit"] == head
  assert isinstance(source["dirty"], bool)


def test_cpu_record_names_the_generation_and_the_vector_isa():
  cpu = runs.environment()["cpu"]
  if not pathlib.Path("/proc/cpuinfo").is_file():
    pytest.skip("no /proc/cpuinfo on this system")
  text = pathlib.Path("/proc/cpuinfo").read_text()
  first = {}
  for line in text.splitlines():
    key, _, value = line.partition(":")
    first.setdefault(key.strip(), value.strip())
  assert cpu["family"] == first["cpu family"] and cpu["model_number"] == first["model"]
  assert set(cpu["isa"]) == {
    f for f in first["flags"].split() if f.startswith(("avx", "sse4", "fma", "amx"))
  }


def required_distributions() -> set[str]:
  """The distributions `pip install -e ".[test]"` installs: pyproject's dependencies and test
  extra, then their requirements as installed (markers evaluated here), by normalised name."""
  project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
  todo = [(Requirement(r), ()) for r in project["dependencies"]]
  todo += [(Requirement(r), ()) for r in project["optional-dependencies"]["test"]]
  found: set[str] = set()
  while todo:
    requirement, extras = todo.pop()
    name = canonicalize_name(requirement.name)
    if requirement.marker and not any(
      requirement.marker.evaluate({"extra": e}) for e in (*extras, "")
    ):
      continue
    if name in found:
      continue
    found.add(name)
    for text in importlib.metadata.distribution(name).requires or []:
      todo.append((Requirement(text), tuple(requirement.extras)))
  return found


def test_constraints_pin_every_installed_package_and_the_commands_use_them():
  lines = (REPO / "constraints.txt").read_text().splitlines()
  pins = dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))
  pins = {canonicalize_name(name): version for name, version in pins.items()}
  assert "precursor-jax" not in pins and pins["jax"] == pins["jaxlib"]
  missing = required_distributions() - set(pins)
  assert not missing, f"constraints.txt lacks {sorted(missing)}: regenerate it (README)"
  for name, version in pins.items():  # the lock is the environment the tests run in
    assert importlib.metadata.version(name) == version, name
  readme = (REPO / "README.md").read_text()
  ci = (REPO / ".ci" / "run").read_text()
  assert 'pip install -q -c constraints.txt -e ".[test]"' in ci
  assert 'pip install -q -c constraints.txt -e ".[test]"' in readme
  assert "pip install -c constraints.txt -e . " in readme

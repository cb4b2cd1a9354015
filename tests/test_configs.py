"""Every config in configs/ loads at every preset, passes the start-up checks, and builds its model
and data contract; every sweep file expands. A broken config fails here, not on a user's machine."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import data_builders.ses_synthetic as ses_data
from precursor_jax import cli, config_checks, tasks
from precursor_jax.models import registry
from precursor_jax.tasks import forecast, ses, sweeps
from precursor_jax.tasks.detect import forecasting as detect_forecasting
from precursor_jax.tasks.detect import pipeline as detect_pipeline
from precursor_jax.tasks.detect.stations import load_stations

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def load(path: pathlib.Path):
  spec = importlib.util.spec_from_file_location(f"config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def config_cases():
  for path in sorted(CONFIGS.glob("*.py")):
    module = load(path)
    for preset in getattr(module, "PRESETS", None) or (None,):
      yield pytest.param(path, preset, id=f"{path.stem}:{preset}")


def test_every_config_names_its_command_and_presets():
  for path in sorted(CONFIGS.glob("*.py")):
    module = load(path)
    assert "COMMAND" in (module.__doc__ or ""), f"{path.name}: no COMMAND in its docstring"
    assert hasattr(module, "PRESETS"), f"{path.name}: declare PRESETS (a tuple, or None)"


@pytest.mark.parametrize("path, preset", list(config_cases()))
def test_config_loads_checks_and_builds(path, preset):
  argument = f"{path}:{preset}" if preset else str(path)
  config = cli.load_config_file(argument)
  config_checks.check_config(config)
  task = tasks.get(config.task)
  assert task.name == config.task
  # Every declared field is reachable by the dotted names the command line uses.
  names = cli.field_names(config)
  assert "seed" in names and ("batch_size" in names or "forecaster.batch_size" in names)
  if config.task == "ses":
    builder = ses.builder_config(config, config.dataset.config)
    for study in config.eval.studies:
      assert study in ses_data.SesSynthetic.builder_configs, study
    ses_data.validation_of(builder, config.dataset.validation_repeats)
    for name in registry.SES_NETWORKS:  # every network of the family blocks builds
      config.model.name = name
      model = ses.build_model(config)
      init = ses.make_init(model)
      variables, _ = jax.eval_shape(init, jax.random.key(0))
      assert variables["params"]
  elif config.task == "forecast":
    assert config.dataset.history > 0 and config.dataset.horizon > 0
    for name in registry.FORECASTERS:
      config.model.name = name
      model = forecast.build_model(config, channels=7)
      example = {
        "history": jnp.zeros((1, config.dataset.history, 7)),
        "history_time": jnp.zeros((1, config.dataset.history, 4)),
        "future_time": jnp.zeros((1, config.dataset.horizon, 4)),
      }
      variables, _ = jax.eval_shape(forecast.make_init(model, example), jax.random.key(0))
      assert variables["params"]
  elif config.task == "detect":
    stations = load_stations(config.stations_file, list(config.stations) or None)
    detect_pipeline.study_dates(config)
    for station in stations:
      detect_pipeline.study_dates(config, station.window)
    interval = int(stations[0].interval / np.timedelta64(1, "s")) if stations[0].interval else 3600
    plan = detect_forecasting.WindowPlan.from_config(config.forecaster, interval)
    for name in (config.forecaster.name, *config.forecaster.table2_baselines):
      model = detect_forecasting.build_stack(config.forecaster, name, plan, stations=2)
      example = {
        "history": jnp.zeros((1, 2, plan.history, 1)),
        "history_time": jnp.zeros((1, plan.history, 4)),
        "future_time": jnp.zeros((1, plan.horizon, 4)),
      }
      variables, _ = jax.eval_shape(detect_forecasting.make_init(model, example), jax.random.key(0))
      assert variables["params"]


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.py")), ids=lambda p: p.stem)
def test_every_sweep_file_expands_and_its_trials_check(path):
  assert "COMMAND" in (load(path).__doc__ or "")
  trials = sweeps.expand(sweeps.load_sweep_file(path))
  base = cli.load_config_file(
    str(CONFIGS / ("pyraformer_etth1.py" if "forecast" in path.stem else "ses_hkb.py"))
  )
  for trial in trials:
    sweeps.trial_config(base, trial)

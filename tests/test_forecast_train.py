"""The forecasting task end to end on the shipped ETTh1 slice: both protocols, resume, clear errors."""

import json

import jax
import numpy as np
import pytest

from precursor_jax import config_base
from precursor_jax.tasks import forecast
from precursor_jax.training import checkpoints, loop


def tiny_config(test_data_dir, model="pyraformer"):
  config = config_base.forecast_config(
    model=model, horizon=168, path=str(test_data_dir / "ett" / "ETTh1_head720.csv")
  )
  config.dataset.history, config.dataset.horizon = 24, 12
  config.dataset.borders = (480, 600, 720)
  config.model.pyraformer.update(
    dict(
      d_model=16,
      d_inner=16,
      n_heads=2,
      d_k=8,
      d_v=8,
      n_layers=2,
      window_sizes=(2, 2),
      d_bottleneck=8,
    )
  )
  config.model.lstm.update(dict(hidden=16))
  config.batch_size, config.eval_batch_size = 32, 32
  config.num_epochs = 2
  config.learning_rate = 1e-3
  config.log_every_steps = 5
  return config


def test_forecast_training_reports_both_protocols(tmp_path, test_data_dir):
  summary = forecast.train_and_evaluate(tiny_config(test_data_dir), tmp_path)
  history = summary["repeats"][0]
  assert set(summary) >= {"paper", "honest"}
  for protocol in ("paper", "honest"):
    assert all(np.isfinite(summary[protocol][m]) for m in forecast.METRICS)
    assert summary[protocol]["rmse"] == pytest.approx(np.sqrt(summary[protocol]["mse"]), rel=1e-5)
  written = json.loads((tmp_path / "summary.json").read_text())
  assert written["paper"]["mse"] == pytest.approx(summary["paper"]["mse"])
  assert (tmp_path / "config.json").exists() and (tmp_path / "metrics.jsonl").exists()
  # The paper protocol picks the test-best epoch, so it can never be worse than the honest one on test.
  assert summary["paper"]["mse"] <= summary["honest"]["mse"]
  assert history["paper"]["epoch"] in (1, 2)


def test_protocols_pick_epochs_by_test_and_by_validation():
  history = [
    {"epoch": 1, "val/mse": 0.5, "test/mse": 0.9, "test/mae": 1, "test/rmse": 1, "test/smape": 1},
    {"epoch": 2, "val/mse": 0.4, "test/mse": 0.8, "test/mae": 2, "test/rmse": 2, "test/smape": 2},
    {"epoch": 3, "val/mse": 0.6, "test/mse": 0.7, "test/mae": 3, "test/rmse": 3, "test/smape": 3},
  ]
  chosen = forecast.protocols(history)
  assert chosen["paper"]["epoch"] == 3 and chosen["honest"]["epoch"] == 2
  assert chosen["honest"]["mae"] == 2


def test_a_stopped_forecast_run_resumes_to_the_same_parameters(tmp_path, test_data_dir):
  config = tiny_config(test_data_dir)
  config.num_epochs = 1
  forecast.train_and_evaluate(config, tmp_path / "whole")
  stopped = tiny_config(test_data_dir)
  stopped.num_epochs = 1
  stopped.stop_after_step = 7
  with pytest.raises(loop.StoppedEarly):
    forecast.train_and_evaluate(stopped, tmp_path / "resumed")
  forecast.train_and_evaluate(config, tmp_path / "resumed")
  restore = lambda d: checkpoints.Checkpointer(d / "checkpoints")
  whole, resumed = restore(tmp_path / "whole"), restore(tmp_path / "resumed")
  assert whole.latest_step() == resumed.latest_step()
  (a, _), (b, _) = whole.restore_as_stored(), resumed.restore_as_stored()
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  whole.close()
  resumed.close()


def test_a_baseline_runs_through_the_same_task(tmp_path, test_data_dir):
  config = tiny_config(test_data_dir, model="lstm")
  config.num_epochs = 1
  summary = forecast.train_and_evaluate(config, tmp_path)
  assert np.isfinite(summary["honest"]["mse"])


def test_a_missing_data_file_is_a_clear_error(tmp_path, test_data_dir):
  config = tiny_config(test_data_dir)
  config.dataset.path = str(tmp_path / "nowhere" / "ETTh1.csv")
  with pytest.raises(FileNotFoundError, match="nowhere/ETTh1.csv"):
    forecast.train_and_evaluate(config, tmp_path / "run")

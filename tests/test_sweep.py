"""The vmapped sweep: trials trained together equal the same runs trained one by one."""

import jax
import numpy as np
import pytest

from precursor_jax import sweep
from precursor_jax.training import checkpoints, ses


def test_parse_sweep_and_grid(tiny_ses_config):
  grid = sweep.parse_sweep(["learning_rate=1e-3,2e-3", "seed=0,1,2"])
  assert grid == {"learning_rate": [1e-3, 2e-3], "seed": [0, 1, 2]}
  config = tiny_ses_config("/tmp/unused")
  trials = sweep.trials(config, grid)
  assert len(trials) == 6 and trials[-1]["learning_rate"] == 2e-3 and trials[-1]["seed"] == 2
  assert all(t["weight_penalty"] == config.weight_penalty for t in trials)
  with pytest.raises(ValueError, match="NAME one of"):
    sweep.parse_sweep(["dropout=0.1"])
  with pytest.raises(ValueError, match="must be numbers"):
    sweep.parse_sweep(["learning_rate=fast"])


def test_sweep_trials_equal_separate_runs(tmp_path, ses_data_dir, tiny_ses_config):
  config = tiny_ses_config(ses_data_dir, num_epochs=1)
  result = sweep.train_sweep(config, {"learning_rate": [1e-3, 3e-3]}, tmp_path / "sweep")
  assert [r["learning_rate"] for r in result["results"]] != [] and len(result["results"]) == 2
  assert (tmp_path / "sweep" / "sweep.txt").exists()
  stacked, _ = checkpoints.Checkpointer(tmp_path / "sweep" / "checkpoints").restore_as_stored()
  for i, rate in enumerate([1e-3, 3e-3]):
    single = tiny_ses_config(ses_data_dir, num_epochs=1, learning_rate=rate)
    ses.train_and_evaluate(single, tmp_path / f"single_{i}")
    alone, _ = checkpoints.Checkpointer(
      tmp_path / f"single_{i}" / "checkpoints"
    ).restore_as_stored()
    for x, y in zip(
      jax.tree.leaves(stacked["params"]), jax.tree.leaves(alone["params"]), strict=True
    ):
      np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y), rtol=1e-4, atol=1e-6)

"""Sweeps: trial specs and their checks, grouping, frozen divergent trials, and the vmapped run
equal to separate runs, ranked on validation, with the best trial restorable as a normal run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from precursor_jax import config_base, tasks
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import ses, sweeps
from precursor_jax.training import checkpoints, runs, wiring
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib


@pytest.fixture
def config():
  return config_base.ses_config("hkb", "small")


def test_shorthand_grid_parses_values_by_the_fields_type(config):
  grid = sweeps.parse_shorthand(["learning_rate=1e-3,2e-3", "seed=0,1e3"], config)
  assert grid == {"learning_rate": [1e-3, 2e-3], "seed": [0, 1000]}
  assert isinstance(grid["seed"][1], int)
  trials = sweeps.expand({"grid": grid})
  assert len(trials) == 4 and trials[-1] == {"learning_rate": 2e-3, "seed": 1000}


@pytest.mark.parametrize(
  "specs, message",
  [
    (["seed=0,1", "seed=2"], "given twice"),
    (["seed=0,0.5"], "integers expected"),
    (["learning_rate=1e-3,fast"], "'fast' is not a number"),
    (["learning_rate=1e-3,1e-3"], "repeated value"),
    (["dropout=0.1"], "no field 'dropout'"),
    (["learning_rate"], "expected NAME=v1,v2"),
  ],
)
def test_shorthand_mistakes_are_named(config, specs, message):
  with pytest.raises(ConfigError, match=message):
    sweeps.parse_shorthand(specs, config)


def test_random_and_list_specs_expand_deterministically():
  spec = {
    "random": {"learning_rate": ("log_uniform", 1e-4, 1e-2), "seed": ("int", 0, 3)},
    "count": 5,
  }
  first, again = sweeps.expand(spec), sweeps.expand(spec)
  assert first == again and len(first) == 5
  assert all(1e-4 <= t["learning_rate"] <= 1e-2 and 0 <= t["seed"] <= 3 for t in first)
  assert sweeps.expand({"trials": [{"seed": 1}, {"seed": 2}]}) == [{"seed": 1}, {"seed": 2}]
  with pytest.raises(ConfigError, match="repeats trial"):
    sweeps.expand({"trials": [{"seed": 1}, {"seed": 1}]})
  with pytest.raises(ConfigError, match="exactly one of"):
    sweeps.expand({"grid": {"seed": [1]}, "trials": []})


def test_trials_that_change_shapes_are_grouped():
  trials = sweeps.expand(
    {"grid": {"learning_rate": [1e-3, 2e-3], "model.lstm_ae.encoder_features": [8, 16]}}
  )
  grouped = sweeps.groups(trials)
  assert [static for static, _ in grouped] == [
    {"model.lstm_ae.encoder_features": 8},
    {"model.lstm_ae.encoder_features": 16},
  ]
  assert [indices for _, indices in grouped] == [[0, 2], [1, 3]]


def test_trial_values_pass_the_same_checks_as_a_run(config):
  with pytest.raises(ConfigError, match="config.learning_rate: expected > 0"):
    sweeps.trial_config(config, {"learning_rate": -1e-3})
  with pytest.raises(ConfigError, match="config.weight_penalty: expected a finite number"):
    sweeps.trial_config(config, {"weight_penalty": float("nan")})


def test_a_diverging_trial_is_frozen_and_the_others_go_on():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(3, 1)), jnp.float32)}
  batch = {
    "x": rng.normal(size=(16, 3)).astype(np.float32),
    "y": rng.normal(size=(16, 1)).astype(np.float32),
  }

  def loss_fn(p, batch_stats, b, key, train):
    del batch_stats, key, train
    return jnp.mean(jnp.square(b["x"] @ p["w"] - b["y"])), ({}, {})

  optimizer = optax.identity()
  step = step_lib.make_train_step(loss_fn, optimizer)
  fresh = state_lib.create_train_state(params, optimizer, jax.random.key(0))
  states = wiring.stack([fresh, fresh])
  rates = wiring.stack([state_lib.make_hyperparams(learning_rate=lr) for lr in (0.1, float("nan"))])
  guarded = jax.jit(step_lib.freeze_diverged(jax.vmap(step, in_axes=(0, None, 0))))
  single, healthy = fresh, state_lib.make_hyperparams(learning_rate=0.1)
  for _ in range(3):
    states, metrics = guarded(states, batch, rates)
    single, _ = step(single, batch, healthy)
  assert step_lib.all_finite(jax.device_get(metrics))  # the frozen trial is left out of the guard
  np.testing.assert_allclose(states.params["w"][0], single.params["w"], rtol=1e-6)
  np.testing.assert_array_equal(states.params["w"][1], params["w"])  # frozen where it started
  assert states.diverged_at.tolist() == [-1, 0] and states.step.tolist() == [3, 3]
  assert metrics["diverged"].tolist() == [False, True]


def test_a_sweep_equals_separate_runs_and_exports_the_best(tmp_path, ses_data_dir, tiny_ses_config):
  config = tiny_ses_config(ses_data_dir, num_epochs=1)
  config.dataset.validation_repeats = 2
  trials = sweeps.expand({"grid": {"learning_rate": [1e-3, 3e-3]}})
  result = sweeps.run_sweep(
    tasks.get("ses"), config, trials, tmp_path / "sweep", base_command="train"
  )
  ranked = result["results"]
  assert sorted(r["learning_rate"] for r in ranked) == [1e-3, 3e-3]
  assert ranked[0]["val_success"] >= ranked[1]["val_success"]
  for name in ("sweep.csv", "sweep.md", "sweep.png", "sweep.json"):
    assert (tmp_path / "sweep" / name).exists(), name
  assert "--workdir" in (tmp_path / "sweep" / "sweep.md").read_text()
  group = checkpoints.Checkpointer(tmp_path / "sweep" / "group_0" / "checkpoints")
  stacked, _ = group.restore_as_stored()
  group.close()
  for i, rate in enumerate([1e-3, 3e-3]):
    single = tiny_ses_config(ses_data_dir, num_epochs=1, learning_rate=rate)
    ses.train_and_evaluate(single, tmp_path / f"single_{i}")
    alone = checkpoints.Checkpointer(tmp_path / f"single_{i}" / "checkpoints")
    state, _ = alone.restore_as_stored()
    alone.close()
    for x, y in zip(
      jax.tree.leaves(stacked["params"]), jax.tree.leaves(state["params"]), strict=True
    ):
      np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y), rtol=1e-4, atol=1e-6)
  # The best trial is a normal run's workdir: the same config resumes there (a finished run reports).
  best = tiny_ses_config(ses_data_dir, num_epochs=1, learning_rate=result["best"]["learning_rate"])
  summary = ses.train_and_evaluate(best, tmp_path / "sweep" / "best")
  assert summary["test"]["count"] == 3
  # Another trial list in the same workdir is refused; the same one resumes.
  with pytest.raises(runs.RunRefused, match="another"):
    sweeps.run_sweep(tasks.get("ses"), config, trials[:1], tmp_path / "sweep")
  again = sweeps.run_sweep(tasks.get("ses"), config, trials, tmp_path / "sweep")
  assert json.dumps(again["results"]) == json.dumps(ranked)

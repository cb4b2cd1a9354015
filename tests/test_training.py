"""The shared training core: pure step, learning-rate rules, penalties, data parallelism, vmap, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from precursor_jax.data import batching
from precursor_jax.training import checkpoints, loop, parallel
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import MetricWriter, read_metrics


def linear_loss(params, batch_stats, batch, key, train):
  """A least-squares loss with dropout-free linear model: easy to check by hand."""
  del batch_stats, key, train
  prediction = batch["x"] @ params["dense"]["kernel"] + params["dense"]["bias"][None, :]
  return jnp.mean(jnp.square(prediction - batch["y"])), (
    {"mean_prediction": jnp.mean(prediction)},
    {},
  )


def make_problem(seed=0, n=64, d=5):
  rng = np.random.default_rng(seed)
  params = {
    "dense": {
      "kernel": jnp.asarray(rng.normal(size=(d, 1)), jnp.float32),
      "bias": jnp.zeros((1,), jnp.float32),
    }
  }
  batch = {
    "x": rng.normal(size=(n, d)).astype(np.float32),
    "y": rng.normal(size=(n, 1)).astype(np.float32),
  }
  return params, batch


def fresh_state(params, optimizer):
  return state_lib.create_train_state(params, optimizer, jax.random.key(0))


def test_learning_rate_rules_match_their_formulas():
  hp = state_lib.make_hyperparams(learning_rate=1e-3, lr_decay=8e-6)
  for step in (0, 1, 1000, 150_000):
    assert float(state_lib.learning_rate_at(jnp.asarray(step), hp)) == pytest.approx(
      1e-3 / (1 + 8e-6 * step), rel=1e-6
    )
  hp = state_lib.make_hyperparams(learning_rate=1e-4, lr_epoch_gamma=0.1, steps_per_epoch=100)
  for step, expected in ((0, 1e-4), (99, 1e-4), (100, 1e-5), (250, 1e-6)):
    assert float(state_lib.learning_rate_at(jnp.asarray(step), hp)) == pytest.approx(
      expected, rel=1e-5
    )


def test_l2_penalty_separates_kernels_and_biases():
  params = {
    "a": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.full((3,), 3.0)},
    "norm": {"scale": jnp.ones((4,)), "bias": jnp.ones((4,))},
  }
  hp = state_lib.make_hyperparams(weight_penalty=0.5, bias_penalty=0.25)
  # weights: 6 * 4 + 4 * 1 = 28; biases: 3 * 9 + 4 * 1 = 31.
  assert float(state_lib.l2_penalty(params, hp)) == pytest.approx(0.5 * 28 + 0.25 * 31)


def test_train_step_equals_optax_adam_with_the_same_rate():
  params, batch = make_problem()
  optimizer = state_lib.adam(eps=1e-7)
  hp = state_lib.make_hyperparams(learning_rate=1e-2)
  step = jax.jit(step_lib.make_train_step(linear_loss, optimizer))
  state = fresh_state(params, optimizer)
  reference = optax.adam(1e-2, eps=1e-7)
  ref_params, ref_opt = params, reference.init(params)
  grad_fn = jax.grad(lambda p: linear_loss(p, {}, batch, None, True)[0])
  for _ in range(3):
    state, metrics = step(state, batch, hp)
    updates, ref_opt = reference.update(grad_fn(ref_params), ref_opt, ref_params)
    ref_params = optax.apply_updates(ref_params, updates)
  np.testing.assert_allclose(
    state.params["dense"]["kernel"], ref_params["dense"]["kernel"], rtol=1e-5
  )
  assert int(state.step) == 3
  assert set(metrics) >= {"loss", "penalty", "learning_rate", "grad_norm", "mean_prediction"}


def test_weight_penalty_enters_the_gradient():
  params, batch = make_problem()
  optimizer = optax.identity()  # plain gradient step: new = old - lr * grad
  hp = state_lib.make_hyperparams(learning_rate=0.1, weight_penalty=0.3)
  state, _ = step_lib.make_train_step(linear_loss, optimizer)(
    fresh_state(params, optimizer), batch, hp
  )
  grads = jax.grad(lambda p: linear_loss(p, {}, batch, None, True)[0])(params)
  expected = params["dense"]["kernel"] - 0.1 * (
    grads["dense"]["kernel"] + 2 * 0.3 * params["dense"]["kernel"]
  )
  np.testing.assert_allclose(state.params["dense"]["kernel"], expected, rtol=1e-5)
  expected_bias = params["dense"]["bias"] - 0.1 * grads["dense"]["bias"]  # biases not penalised
  np.testing.assert_allclose(state.params["dense"]["bias"], expected_bias, rtol=1e-5, atol=1e-7)


def test_data_parallel_over_eight_devices_equals_one_device():
  assert jax.device_count() == 8, "conftest sets 8 fake CPU devices"
  params, batch = make_problem(n=64)
  optimizer = state_lib.adam()
  hp = state_lib.make_hyperparams(learning_rate=1e-2, weight_penalty=1e-3)
  single = jax.jit(step_lib.make_train_step(linear_loss, optimizer))
  single_state = fresh_state(params, optimizer)
  mesh = parallel.make_mesh()
  sharded = parallel.data_parallel(
    step_lib.make_train_step(linear_loss, optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  sharded_state = parallel.replicate(fresh_state(params, optimizer), mesh)
  for _ in range(3):
    single_state, single_metrics = single(single_state, batch, hp)
    sharded_state, sharded_metrics = sharded(sharded_state, parallel.shard_batch(batch, mesh), hp)
  np.testing.assert_allclose(
    sharded_state.params["dense"]["kernel"],
    single_state.params["dense"]["kernel"],
    rtol=1e-5,
    atol=1e-6,
  )
  np.testing.assert_allclose(sharded_metrics["loss"], single_metrics["loss"], rtol=1e-5)


def test_batch_that_does_not_divide_by_devices_is_refused_with_a_message():
  mesh = parallel.make_mesh()
  with pytest.raises(ValueError, match="does not divide by the 8 devices"):
    parallel.check_batch_size(100, mesh)
  assert parallel.check_batch_size(128, mesh) == 16


def test_vmap_over_hyperparameters_equals_separate_runs():
  params, batch = make_problem()
  optimizer = state_lib.adam()
  step = step_lib.make_train_step(linear_loss, optimizer)
  rates = [1e-3, 1e-2, 1e-1]
  stacked_hp = jax.tree.map(
    lambda *xs: jnp.stack(xs), *[state_lib.make_hyperparams(learning_rate=r) for r in rates]
  )
  stacked_state = jax.tree.map(lambda x: jnp.stack([x] * 3), fresh_state(params, optimizer))
  vstep = jax.jit(jax.vmap(step, in_axes=(0, None, 0)))
  for _ in range(2):
    stacked_state, _ = vstep(stacked_state, batch, stacked_hp)
  for i, rate in enumerate(rates):
    state = fresh_state(params, optimizer)
    for _ in range(2):
      state, _ = step(state, batch, state_lib.make_hyperparams(learning_rate=rate))
    np.testing.assert_allclose(
      stacked_state.params["dense"]["kernel"][i], state.params["dense"]["kernel"], rtol=1e-5
    )


def test_sharded_step_compiles_once():
  params, batch = make_problem(n=16)
  optimizer = state_lib.adam()
  traces = []

  def counting_loss(*args):
    traces.append(1)  # runs only while tracing
    return linear_loss(*args)

  mesh = parallel.make_mesh()
  step = parallel.data_parallel(
    step_lib.make_train_step(counting_loss, optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  state = parallel.replicate(fresh_state(params, optimizer), mesh)
  hp = state_lib.make_hyperparams()
  for _ in range(4):
    state, _ = step(state, parallel.shard_batch(batch, mesh), hp)
  assert len(traces) == 1


def test_batches_are_a_pure_function_of_the_step():
  first = batching.train_batch_indices(7, num_examples=100, batch_size=16, seed=3)
  again = batching.train_batch_indices(7, num_examples=100, batch_size=16, seed=3)
  np.testing.assert_array_equal(first, again)
  epoch = np.concatenate(
    [batching.train_batch_indices(s, num_examples=100, batch_size=16, seed=3) for s in range(6)]
  )
  assert len(np.unique(epoch)) == 96  # 6 full batches, no example twice in an epoch
  next_epoch = batching.train_batch_indices(6, num_examples=100, batch_size=16, seed=3)
  assert not np.array_equal(next_epoch, epoch[:16])  # reshuffled
  with pytest.raises(ValueError, match="fewer than one batch"):
    batching.steps_per_epoch(10, 16)


def test_eval_batches_pad_and_mask_the_last_batch():
  arrays = {"x": np.arange(10)}
  batches = list(batching.eval_batches(arrays, 4))
  assert [b["x"].shape[0] for b, _ in batches] == [4, 4, 4]
  seen = np.concatenate([b["x"][valid] for b, valid in batches])
  np.testing.assert_array_equal(seen, np.arange(10))


def run_linear_training(workdir, stop_after_step=None, total_steps=12):
  """A full loop run (checkpoints every 4 steps) on a tiny problem; returns the final state."""
  params, data = make_problem(n=48)
  optimizer = state_lib.adam()
  mesh = parallel.make_mesh()
  step = parallel.data_parallel(
    step_lib.make_train_step(linear_loss, optimizer, axis_name=parallel.BATCH_AXIS), mesh
  )
  state = parallel.replicate(fresh_state(params, optimizer), mesh)
  checkpointer = checkpoints.Checkpointer(workdir / "checkpoints")
  state, record = checkpoints.restore_or_initialize(checkpointer, state)
  make_batch = loop.sharded_train_batches(data, batch_size=16, seed=0, mesh=mesh)
  schedule = loop.Schedule(
    total_steps=total_steps, steps_per_epoch=3, log_every_steps=2, checkpoint_every_steps=4
  )
  evaluate = lambda state, epoch: {
    "epoch_loss": float(linear_loss(state.params, {}, data, None, False)[0])
  }
  state, record = loop.run(
    state=state,
    train_step=step,
    hparams=state_lib.make_hyperparams(1e-2),
    make_batch=make_batch,
    schedule=schedule,
    writer=MetricWriter(workdir),
    checkpointer=checkpointer,
    evaluate=evaluate,
    record=record,
    stop_after_step=stop_after_step,
  )
  checkpointer.close()
  return state, record


def test_a_stopped_run_resumes_to_the_same_parameters(tmp_path):
  uninterrupted, record = run_linear_training(tmp_path / "a")
  partial, _ = run_linear_training(tmp_path / "b", stop_after_step=7)  # checkpointed at 3, 4, 6, 7
  assert int(partial.step) == 7
  resumed, resumed_record = run_linear_training(tmp_path / "b")
  assert int(resumed.step) == 12
  np.testing.assert_array_equal(
    resumed.params["dense"]["kernel"], uninterrupted.params["dense"]["kernel"]
  )
  np.testing.assert_array_equal(
    resumed.opt_state.mu["dense"]["kernel"], uninterrupted.opt_state.mu["dense"]["kernel"]
  )
  assert [h["epoch"] for h in resumed_record["history"]] == [1, 2, 3, 4]
  assert [h["epoch_loss"] for h in resumed_record["history"]] == [
    h["epoch_loss"] for h in record["history"]
  ]
  logged = read_metrics(tmp_path / "a")
  assert logged and all("step" in line for line in logged)


def test_non_finite_loss_stops_with_the_step_number(tmp_path):
  params, data = make_problem(n=16)
  data["y"][0] = np.nan
  optimizer = state_lib.adam()
  step = jax.jit(step_lib.make_train_step(linear_loss, optimizer))
  schedule = loop.Schedule(total_steps=3, steps_per_epoch=3, log_every_steps=1)
  with pytest.raises(FloatingPointError, match="step 1"):
    loop.run(
      state=fresh_state(params, optimizer),
      train_step=step,
      hparams=state_lib.make_hyperparams(),
      make_batch=lambda s: data,
      schedule=schedule,
      writer=MetricWriter(tmp_path),
    )


def test_restore_params_refuses_an_empty_directory(tmp_path):
  (tmp_path / "empty").mkdir()
  params, _ = make_problem()
  with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
    checkpoints.restore_params(tmp_path / "empty", fresh_state(params, state_lib.adam()))
  with pytest.raises(FileNotFoundError, match="no checkpoint directory"):
    checkpoints.restore_params(tmp_path / "missing", fresh_state(params, state_lib.adam()))


def test_init_from_takes_parameters_but_not_the_optimizer(tmp_path):
  trained, _ = run_linear_training(tmp_path / "source")
  params, _ = make_problem(n=48)
  optimizer = state_lib.adam()
  checkpointer = checkpoints.Checkpointer(tmp_path / "target" / "checkpoints")
  state, record = checkpoints.restore_or_initialize(
    checkpointer, fresh_state(params, optimizer), init_from=tmp_path / "source"
  )
  checkpointer.close()
  np.testing.assert_array_equal(state.params["dense"]["kernel"], trained.params["dense"]["kernel"])
  assert int(state.step) == 0 and float(jnp.abs(state.opt_state.mu["dense"]["kernel"]).sum()) == 0
  assert record == {"init_from": str(tmp_path / "source")}


def test_predict_split_covers_every_example_once():
  mesh = parallel.make_mesh()
  arrays = {"x": np.arange(21, dtype=np.float32)[:, None]}
  predict = parallel.data_parallel_apply(
    lambda state, batch: {"double": 2 * batch["x"][:, 0]}, mesh
  )
  out = loop.predict_split(predict, None, arrays, batch_size=8, mesh=mesh)
  np.testing.assert_array_equal(out["double"], 2 * np.arange(21))


def test_evaluation_runs_every_n_epochs_and_after_the_last(tmp_path):
  params, data = make_problem(n=16)
  optimizer = state_lib.adam()
  step = jax.jit(step_lib.make_train_step(linear_loss, optimizer))
  schedule = loop.Schedule(
    total_steps=10, steps_per_epoch=2, log_every_steps=5, eval_every_epochs=2
  )
  evaluated = []
  _, record = loop.run(
    state=fresh_state(params, optimizer),
    train_step=step,
    hparams=state_lib.make_hyperparams(),
    make_batch=lambda s: data,
    schedule=schedule,
    writer=MetricWriter(tmp_path),
    evaluate=lambda state, epoch: evaluated.append(epoch) or {"x": 1.0},
  )
  assert evaluated == [2, 4, 5] and [h["epoch"] for h in record["history"]] == [2, 4, 5]

"""Vectorised hyperparameter search: many SES trials trained in one compiled program with jax.vmap.

  python -m precursor_jax.sweep --config configs/ses_hkb.py --sweep learning_rate=1e-3,2e-3,5e-3 \
      --sweep seed=0,1 [--workdir DIR]

Each trial is one point of the grid of --sweep values (here 3 x 2 = 6 trials). Their train states are
stacked along a leading trial axis and `jax.vmap(train_step, in_axes=(0, None, 0))` updates all of them on
the same batch in one step, inside the same data-parallel `shard_map` as `precursor_jax.train`; the trials
share the data order. What can vary: the Hyperparams fields (learning_rate, lr_decay, weight_penalty,
bias_penalty) and the seed (initial parameters and dropout keys). A rerun with the same workdir resumes
(the stacked state is one orbax checkpoint). The report ranks the trials by test success.
"""

from __future__ import annotations

import itertools
import json
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections

from precursor_jax.data import batching
from precursor_jax.training import checkpoints, loop, parallel, ses
from precursor_jax.training import state as state_lib
from precursor_jax.training import step as step_lib
from precursor_jax.training.writer import MetricWriter, to_python

SWEEPABLE = ("learning_rate", "lr_decay", "weight_penalty", "bias_penalty", "seed")


def parse_sweep(specs: Sequence[str]) -> dict[str, list[float]]:
  """['learning_rate=1e-3,2e-3', 'seed=0,1'] -> {'learning_rate': [0.001, 0.002], 'seed': [0, 1]}."""
  grid = {}
  for spec in specs:
    name, _, values = spec.partition("=")
    if name not in SWEEPABLE or not values:
      raise ValueError(
        f"--sweep {spec!r}: expected NAME=v1,v2,... with NAME one of {', '.join(SWEEPABLE)}"
      )
    try:
      grid[name] = [int(v) if name == "seed" else float(v) for v in values.split(",")]
    except ValueError:
      raise ValueError(f"--sweep {spec!r}: values must be numbers") from None
  return grid


def trials(config: ml_collections.ConfigDict, grid: dict[str, list[float]]) -> list[dict]:
  """Every combination of the grid, filled in with the config's values for the fields not swept."""
  names = list(grid)
  base = {name: config[name] for name in SWEEPABLE}
  return [
    dict(base, **dict(zip(names, values, strict=True)))
    for values in itertools.product(*grid.values())
  ]


def stack(trees: Sequence) -> object:
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def train_sweep(
  config: ml_collections.ConfigDict, grid: dict[str, list[float]], workdir: str | pathlib.Path
) -> dict:
  """Trains every trial of `grid` together and returns (and writes) the ranked results."""
  trial_list = trials(config, grid)
  workdir, mesh = loop.start_run(config, workdir, (config.batch_size,))
  train = ses.load_split(config, config.dataset.config, "train")
  test = ses.load_split(config, config.dataset.config, "test")
  per_epoch = batching.steps_per_epoch(len(train["input"]), config.batch_size)
  total_steps = per_epoch * config.num_epochs
  model = ses.build_model(config)
  optimizer = state_lib.adam(config.adam_eps)
  dummy = jnp.zeros((1, config.dataset.day_samples), jnp.float32)

  def fresh_state(seed: int) -> state_lib.TrainState:
    init_key, rng_key = jax.random.split(jax.random.key(seed))
    return state_lib.create_train_state(model.init(init_key, dummy)["params"], optimizer, rng_key)

  states = parallel.replicate(stack([fresh_state(int(t["seed"])) for t in trial_list]), mesh)
  hparams = stack(
    [
      state_lib.make_hyperparams(
        learning_rate=t["learning_rate"],
        lr_decay=t["lr_decay"],
        steps_per_epoch=per_epoch,
        weight_penalty=t["weight_penalty"],
        bias_penalty=t["bias_penalty"],
      )
      for t in trial_list
    ]
  )
  checkpointer = checkpoints.Checkpointer(workdir / "checkpoints")
  states, record = checkpoints.restore_or_initialize(checkpointer, states)
  record.setdefault("trials", trial_list)
  step = step_lib.make_train_step(ses.make_loss_fn(model), optimizer, axis_name=parallel.BATCH_AXIS)
  train_step = parallel.data_parallel(jax.vmap(step, in_axes=(0, None, 0)), mesh)
  # Outputs (batch, trial): the batch axis stays first, where the mesh splits it.
  predict = parallel.data_parallel_apply(
    jax.vmap(ses.make_predict_fn(model, dict(config.detection)), in_axes=(0, None), out_axes=1),
    mesh,
  )

  def evaluate(states, epoch):
    del epoch
    per_trial = ses.predict_on(predict, states, test, config.batch_size, mesh)
    scores = [
      ses.score_split({k: v[:, i] for k, v in per_trial.items()}, test)
      for i in range(len(trial_list))
    ]
    return {f"test/{key}": [s[key] for s in scores] for key in ("success", "near_success", "rmspe")}

  print(
    f"sweep of {len(trial_list)} trials x {total_steps} steps on {len(train['input'])} training days",
    flush=True,
  )
  states, record = loop.run(
    state=states,
    train_step=train_step,
    hparams=hparams,
    make_batch=loop.sharded_train_batches(
      {k: train[k] for k in ses.MODEL_KEYS}, config.batch_size, config.seed, mesh
    ),
    schedule=loop.Schedule(
      total_steps=total_steps,
      steps_per_epoch=per_epoch,
      log_every_steps=config.log_every_steps,
      checkpoint_every_steps=config.checkpoint_every_steps,
      eval_every_epochs=config.get("eval_every_epochs", 1),
    ),
    writer=MetricWriter(workdir),
    checkpointer=checkpointer,
    evaluate=evaluate,
    record=record,
    stop_after_step=config.get("stop_after_step"),
  )
  checkpointer.close()
  if int(states.step[0]) < total_steps:
    return {"stopped_at_step": int(states.step[0])}
  final = record["history"][-1]
  results = sorted(
    (
      {**t, "test_success": final["test/success"][i], "test_rmspe": final["test/rmspe"][i]}
      for i, t in enumerate(trial_list)
    ),
    key=lambda r: -r["test_success"],
  )
  table = format_results(results)
  print(table, flush=True)
  if jax.process_index() == 0:
    (workdir / "sweep.json").write_text(json.dumps(to_python(results), indent=2))
    (workdir / "sweep.txt").write_text(table + "\n")
  return {"results": results}


def format_results(results: list[dict]) -> str:
  lines = [
    "| " + " | ".join(SWEEPABLE) + " | test success | test RMSPE % |",
    "|" + "---|" * (len(SWEEPABLE) + 2),
  ]
  for r in results:
    lines.append(
      "| "
      + " | ".join(f"{r[k]:g}" for k in SWEEPABLE)
      + f" | {100 * r['test_success']:.1f}% | {r['test_rmspe']:.2f} |"
    )
  return "\n".join(lines)


def main(argv) -> None:
  from absl import flags, logging

  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  if config.task != "ses":
    raise ValueError(f"sweeps support the SES task; config.task is {config.task!r}")
  workdir = _WORKDIR.value or pathlib.Path.home() / ".cache" / "precursor_jax" / "sweeps" / "sweep"
  train_sweep(config, parse_sweep(_SWEEP.value or []), workdir)


if __name__ == "__main__":
  from absl import app, flags
  from ml_collections import config_flags

  _CONFIG = config_flags.DEFINE_config_file(
    "config", None, "SES experiment config file.", lock_config=True
  )
  _WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory (resumable).")
  _SWEEP = flags.DEFINE_multi_string(
    "sweep", None, "NAME=v1,v2,... (repeatable); NAME in " + ", ".join(SWEEPABLE)
  )
  flags.mark_flags_as_required(["config"])
  app.run(main)

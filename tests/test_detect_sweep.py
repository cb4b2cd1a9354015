"""Detect's threshold sweep: the vmapped recount against a NumPy loop, and a sweep on a small
synthetic study against single detect runs of the same settings (same residuals, same numbers)."""

import json
import shutil

import jax
import numpy as np
import pytest
from test_detect import tiny_study

from precursor_jax import sweep as sweep_entry
from precursor_jax import tasks
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks.detect import pipeline
from precursor_jax.tasks.detect import sweep as detect_sweep
from precursor_jax.training import runs


def test_the_vmapped_recount_equals_a_loop_over_trials_and_days():
  rng = np.random.default_rng(3)
  e = np.abs(rng.standard_normal(24 * 9))
  e[rng.integers(0, len(e), 20)] = np.nan  # gaps are never anomalous
  day_index = np.repeat(np.arange(9), 24)
  reference = np.abs(rng.standard_normal(300))
  k = np.array([1.0, 2.0, 2.5, 2.0])
  rate = np.array([0.1, 0.1, 0.1, 0.05])
  quantile = np.array([False, False, False, True])
  with jax.enable_x64(True):
    thresholds, counts = detect_sweep.trial_day_counts(
      e, day_index, reference, k, rate, quantile, n_days=9
    )
  for t in range(len(k)):
    expected = np.quantile(reference, 1 - rate[t]) if quantile[t] else k[t] * reference.mean()
    assert float(thresholds[t]) == pytest.approx(expected, rel=1e-12)
    for day in range(9):
      values = e[day_index == day]
      assert int(counts[t, day]) == int(np.sum(np.isfinite(values) & (values > expected)))


def test_detect_configs_sweep_their_own_way_and_are_rerun_with_detect():
  task = tasks.get("detect")
  assert task.run_sweep is detect_sweep.run_sweep and task.entry_point == "precursor_jax.detect"
  assert sweep_entry.base_command(task.entry_point).startswith("python -m precursor_jax.detect ")
  assert tasks.get("ses").run_sweep is None  # trained tasks use tasks/sweeps.run_sweep


def _small(tmp_path):
  config = tiny_study(tmp_path)
  config.vmd.compare_causal = False
  config.forecaster.table2_baselines = ()
  return config


@pytest.mark.slow
def test_a_threshold_sweep_equals_single_runs_and_ranks_without_the_event(tmp_path):
  config = _small(tmp_path)
  trials = [
    {"threshold.k": 2.0},
    {"threshold.k": 2.5},
    {"threshold.k": 3.5},
    {"threshold.mode": "quantile", "threshold.false_alarm_rate": 0.05},
  ]
  with pytest.raises(ConfigError, match="selection criterion"):
    detect_sweep.run_sweep(None, config, [{"threshold.sweep_quiet_day_rate": 0.2}], tmp_path / "x")
  with pytest.raises(ConfigError, match="sweep trial .*false_alarm_rate"):
    detect_sweep.run_sweep(
      None, config, [{"threshold.mode": "quantile", "threshold.false_alarm_rate": 0.0}], tmp_path
    )
  workdir = tmp_path / "sweep"
  out = detect_sweep.run_sweep(None, config, trials, workdir, base_command="python -m x")
  ranked = out["results"]
  assert len(ranked) == 4 and {r["group"] for r in ranked} == {0}  # one detect run for all
  assert not (workdir / "group_1").exists()
  by_k = {r["threshold.k"]: r for r in ranked if "threshold.mode" not in r}
  # A higher k flags fewer points, so never more days (judged or quiet).
  assert by_k[2.0]["Synth/whole/point_threshold"] < by_k[3.5]["Synth/whole/point_threshold"]
  assert by_k[2.0]["quiet_day_rate"] >= by_k[2.5]["quiet_day_rate"] >= by_k[3.5]["quiet_day_rate"]
  assert by_k[2.0]["Synth/whole/anomalous_days"] >= by_k[3.5]["Synth/whole/anomalous_days"]
  # Ranked by the distance of the quiet-day rate from the stated rate, never by a p-value.
  errors = [r["selection_error"] for r in ranked]
  assert errors == sorted(errors)
  target = config.threshold.sweep_quiet_day_rate
  assert errors[0] == pytest.approx(abs(ranked[0]["quiet_day_rate"] - target))
  stored = json.loads((workdir / "sweep.json").read_text())
  (bound,) = stored["multiple_testing"]
  smallest = min(r["Synth/whole/p_circular"] for r in ranked)
  assert bound["bonferroni_bound"] == pytest.approx(min(1.0, 4 * smallest))
  assert "is not a p-value" in (workdir / "sweep.md").read_text()
  assert (workdir / "sweep.png").is_file() and (workdir / "sweep.csv").is_file()

  # The chosen trial is a normal detect workdir whose report holds the ranked row's numbers.
  best = json.loads((workdir / "best" / "report.json").read_text())
  mode = best["stations"]["Synth"]["modes"]["whole"]
  assert best["settings"]["settings_tried"] == 4
  assert mode["days"]["anomalous"] == ranked[0]["Synth/whole/anomalous_days"]
  assert mode["significance"]["p_value"] == ranked[0]["Synth/whole/p_circular"]
  assert mode["threshold"]["point_threshold"] == pytest.approx(
    ranked[0]["Synth/whole/point_threshold"], rel=1e-12
  )

  # A single detect run of the quantile trial, on the same residuals (the group's cached
  # forecaster), gives that trial's numbers.
  (row,) = [r for r in ranked if "threshold.mode" in r]
  single_dir = tmp_path / "single"
  shutil.copytree(workdir / "group_0", single_dir)
  single_config = _small(tmp_path)
  single_config.threshold.mode, single_config.threshold.false_alarm_rate = "quantile", 0.05
  single_config.figures = False
  single = pipeline.train_and_evaluate(single_config, single_dir, force_resume=True)
  mode = single["stations"]["Synth"]["modes"]["whole"]
  assert mode["threshold"]["point_threshold"] == pytest.approx(
    row["Synth/whole/point_threshold"], rel=1e-12
  )
  assert mode["days"]["anomalous"] == row["Synth/whole/anomalous_days"]
  assert mode["significance"]["p_value"] == row["Synth/whole/p_circular"]
  assert mode["significance"]["block_bootstrap_p_value"] == row["Synth/whole/p_block"]

  # A rerun resumes from the group's caches with equal results; another trial list is refused.
  again = detect_sweep.run_sweep(None, config, trials, workdir)
  assert again["results"] == ranked
  with pytest.raises(runs.RunRefused, match="another trial list"):
    detect_sweep.run_sweep(None, config, trials[:2], workdir)

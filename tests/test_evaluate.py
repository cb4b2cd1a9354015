"""Alarm-based evaluation (evaluate): alarm functions, segments without look-ahead, pooling, and
the whole command on a small synthetic record and a hand-made catalogue."""

import csv
import json

import numpy as np
import pytest
from records import synthetic_strain, write_point_file

from precursor_jax import config_base
from precursor_jax.anomaly import molchan
from precursor_jax.tasks.evaluate import alarms, pipeline

DAY = np.timedelta64(1, "D")


def test_trailing_count_and_count_increase_by_hand():
  anomalous = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 1], bool)
  usable = np.ones(10, bool)
  count = alarms.alarm_function(anomalous, usable, "trailing_count", 4, 0.75)
  np.testing.assert_array_equal(count[:3], [np.nan] * 3)
  np.testing.assert_array_equal(count[3:], [3, 2, 2, 2, 2, 3, 4])
  increase = alarms.alarm_function(anomalous, usable, "count_increase", 4, 0.75)
  # the last 2 days minus the 2 before: day 3: (a2 + a3) - (a0 + a1) = 2 - 1 = 1; day 4: (a3 + a4)
  # - (a1 + a2) = 1 - 1 = 0; day 5: 0 - 2; day 6: 1 - 1; day 7: 2 - 0; day 8: 2 - 1; day 9: 2 - 2
  np.testing.assert_array_equal(increase[3:], [1, 0, -2, 0, 2, 1, 0])
  usable[4:6] = False  # windows holding both unusable days have 2 of 4 usable: below 75%
  count = alarms.alarm_function(anomalous, usable, "trailing_count", 4, 0.75)
  assert count[4] == 2  # days 1..4, day 4 unusable: a1 + a2 + a3
  assert np.isnan(count[5:8]).all() and count[8] == 3
  with pytest.raises(ValueError, match="config.alarm.function='rate'"):
    alarms.alarm_function(anomalous, usable, "rate", 4, 0.75)


def test_segments_train_only_on_days_before_them():
  start, end = np.datetime64("2008-01-01", "s"), np.datetime64("2008-12-31", "s")
  segments = pipeline.plan_segments(start, end, 100, 60)
  assert segments[0].start == start and segments[-1].end == end
  for a, b in zip(segments, segments[1:], strict=False):
    assert a.end == b.start
  for s in segments:
    assert s.train_start == s.start - 60 * DAY and s.train_start < s.start
  with pytest.raises(pipeline.EvaluationError, match="must be >= 7"):
    pipeline.plan_segments(start, end, 3, 60)


def test_pooling_keeps_each_stations_alarms_to_itself():
  record = molchan.synthetic_record(
    np.random.default_rng(0), 400, 4, lead_days=10, hit_probability=0.8
  )
  f, events = record.alarm_function, record.event_days
  observed = np.ones(len(f), bool)
  config = config_base.evaluate_config("fast")
  config.alarm.duration_days = 10
  config.evaluation.draws = 99
  single = pipeline.score(f, observed, events, config, 0)
  f2, observed2, events2 = pipeline.pooled(
    np.stack([f, f]), np.stack([observed, observed]), np.stack([events, events]), 10
  )
  both = pipeline.score(f2, observed2, events2, config, 0)
  assert (
    both["n_targets"] == 2 * single["n_targets"]
    and both["observed_days"] == 2 * single["observed_days"]
  )
  assert both["area_skill_score"] == pytest.approx(single["area_skill_score"])


def test_every_target_says_why_it_was_or_was_not_scored():
  observed = np.array([[True, False, True], [True, True, True]])
  events = np.array([[0, 1, -1], [0, 1, 2]])  # station 0: target 2 out of its range
  status = pipeline.target_status(events, observed)
  assert status.tolist() == [
    ["scored", "alarm state unknown", "out of range"],
    ["scored", "scored", "scored"],
  ]
  trajectory = molchan.molchan_trajectory(np.array([1.0, 0.0, 2.0]), events[0], 1, observed[0])
  assert int(trajectory.n_events) == int(np.sum(status[0] == "scored"))
  assert int(trajectory.n_excluded) == int(np.sum(status[0] == "alarm state unknown"))


def test_a_day_is_scored_when_its_alarm_state_was_decided_not_by_its_own_data():
  anomalous = np.zeros(40, bool)
  usable = np.ones(40, bool)
  usable[35] = False  # the event day: a co-seismic step, no verdict of its own
  usable[10:20] = False  # a gap: the alarm function becomes unknown
  f = alarms.alarm_function(anomalous, usable, "trailing_count", 5, 0.7)
  decided = pipeline.decided_days(f)
  assert decided[35]  # known the day before: the event day is scored
  assert not decided[0]  # nothing before the first day
  assert not decided[15] and decided[24]  # unknown within the gap, decided again after it
  np.testing.assert_array_equal(decided[1:], np.isfinite(f[:-1]))


def write_cenc(path, rows):
  """CENC-style lines in Beijing time."""
  with open(path, "w", encoding="utf-8") as handle:
    for when, lat, lon, depth, mag, place in rows:
      local = np.datetime64(when) + np.timedelta64(8, "h")
      date, clock = str(local).split("T")
      handle.write(f"{date}  {clock}.0   {lat}   {lon}   {depth}  Ms{mag}  {place}\n")


@pytest.mark.slow
def test_the_evaluation_writes_its_outputs_without_look_ahead(tmp_path):
  times, values = synthetic_strain(
    start="2008-01-01", days=200, burst_from="2008-05-20", burst_to="2008-06-03"
  )
  write_point_file(tmp_path / "synth.txt", times, values)
  write_cenc(
    tmp_path / "catalog.txt",
    [
      ("2008-06-03T06:00:00", 30.5, 102.5, 10, 6.0, "main"),
      ("2008-06-05T06:00:00", 30.52, 102.52, 10, 5.2, "aftershock"),  # inside the GK window
      ("2008-07-10T06:00:00", 31.0, 103.0, 10, 5.5, "second"),
      ("2008-06-20T06:00:00", 45.0, 130.0, 10, 6.5, "far away"),
    ],
  )
  config = config_base.evaluate_config("fast")
  config.stations = (
    {
      "name": "Synth",
      "kind": "strain",
      "format": "point",
      "path": str(tmp_path / "synth.txt"),
      "latitude": 30.12,
      "longitude": 102.18,
    },
  )
  config.window.start, config.window.end = "2008-03-01", "2008-07-18"
  config.segments.length_days, config.segments.training_days = 70, 40
  config.vmd.causal_window_days = 10
  config.catalog.path, config.catalog.format = str(tmp_path / "catalog.txt"), "cenc_text"
  config.alarm.window_days, config.alarm.duration_days = 10, 10
  config.forecaster.pyraformer.update(
    d_model=8, d_inner=8, d_k=4, d_v=4, n_layers=1, d_bottleneck=4
  )
  config.forecaster.history_hours, config.forecaster.horizon_hours = 24.0, 6.0
  config.forecaster.train_stride_hours = 6.0
  config.forecaster.num_epochs, config.forecaster.batch_size = 1, 16
  config.evaluation.draws = 49
  document = pipeline.train_and_evaluate(config, tmp_path / "run")
  assert [e["place"] for e in document["targets"]] == ["main", "second"]  # declustered, in range
  assert document["target_selection"]["dependents_removed"] == 1
  assert [e["status"]["Synth"] for e in document["targets"]] == ["scored", "scored"]
  for key in ("area_skill_score", "p_value", "n_targets", "trajectory"):
    assert key in document
  assert document["n_targets"] == 2 and 0 <= document["area_skill_score"] <= 1
  assert 0 < document["p_value"] <= 1
  for row in document["training"]:
    assert row["trained_on"][1] <= row["calibrated_on"][0] <= row["judged"][0]
    assert (
      row["calibrated_on"][1] < row["judged"][0]
    )  # no judged day trained or calibrated anything
  folder = tmp_path / "run" / "evaluation"
  for name in (
    "molchan.json",
    "molchan.csv",
    "molchan.png",
    "report.md",
    "alarms.csv",
    "targets.csep.csv",
  ):
    assert (folder / name).is_file(), name
  assert (
    json.loads((tmp_path / "run" / "molchan.json").read_text())["schema"]
    == "precursor_jax.evaluate/1"
  )
  with open(folder / "targets.csep.csv") as handle:
    rows = list(csv.reader(handle))
  assert (
    rows[0] == ["lon", "lat", "mag", "time_string", "depth", "catalog_id", "event_id"]
    and len(rows) == 3
  )
  assert "Which days trained what" in (tmp_path / "run" / "report.md").read_text()

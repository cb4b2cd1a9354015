"""Method 1 (detect): each stage alone against its rule, then the pipeline end to end on a small
synthetic record (report schema, resume, skipped stations, clear refusals)."""

import json
import pathlib

import jax
import numpy as np
import pytest
from records import synthetic_strain, write_point_file

from precursor_jax import cli, config_base
from precursor_jax.anomaly import significance, storms
from precursor_jax.core.geodesy import haversine_km
from precursor_jax.tasks.detect import decompose, forecasting, pipeline, quality, statistics
from precursor_jax.tasks.detect.stations import (
  StationError,
  load_stations,
  parse_station,
  parse_utc_offset,
  read_station,
)

REPO = pathlib.Path(__file__).resolve().parent.parent
HOUR = np.timedelta64(1, "h")


# ------------------------------------------------------------------------------------------------
# Stations


def test_station_descriptions_are_checked_with_the_station_named(tmp_path):
  ok = {"name": "A", "kind": "strain", "format": "point", "path": "a.txt"}
  assert parse_station(ok, tmp_path).path == tmp_path / "a.txt"
  cases = [
    ({**ok, "kind": "seismic"}, "station 'A': kind 'seismic'"),
    ({**ok, "format": "csv"}, "format 'csv'"),
    ({**ok, "component": "Z"}, "a point file has one value column"),
    ({**ok, "colour": "red"}, "unknown field"),
    ({**ok, "latitude": 123.0}, "latitude 123.0 is outside"),
    ({**ok, "timezone": "Beijing"}, "expected a UTC offset"),
    ({**ok, "interval": "fortnightly"}, "interval 'fortnightly'"),
    ({**ok, "format": "four_gauge", "component": "S12"}, "four-gauge component 'S12'"),
    ({"kind": "strain"}, "needs a non-empty 'name'"),
  ]
  for entry, message in cases:
    with pytest.raises(StationError, match=message):
      parse_station(entry, tmp_path)
  assert parse_station({**ok, "longitude": 254.764}, tmp_path).longitude == pytest.approx(-105.236)
  assert parse_utc_offset("+08:00", "A") == np.timedelta64(480, "m")
  assert parse_utc_offset(-5.5, "A") == np.timedelta64(-330, "m")
  with pytest.raises(StationError, match="used more than once"):
    load_stations(None, [ok, ok])
  with pytest.raises(StationError, match="either in config.stations_file or inline"):
    load_stations(None, [])


def test_reading_converts_local_time_checks_the_interval_and_names_missing_files(tmp_path):
  times, values = synthetic_strain(days=3)
  write_point_file(tmp_path / "a.txt", times, values)
  entry = {
    "name": "A",
    "kind": "strain",
    "format": "point",
    "path": "a.txt",
    "latitude": 30.0,
    "longitude": 102.0,
    "timezone": "+08:00",
    "interval": "1h",
  }
  record = read_station(parse_station(entry, tmp_path))
  assert record.series.times[0] == times[0] - np.timedelta64(8, "h")  # stamps were Beijing time
  with pytest.raises(
    StationError,
    match=r"station 'A': .* every 3600 seconds, but the station says interval 60 seconds",
  ):
    read_station(parse_station({**entry, "interval": "1min"}, tmp_path))
  with pytest.raises(StationError, match=r"station 'A': no file or directory .*nowhere.txt"):
    read_station(parse_station({**entry, "path": "nowhere.txt"}, tmp_path))
  with pytest.raises(StationError, match="give latitude and longitude"):
    read_station(parse_station({k: v for k, v in entry.items() if k != "latitude"}, tmp_path))


# ------------------------------------------------------------------------------------------------
# Quality


def test_short_gaps_are_bridged_long_ones_are_never_history():
  values = np.arange(20, dtype=float)
  values[3:5] = np.nan  # 2 samples: short
  values[10:16] = np.nan  # 6 samples: long
  values[-1] = np.nan  # at the end
  filled, short, runs = quality.bridge(values, max_gap=3)
  assert np.all(np.isfinite(filled))
  np.testing.assert_allclose(filled[3:5], [3, 4])  # linear
  assert short[3:5].all() and not short[10:16].any() and not short[-1]
  assert runs == [(3, 5, True), (10, 16, False), (19, 20, False)]


def test_a_station_that_is_mostly_gaps_is_refused(tmp_path):
  times, values = synthetic_strain(days=20)
  values[: int(0.6 * len(values))] = np.nan
  write_point_file(tmp_path / "a.txt", times, values)
  entry = {
    "name": "Gappy",
    "kind": "strain",
    "format": "point",
    "path": "a.txt",
    "latitude": 30.0,
    "longitude": 102.0,
  }
  record = read_station(parse_station(entry, tmp_path))
  config = config_base.detect_config("fast")
  dates = (times[0], times[-1], times[len(times) // 2])
  with pytest.raises(StationError, match="station 'Gappy': only 40% .* mostly gaps"):
    quality.prepare(record, dates, np.timedelta64(0, "D"), config)


# ------------------------------------------------------------------------------------------------
# VMD stage


def test_mode_choice_by_number_and_by_band_and_the_band_report():
  config = config_base.detect_config("fast")
  periods = np.array([np.inf, 24.5, 12.3, 6.0, 2.5])
  assert decompose.selected("strain", periods, config) == [1, 2, 3, 4]
  assert decompose.selected("geomagnetic", periods, config) == [3, 4]
  config.vmd.select_by = "band"
  config.vmd.geomagnetic_band_hours = (2.0, 7.0)
  assert decompose.selected("geomagnetic", periods, config) == [3, 4]
  rows = decompose.band_report(periods, [3, 4], (24.0, 12.42))
  assert [(r["mode"], r["kept"]) for r in rows] == [(2, False), (3, False)]


def test_causal_decomposition_is_each_days_trailing_window(tmp_path):
  config = config_base.detect_config("fast")
  config.vmd.causal_window_days = 4
  config.vmd.precision = "float64"
  _, values = synthetic_strain(days=12)
  result = decompose.decompose_causal(
    values, "strain", 24, first_day_sample=6 * 24, interval_seconds=3600, config=config
  )
  assert np.isnan(result.kept[: 6 * 24]).all() and np.isfinite(result.kept[6 * 24 :]).all()
  # Day 8's kept signal is the last day of the VMD of days 5..8, nothing later.
  day = 8
  window = values[(day - 3) * 24 : (day + 1) * 24]
  with jax.enable_x64(True):
    oracle = np.asarray(
      jax.device_get(decompose.vmd_lib.vmd(window, **decompose.vmd_options(config)).modes)
    )
  np.testing.assert_allclose(
    result.kept[day * 24 : (day + 1) * 24], oracle[1:].sum(axis=0)[-24:], rtol=1e-9, atol=1e-9
  )
  # Changing the future leaves the past alone.
  changed = values.copy()
  changed[10 * 24 :] += 50.0
  again = decompose.decompose_causal(changed, "strain", 24, 6 * 24, 3600, config)
  np.testing.assert_array_equal(again.kept[: 10 * 24], result.kept[: 10 * 24])


# ------------------------------------------------------------------------------------------------
# Forecaster windows and the station stack


def test_windows_read_only_earlier_samples_from_one_decomposition():
  length, spd = 10 * 24, 24
  plan = forecasting.WindowPlan(history=30, horizon=6, stride=6)
  index = np.arange(length, dtype=np.float32)
  # A causal-like row: segment d (a 3-day window) owns day d; its values encode (segment, time).
  starts = np.arange(0, length - 3 * spd + 1, spd)
  segments = np.stack(
    [1000 * (i + 1) + np.arange(s, s + 3 * spd) for i, s in enumerate(starts)]
  ).astype(np.float32)
  of_time = np.full(length, -1)
  for i, s in enumerate(starts):
    of_time[s + 2 * spd : s + 3 * spd] = i
  rows = [forecasting.Segmented.continuous(index), forecasting.Segmented(segments, starts, of_time)]
  ones = np.ones((2, length), bool)
  data = forecasting.Standardised(
    rows, ones, ones, np.zeros((length, 4), np.float32), np.zeros(2), np.ones(2)
  )
  t0 = forecasting.day_aligned_starts(plan, 0, length, spd, plan.horizon)
  assert np.all((t0 % spd) + plan.horizon <= spd)  # no target block crosses midnight
  arrays = forecasting.windows(data, t0, plan)
  history, future = arrays["history"][..., 0], arrays["future"][..., 0]
  assert np.all(history[:, 0].max(axis=1) < t0)  # continuous row: every history sample is earlier
  np.testing.assert_array_equal(future[:, 0, 0], t0)
  weight = arrays["weight"]
  for n, start in enumerate(t0):
    segment = of_time[start]
    if weight[n, 1].any():  # the causal row: history and target from the same segment
      owner = np.floor(np.concatenate([history[n, 1], future[n, 1]]) / 1000)
      assert np.all(owner == segment + 1)
      assert np.all(history[n, 1] % 1000 < future[n, 1, 0] % 1000)
  assert weight[:, 1].any() and not weight[:, 1].all()  # some windows need a full segment


def test_training_windows_per_day_follow_the_stride_until_the_horizon_fills_the_day():
  spd = 24
  for horizon, stride, expected in [(6, 6, 4), (6, 1, 19), (12, 2, 7), (24, 1, 1), (20, 8, 2)]:
    plan = forecasting.WindowPlan(history=48, horizon=horizon, stride=stride)
    by_hand = len(set(range(0, spd - horizon + 1, stride)) | {spd - horizon})
    assert by_hand == expected
    assert forecasting.training_starts_per_day(plan, spd) == expected


def test_the_station_stack_trains_each_station_on_its_own_data():
  plan = forecasting.WindowPlan(history=24, horizon=6, stride=6)
  config = config_base.detect_config("fast")
  config.forecaster.lstm.update(hidden=8)
  model = forecasting.build_stack(config.forecaster, "lstm", plan, stations=2)
  rng = np.random.default_rng(0)
  batch = {
    "history": rng.normal(size=(4, 2, 24, 1)).astype(np.float32),
    "history_time": np.zeros((4, 24, 4), np.float32),
    "future_time": np.zeros((4, 6, 4), np.float32),
    "future": rng.normal(size=(4, 2, 6, 1)).astype(np.float32),
    "weight": np.ones((4, 2, 6), np.float32),
  }
  variables, _ = forecasting.make_init(model, batch)(jax.random.key(0))
  loss = forecasting.make_loss_fn(model)
  grad = lambda b: jax.grad(lambda p: loss(p, {}, b, jax.random.key(1), False)[0])(
    variables["params"]
  )
  other = {**batch, "future": batch["future"].copy()}
  other["future"][:, 1] += 3.0  # station 1's targets change
  first, second = grad(batch), grad(other)
  for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True):
    np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[0])  # station 0 untouched
  assert any(
    not np.array_equal(np.asarray(a)[1], np.asarray(b)[1])
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True)
  )


# ------------------------------------------------------------------------------------------------
# Statistics


def test_thresholds_are_calibrated_on_the_reference_only():
  config = config_base.detect_config("fast")
  rng = np.random.default_rng(0)
  e = np.abs(rng.normal(size=20000))
  reference = np.zeros(len(e), bool)
  reference[:10000] = True
  e[10000:] *= 10  # the judged part cannot raise its own threshold
  assert statistics.point_threshold(e, reference, config) == pytest.approx(2.5 * np.mean(e[:10000]))
  config.threshold.mode = "quantile"
  threshold = statistics.point_threshold(e, reference, config)
  assert np.mean(e[:10000] > threshold) == pytest.approx(
    config.threshold.false_alarm_rate, abs=2e-3
  )
  assert statistics.day_threshold("strain", 24, config) == pytest.approx(24 * 25 / 1440)
  assert statistics.day_threshold("geomagnetic", 1440, config) == pytest.approx(45.0)


def test_day_verdicts_scale_with_the_rate_and_label_artefact_and_storm_days():
  config = config_base.detect_config("fast")
  times = np.datetime64("2008-03-01", "s") + np.arange(10 * 24) * HOUR
  e = np.zeros(len(times))
  e[5] = e[30] = e[55] = 10.0  # one anomalous hour on days 0, 1, 2
  e[24 * 4 : 24 * 4 + 4] = np.nan  # day 4 has 20 valid hours: below 90%, unknown
  artefact_days = {np.datetime64("2008-03-02")}
  verdicts = statistics.day_verdicts(times, e, 1.0, 24, "strain", artefact_days, None, config)
  assert verdicts["anomalous"].tolist()[:3] == [True, False, True]  # day 1 is an artefact day
  assert verdicts["unknown"][1] and verdicts["unknown"][4] and verdicts["usable"].sum() == 8
  config.quality.artefacts = "correct"
  counted = statistics.day_verdicts(times, e, 1.0, 24, "strain", artefact_days, None, config)
  assert counted["anomalous"][1] and counted["artefact"][1]
  days = np.arange(np.datetime64("2008-02-25"), np.datetime64("2008-03-20"))
  storm = np.zeros(len(days), bool)
  storm[days == np.datetime64("2008-03-03")] = True
  screened = storms.with_recovery(
    storms.StormDays(
      days, storm, np.zeros_like(storm), np.full(len(days), np.nan), np.full(len(days), np.nan)
    ),
    2,
  )
  assert screened.storm[
    (days >= np.datetime64("2008-03-03")) & (days <= np.datetime64("2008-03-05"))
  ].all()
  assert screened.storm.sum() == 3
  geomagnetic = statistics.day_verdicts(times, e, 1.0, 24, "geomagnetic", set(), screened, config)
  assert geomagnetic["storm"][2:5].all() and not geomagnetic["usable"][2:5].any()


def test_the_pre_event_tests_take_dates_and_keep_clustering():
  days = np.arange(np.datetime64("2008-01-01"), np.datetime64("2008-04-10"))
  flags = np.zeros(len(days), bool)
  flags[-10:] = True  # the 10 days before the event
  usable = np.ones(len(days), bool)
  event = np.datetime64("2008-04-10T06:00")
  test = significance.circular_shift_test(days, flags, usable, event, 10)
  assert test.observed == 10 and test.window_start == np.datetime64("2008-03-31")
  # Only the zero shift puts 10 anomalous days in the window: p = 1 / D.
  assert test.p_value == pytest.approx(1 / len(days))
  block = significance.block_bootstrap_test(
    days, flags, usable, event, 10, block=5, rng=0, n_draws=499
  )
  assert block.p_value < 0.02
  with pytest.raises(ValueError, match="not inside the judged days"):
    significance.circular_shift_test(days, flags, usable, np.datetime64("2008-01-05"), 10)


def test_a_fit_whose_x0_lies_outside_its_span_is_not_a_result():
  config = config_base.detect_config("fast")
  config.fit.bootstrap = 0
  days = np.arange(np.datetime64("2008-01-01"), np.datetime64("2008-03-01"))
  anomalous = np.zeros(len(days), bool)
  anomalous[::3] = True  # a steady rate: a straight line, no knee inside the span
  verdicts = {"days": days, "anomalous": anomalous, "usable": np.ones(len(days), bool)}
  fit = statistics.fit_curve(verdicts, np.datetime64("2008-03-01T12:00"), config, 0)
  assert fit["fitted"] and not fit["usable_result"]
  rising = np.zeros(len(days), bool)
  rising[40:] = True
  fit = statistics.fit_curve(
    {**verdicts, "anomalous": rising}, np.datetime64("2008-03-01T12:00"), config, 0
  )
  assert fit["usable_result"] and fit["x0_date"] >= "2008-02-05"


def test_the_papers_table1_distances_within_2_km():
  config = cli.load_config_file(str(REPO / "configs" / "detect_lushan.py"))
  stations = json.loads((REPO / "configs" / "stations" / "lushan_2013.json").read_text())
  paper = {
    "Chengdu": 100.16,
    "Xichang": 271.37,
    "Muli": 311.73,
    "Kangding": 80.37,
    "Xiaomiao": 273.22,
  }
  for station in stations:
    distance = haversine_km(
      config.event.latitude, config.event.longitude, station["latitude"], station["longitude"]
    )
    assert abs(float(distance) - paper[station["name"]]) < 2.0, station["name"]


# ------------------------------------------------------------------------------------------------
# The pipeline end to end


def tiny_study(tmp_path, **stations_extra):
  times, values = synthetic_strain(days=110, burst_from="2008-04-05", burst_to="2008-04-19")
  write_point_file(tmp_path / "guza.txt", times, values)
  config = config_base.detect_config("fast")
  station = {
    "name": "Synth",
    "kind": "strain",
    "format": "point",
    "path": str(tmp_path / "guza.txt"),
    "latitude": 30.12,
    "longitude": 102.18,
    "interval": "1h",
  }
  config.stations = (station, *stations_extra.get("more", ()))
  config.event.time = "2008-04-19T06:00:00Z"
  config.event.latitude, config.event.longitude, config.event.magnitude = 31.0, 103.4, 6.5
  config.window.start, config.window.end = "2008-01-11", "2008-04-20"
  config.vmd.causal_window_days = 10
  config.forecaster.pyraformer.update(
    d_model=8, d_inner=8, d_k=4, d_v=4, n_layers=1, d_bottleneck=4
  )
  config.forecaster.history_hours, config.forecaster.horizon_hours = 24.0, 6.0
  config.forecaster.train_stride_hours = 6.0
  config.forecaster.num_epochs = 1
  config.forecaster.batch_size = 16
  config.forecaster.table2_baselines = ("lstm",)
  config.forecaster.lstm.update(hidden=4, n_layers=1)
  config.fit.bootstrap = 10
  config.significance.draws, config.significance.surrogate_fits = 49, 9
  config.significance.window_days = 14
  return config


@pytest.mark.slow
def test_the_pipeline_writes_a_whole_report_and_resumes(tmp_path):
  config = tiny_study(tmp_path)
  document = pipeline.train_and_evaluate(config, tmp_path / "run")
  station = document["stations"]["Synth"]
  assert set(station["modes"]) == {"whole", "causal"}
  for mode in station["modes"].values():
    assert isinstance(mode["significance"]["p_value"], float)
    assert set(mode["table2"]) == {"pyraformer", "lstm"}
    assert mode["days"]["judged"] == 60 and mode["threshold"]["calibrated_on"][0] >= "2008-01-11"
  assert station["forecaster"]["training_windows"] > config.forecaster.batch_size
  written = json.loads((tmp_path / "run" / "report.json").read_text())
  assert (
    written["schema"] == "precursor_jax.detect/1"
    and written["stations"]["Synth"]["distance_km"] > 0
  )
  for name in written["figures"]:
    assert (tmp_path / "run" / "report" / name).is_file(), name
  assert "## Table 1: stations" in (tmp_path / "run" / "report.md").read_text()
  assert set(written["timings_seconds"]) >= {
    "read_and_quality",
    "vmd_whole",
    "vmd_causal",
    "forecaster_pyraformer",
  }
  # A rerun resumes: decompositions and forecasters come from the workdir, the numbers are equal.
  again = pipeline.train_and_evaluate(config, tmp_path / "run")
  assert again["stations"]["Synth"]["modes"] == document["stations"]["Synth"]["modes"]
  assert again["timings_seconds"]["vmd_causal"] < document["timings_seconds"]["vmd_causal"]


@pytest.mark.slow
def test_station_errors_fail_or_skip_and_bad_studies_are_refused(tmp_path, capsys):
  missing = {
    "name": "Gone",
    "kind": "geomagnetic",
    "format": "iaga2002",
    "path": str(tmp_path / "nowhere.min"),
  }
  config = tiny_study(tmp_path, more=(missing,))
  with pytest.raises(StationError, match="station 'Gone': no file or directory .*nowhere.min"):
    pipeline.train_and_evaluate(config, tmp_path / "fail")
  assert not (tmp_path / "fail").exists()  # refused before anything was written
  config.on_station_error = "skip"
  config.event.magnitude = 3.0  # Dobrovolsky radius 19.5 km: the station lies outside it
  document = pipeline.train_and_evaluate(config, tmp_path / "skip")
  assert (
    document["skipped"][0]["name"] == "Gone" and "nowhere.min" in document["skipped"][0]["reason"]
  )
  assert document["stations"]["Synth"]["inside_radius"] is False
  assert "outside the Dobrovolsky radius" in capsys.readouterr().out
  late = tiny_study(tmp_path)
  late.event.time = "2008-06-01T00:00:00Z"
  with pytest.raises(pipeline.StudyError, match="outside its window"):
    pipeline.train_and_evaluate(late, tmp_path / "late")
  short = tiny_study(tmp_path)
  short.forecaster.history_hours = 24.0 * 200
  with pytest.raises(
    StationError, match="station\\(s\\) Synth: the pyraformer forecaster cannot be trained"
  ):
    pipeline.train_and_evaluate(short, tmp_path / "short")

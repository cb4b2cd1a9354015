"""Synthetic precursor records: determinism, injected days and onset, amplitude units, artefacts,
gaps, storm, the files detect reads, and the benchmark's scoring helpers."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.signal
from scipy import special

from precursor_jax.data import point_series, spaceweather
from precursor_jax.signal import artefacts as artefacts_lib
from precursor_jax.synthetic import precursors as pre
from precursor_jax.tasks.detect import stations as stations_lib

EVENT = "2021-03-20T06:00:00"
PRECURSOR = pre.Precursor(EVENT, x0_days=-10.0, dx_days=4.0, expected_days=14.0)
HOURLY = pre.RecordSpec(
  "geomagnetic", "2021-01-01", 100, 3600, seed=3, station=1, precursor=PRECURSOR
)


@pytest.fixture(scope="module")
def hourly():
  return pre.synthetic_record(HOURLY)


def test_a_record_is_a_pure_function_of_its_spec(hourly):
  again = pre.synthetic_record(HOURLY)
  np.testing.assert_array_equal(hourly.values, again.values)
  np.testing.assert_array_equal(hourly.truth.burst_days, again.truth.burst_days)
  other = pre.synthetic_record(dataclasses.replace(HOURLY, station=2))
  assert not np.allclose(np.nan_to_num(other.values), np.nan_to_num(hourly.values))
  # Another component's parameters leave the noise draws alone.
  quieter = dataclasses.replace(pre.GEOMAGNETIC, lines=(("S1", 1.0),), drift_per_day=0.0)
  changed = pre.synthetic_record(dataclasses.replace(HOURLY, background=quieter))
  np.testing.assert_array_equal(changed.components["noise"], hourly.components["noise"])
  np.testing.assert_array_equal(changed.components["bursts"], hourly.components["bursts"])


def test_components_sum_to_the_values_where_observed(hourly):
  observed = np.isfinite(hourly.values)
  total = np.sum(list(hourly.components.values()), axis=0)
  np.testing.assert_allclose(hourly.values[observed], total[observed], rtol=0, atol=1e-9)
  assert hourly.times[0] == np.datetime64("2021-01-01T00:00:00")
  assert np.all(np.diff(hourly.times) == np.timedelta64(3600, "s"))
  assert len(hourly.times) == 100 * 24


def test_burst_day_probabilities_are_the_differences_of_the_boltzmann_curve():
  d = np.arange(-60, 5)
  p = pre.burst_day_probabilities(PRECURSOR, d)
  # Oracle: the logistic distribution's CDF, written out.
  cdf = lambda x: 1.0 / (1.0 + math.exp(-(x + 10.0) / 4.0))
  for day, value in zip(d, p, strict=True):
    inside = -10.0 - 16.0 <= day < 0
    expected = 14.0 * (cdf(day) - cdf(day - 1)) if inside else 0.0
    assert value == pytest.approx(expected, abs=1e-12)
  assert p.max() == pytest.approx(14.0 / 16.0, rel=0.02)  # N / (4 dx) at x0
  with pytest.raises(ValueError, match="more than one burst day per day"):
    pre.burst_day_probabilities(dataclasses.replace(PRECURSOR, expected_days=30.0), d)


def test_burst_days_follow_the_rate_and_never_reach_the_event():
  event_day = np.datetime64(EVENT, "D")
  counts = np.zeros(40)
  records = 300
  for seed in range(records):
    spec = dataclasses.replace(HOURLY, seed=seed, days=80, background=_no_gaps())
    truth = pre.synthetic_record(spec).truth
    offsets = ((truth.burst_days - event_day) / pre.DAY).astype(int)
    assert offsets.max(initial=-1) < 0 and offsets.min(initial=-1) >= -26
    counts[offsets + 40] += 1
  p = pre.burst_day_probabilities(PRECURSOR, np.arange(-40, 0))
  # Each day's frequency within 4 binomial standard deviations of its probability.
  spread = np.sqrt(p * (1 - p) / records)
  assert np.all(np.abs(counts / records - p) <= 4 * spread + 1e-12)
  # The cumulative mean curve is the Boltzmann curve N sigmoid((d - x0) / dx) less its value
  # the day before the support starts, and it crosses N / 2 at x0 (the detect fit's convention).
  curve = np.cumsum(counts / records)
  d = np.arange(-40, 0)
  boltzmann = 14.0 * special.expit((d + 10.0) / 4.0)
  expected = np.where(d >= -26, boltzmann - 14.0 * special.expit((-27 + 10.0) / 4.0), 0.0)
  assert np.max(np.abs(curve - expected)) < 0.4
  start_level = 14.0 * special.expit(-17 / 4)
  half = np.interp(7.0 - start_level, curve, d)
  assert half == pytest.approx(PRECURSOR.x0_days, abs=0.5)


def test_onset_and_x0_dates(hourly):
  truth = hourly.truth
  assert truth.x0_date == np.datetime64("2021-03-10")
  assert truth.onset_date == np.datetime64("2021-03-02")  # x0 - 2 dx = -18 days
  assert truth.event_time == np.datetime64(EVENT)
  assert (truth.x0_days, truth.dx_days, truth.expected_days) == (-10.0, 4.0, 14.0)


def test_bursts_lie_in_their_days_and_have_the_stated_rms(hourly):
  bursts = hourly.components["bursts"]
  truth = hourly.truth
  assert len(truth.burst_days) > 3
  inside = np.zeros(len(bursts), bool)
  for burst in truth.bursts:
    assert burst.start.astype("datetime64[D]") == (burst.end - np.timedelta64(1, "s")).astype(
      "datetime64[D]"
    )
    samples = (hourly.times >= burst.start) & (hourly.times < burst.end)
    assert 6 <= samples.sum() <= 18  # hourly defaults: 6-18 h packets
    assert np.sqrt(np.mean(bursts[samples] ** 2)) == pytest.approx(truth.reference_rms, rel=1e-9)
    inside |= samples
  assert np.all(bursts[~inside] == 0)
  assert truth.reference_rms == truth.band_noise_rms  # the default unit
  burst_days = np.unique(hourly.times[inside].astype("datetime64[D]"))
  np.testing.assert_array_equal(burst_days, truth.burst_days)


def test_amplitude_scales_only_the_bursts(hourly):
  louder = pre.synthetic_record(
    dataclasses.replace(HOURLY, precursor=dataclasses.replace(PRECURSOR, amplitude=2.5))
  )
  np.testing.assert_allclose(louder.components["bursts"], 2.5 * hourly.components["bursts"])
  for name in ("lines", "drift", "noise", "storm"):
    np.testing.assert_array_equal(louder.components[name], hourly.components[name])
  assert louder.truth.reference_rms == hourly.truth.reference_rms
  assert [b.rms for b in louder.truth.bursts] == pytest.approx(
    [2.5 * b.rms for b in hourly.truth.bursts]
  )
  null = pre.synthetic_record(dataclasses.replace(HOURLY, precursor=None))
  assert not null.components["bursts"].any() and len(null.truth.burst_days) == 0
  np.testing.assert_array_equal(null.components["noise"], hourly.components["noise"])


def test_reference_rms_is_the_noise_power_inside_the_burst_band():
  """The empirical reference against the AR(1) + white spectrum through the filter's response."""
  spec = pre.RecordSpec("geomagnetic", "2021-01-01", 3000, 3600, seed=5)
  record = pre.synthetic_record(spec)
  band = pre.burst_defaults(3600)["band_hours"]
  sos = pre.band_filter(band, 3600)
  f, h = scipy.signal.sosfreqz(sos, worN=8192, fs=1.0)  # cycles per sample
  phi = math.exp(-1.0 / pre.GEOMAGNETIC.noise_hours)
  ar1 = pre.GEOMAGNETIC.noise_rms**2 * (1 - phi**2) / np.abs(1 - phi * np.exp(-2j * np.pi * f)) ** 2
  white = pre.GEOMAGNETIC.white_rms**2
  # One-sided density over [0, 0.5] cycles/sample; forwards-backwards filtering squares |H|.
  power = np.trapezoid(2 * (ar1 + white) * np.abs(h) ** 4, f)
  assert record.truth.band_noise_rms == pytest.approx(math.sqrt(power), rel=0.05)


def test_noise_is_ornstein_uhlenbeck_at_any_interval():
  for interval in (60, 3600):
    rng = np.random.default_rng(0)
    x = pre.ornstein_uhlenbeck(rng, 200_000, 2.0, 2 * 3600.0, interval)
    assert np.std(x) == pytest.approx(2.0, rel=0.05)
    lag1 = np.corrcoef(x[:-1], x[1:])[0, 1]
    assert lag1 == pytest.approx(math.exp(-interval / 7200.0), abs=0.01)


def test_strain_tides_beat_with_the_spring_neap_period():
  background = dataclasses.replace(
    pre.STRAIN,
    lines=(("M2", 20.0), ("S2", 9.3)),
    drift_per_day=0.0,
    relaxation=0.0,
    noise_rms=1e-9,
    white_rms=0.0,
    long_gap_days=(0.0, 0.0),
  )
  spec = pre.RecordSpec("strain", "2021-01-01", 120, 3600, background=background)
  tide = pre.synthetic_record(spec).components["lines"]
  envelope = np.abs(scipy.signal.hilbert(tide))[240:-240]
  assert envelope.max() == pytest.approx(29.3, rel=0.01)
  assert envelope.min() == pytest.approx(10.7, rel=0.02)
  spectrum = np.abs(np.fft.rfft(envelope - envelope.mean()))
  period_days = len(envelope) / np.argmax(spectrum) / 24
  assert period_days == pytest.approx(1 / (2 - pre.LINE_CYCLES_PER_DAY["M2"]), rel=0.06)


def _no_gaps(base=pre.GEOMAGNETIC):
  return dataclasses.replace(base, short_gaps_per_30_days=0.0, long_gap_days=(0.0, 0.0))


def test_gaps_short_and_one_long(hourly):
  truth = hourly.truth
  longs = [g for g in truth.gaps if g.long]
  assert len(longs) == 1
  hours = lambda g: (g.end - g.start) / np.timedelta64(1, "h")
  assert 36 <= hours(longs[0]) <= 72
  assert all(1 <= hours(g) <= 2 for g in truth.gaps if not g.long)
  missing = np.zeros(len(hourly.times), bool)
  for gap in truth.gaps:
    missing |= (hourly.times >= gap.start) & (hourly.times < gap.end)
  np.testing.assert_array_equal(np.isnan(hourly.values), missing)
  quiet = pre.synthetic_record(dataclasses.replace(HOURLY, background=_no_gaps()))
  assert np.isfinite(quiet.values).all() and quiet.truth.gaps == ()


def test_artefacts_sit_where_said_and_detect_s_rules_find_them():
  plan = pre.ArtefactPlan("2021-01-20", "2021-03-01", spikes=2, steps=1, stuck=1)
  spec = dataclasses.replace(HOURLY, artefacts=plan)
  record = pre.synthetic_record(spec)
  clean = pre.synthetic_record(dataclasses.replace(spec, artefacts=None))
  injected = record.truth.artefacts
  assert sorted(a.kind for a in injected) == ["spike", "spike", "step", "stuck"]
  days = {a.start.astype("datetime64[D]") for a in injected}
  assert len(days) == 4 and not days & set(record.truth.burst_days.tolist())
  scale = artefacts_lib.robust_change_scale(clean.values)
  for a in injected:
    at = (record.times >= a.start) & (record.times <= a.end)
    assert np.datetime64("2021-01-20") <= a.start < np.datetime64("2021-03-01")
    if a.kind == "spike":
      np.testing.assert_allclose(record.values[at] - clean.values[at], a.size)
      assert abs(a.size) == pytest.approx(40.0 * scale, rel=0.05)
    elif a.kind == "step":
      others = np.zeros(len(record.times), bool)
      for b in injected:
        if b is not a:
          others |= (record.times >= b.start) & (record.times <= b.end)
      later = (record.times >= a.start) & np.isfinite(clean.values) & ~others
      np.testing.assert_allclose(record.values[later] - clean.values[later], a.size, atol=1e-9)
    else:
      assert np.all(record.values[at] == a.size) and 8 <= at.sum() <= 12
  # The rules detect runs with (the default config's thresholds, stuck_samples for 6 h).
  rules = artefacts_lib.ArtefactRules(stuck_samples=6)
  found = artefacts_lib.find_artefacts(record.values, rules).events
  for a in injected:
    first = int(np.searchsorted(record.times, a.start))
    assert any(e.kind == a.kind and abs(e.start - first) <= 1 for e in found), (a, found)


def test_storm_raises_the_noise_and_writes_matching_indices(tmp_path):
  storm = pre.Storm("2021-02-10T06:00")
  spec = dataclasses.replace(HOURLY, storm=storm, precursor=None)
  record = pre.synthetic_record(spec)
  part = record.components["storm"]
  before = record.times < np.datetime64(storm.start)
  assert np.all(part[before] == 0)
  assert record.truth.storm_days[0] == np.datetime64("2021-02-10")
  assert 4 <= len(record.truth.storm_days) <= 7
  peak = (record.times >= np.datetime64("2021-02-10T18:00")) & (
    record.times < np.datetime64("2021-02-11T06:00")
  )
  wiggle = np.std(np.diff(part[peak])) / np.std(np.diff(record.components["noise"]))
  assert wiggle > 2  # the extra noise at the peak: sqrt(4^2 - 1) times the quiet one
  strain = pre.synthetic_record(dataclasses.replace(spec, kind="strain"))
  assert not strain.components["storm"].any()

  kp_times, kp, dst_times, dst = pre.space_weather(storm, "2021-01-01", 60)
  kp_file = pre.write_kp_csv(tmp_path / "kp.csv", kp_times, kp)
  dst_file = pre.write_dst_csv(tmp_path / "dst.csv", dst_times, dst)
  kp_read = spaceweather.read_kp_csv(kp_file)
  dst_read = spaceweather.read_dst_csv(dst_file)
  np.testing.assert_allclose(kp_read.column("kp"), kp, atol=1e-3)
  np.testing.assert_allclose(dst_read.column("dst"), np.round(dst))
  days = dst_read.times.astype("datetime64[D]")
  stormy = np.unique(days[dst_read.column("dst") <= -50])
  assert stormy[0] == np.datetime64("2021-02-10") and len(stormy) <= 4
  assert kp_read.column("kp").max() >= 6.5 and kp_read.column("kp")[:200].max() < 3
  for code, value in [(27, 2 + 2 / 3), (23, 2 + 1 / 3), (70, 7.0)]:
    assert spaceweather.decode_kp(code) == pytest.approx(value)


def test_point_file_and_station_entry_are_what_detect_reads(tmp_path, hourly):
  entry = pre.write_station(tmp_path, "G1", hourly, 30.5, 103.2)
  text = (tmp_path / "G1.txt").read_text().splitlines()
  assert text[0].startswith("202101010000 ")
  long_gap = next(g for g in hourly.truth.gaps if g.long)
  assert len(text) == len(hourly.times) - (long_gap.end - long_gap.start) // np.timedelta64(
    3600, "s"
  )
  station = stations_lib.parse_station(entry, tmp_path)
  record = stations_lib.read_station(station)
  assert record.series.interval == np.timedelta64(3600, "s")
  np.testing.assert_array_equal(record.series.times, hourly.times)
  np.testing.assert_allclose(record.series.values[:, 0], hourly.values, atol=5e-5)
  assert (record.latitude, record.longitude, entry["interval"]) == (30.5, 103.2, "1h")
  minutes = np.datetime64("2021-01-01T00:00") + np.arange(3) * np.timedelta64(1, "m")
  minute = pre.write_point_file(tmp_path / "m.txt", minutes, [1.0, np.nan, 2.0])
  assert minute.read_text().split("\n")[1].endswith(" 99999")
  assert pre.interval_text(60) == "1min" and pre.interval_text(600) == "10min"
  with pytest.raises(ValueError, match="fill code"):
    pre.write_point_file(tmp_path / "bad.txt", hourly.times[:1], [123456.0])
  read = point_series.read_point_file(minute)
  assert np.isnan(read.values[1, 0])


def test_minute_records_get_the_minute_burst_shape():
  spec = pre.RecordSpec(
    "strain", "2021-03-01", 19, 60, seed=2, precursor=dataclasses.replace(PRECURSOR, amplitude=1.0)
  )
  record = pre.synthetic_record(spec)
  assert len(record.times) == 19 * 1440
  for burst in record.truth.bursts:
    minutes = (burst.end - burst.start) / np.timedelta64(1, "m")
    assert 30 <= minutes <= 180
  per_day = {}
  for burst in record.truth.bursts:
    day = burst.start.astype("datetime64[D]")
    per_day[day] = per_day.get(day, 0) + 1
  assert set(per_day.values()) <= {1, 2, 3} and len(per_day) == len(record.truth.burst_days)


def test_bad_specs_are_refused_with_the_field_named():
  with pytest.raises(ValueError, match="kind 'tilt'"):
    pre.synthetic_record(dataclasses.replace(HOURLY, kind="tilt"))
  with pytest.raises(ValueError, match="interval_seconds=7000"):
    pre.synthetic_record(dataclasses.replace(HOURLY, interval_seconds=7000))
  with pytest.raises(ValueError, match="band_hours"):
    pre.band_filter((1.0, 10.0), 3600)  # 1 h is below the 2 h Nyquist period
  too_long = dataclasses.replace(PRECURSOR, duration_hours=(6.0, 30.0))
  with pytest.raises(ValueError, match="duration_hours"):
    pre.synthetic_record(dataclasses.replace(HOURLY, precursor=too_long))
  crowded = pre.ArtefactPlan("2021-01-20", "2021-01-22", spikes=5)
  with pytest.raises(ValueError, match="7 artefacts but only 2 days"):
    pre.synthetic_record(dataclasses.replace(HOURLY, artefacts=crowded))


def test_day_scores_count_each_evaluated_day_once():
  days = lambda *d: [f"2021-01-{x:02d}" for x in d]
  scores = pre.day_scores(
    predicted=days(1, 2, 3, 9), truth=days(2, 3, 4, 5, 9), evaluated=days(1, 2, 3, 4, 5, 6, 7, 8)
  )
  # Day 9 is not evaluated: neither its hit nor its truth counts.
  assert scores[:4] == (2, 1, 2, 8)
  assert scores.precision == pytest.approx(2 / 3) and scores.recall == pytest.approx(2 / 4)
  assert scores.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
  empty = pre.day_scores([], [], days(1, 2))
  assert math.isnan(empty.precision) and math.isnan(empty.recall) and math.isnan(empty.f1)
  total = pre.pooled([scores, pre.day_scores(days(1), days(1), days(1))])
  assert total[:4] == (3, 1, 2, 9) and total.f1 == pytest.approx(6 / 9)


def test_onset_errors_are_fit_minus_truth(hourly):
  errors = pre.onset_errors(-9.0, 3.0, hourly.truth)
  assert errors == {"x0_error_days": 1.0, "onset_error_days": (-9.0 - 6.0) - (-10.0 - 8.0)}
  null = pre.synthetic_record(dataclasses.replace(HOURLY, precursor=None))
  with pytest.raises(ValueError, match="no injected precursor"):
    pre.onset_errors(-9.0, 3.0, null.truth)


@pytest.mark.parametrize("n", [20, 100, 137, 400])
def test_binomial_band_is_the_central_interval(n):
  low, high = pre.binomial_band(n, 0.05, 0.95)
  # Oracle: the cumulative distribution summed from math.comb.
  pmf = [math.comb(n, k) * 0.05**k * 0.95 ** (n - k) for k in range(n + 1)]
  cdf = np.cumsum(pmf)
  k_low = int(np.argmax(cdf >= 0.025))
  k_high = int(np.argmax(cdf >= 0.975))
  assert (low, high) == (k_low / n, k_high / n)
  assert low <= 0.05 <= high


def test_calibration_of_uniform_p_values():
  rng = np.random.default_rng(1)
  result = pre.calibration(rng.uniform(size=400))
  assert result["inside"] and result["n"] == 400
  assert pre.calibration(np.full(100, 0.01))["inside"] is False
  assert pre.calibration([None, 0.5, 0.7])["n"] == 2
  with pytest.raises(ValueError, match="no p-value"):
    pre.calibration([None])


def test_logistic_helper_matches_scipy():
  x = np.linspace(-8, 8, 33)
  np.testing.assert_allclose(special.expit(x), 1 / (1 + np.exp(-x)))

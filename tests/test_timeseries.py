"""TimeSeries invariants, regular gridding, gap report, gap filling, resampling, joining."""

import numpy as np
import pytest

from precursor_jax.core import timeseries as tsm
from precursor_jax.core.errors import DataFormatError, GapTooLongError

HOUR = np.timedelta64(3600, "s")
T0 = np.datetime64("2013-03-01T00:00:00", "s")


def hourly(values, start=T0, channels=None):
  values = np.asarray(values, dtype=float)
  n = values.shape[0]
  channels = channels or tuple(f"c{i}" for i in range(1 if values.ndim == 1 else values.shape[1]))
  return tsm.TimeSeries(start + np.arange(n) * HOUR, values, channels, HOUR, {"station_code": "X"})


def test_series_shapes_mask_and_read_only():
  ts = hourly([1.0, np.nan, 3.0])
  assert ts.values.shape == (3, 1) and ts.channels == ("c0",)
  np.testing.assert_array_equal(ts.missing[:, 0], [False, True, False])
  assert ts.interval_seconds == 3600 and ts.end == T0 + 3 * HOUR
  with pytest.raises(ValueError):
    ts.values[0, 0] = 5.0  # read-only: a series cannot change under its users


def test_series_rejects_irregular_times_and_bad_channels():
  times = T0 + np.array([0, 1, 3]) * HOUR
  with pytest.raises(ValueError, match="regular"):
    tsm.TimeSeries(times, [1.0, 2.0, 3.0], ("a",), HOUR)
  with pytest.raises(ValueError, match="distinct channel"):
    tsm.TimeSeries(T0 + np.arange(2) * HOUR, np.zeros((2, 2)), ("a", "a"), HOUR)


def test_infer_interval_is_the_most_common_step():
  times = T0 + np.array([0, 1, 2, 3, 5, 6]) * HOUR
  assert tsm.infer_interval(times) == HOUR
  with pytest.raises(ValueError):
    tsm.infer_interval(times[:1])


def test_regular_grid_inserts_missing_samples_for_skipped_timestamps():
  times = T0 + np.array([0, 1, 3, 4, 7]) * HOUR
  ts = tsm.to_regular_grid(times, [10.0, 11.0, 13.0, 14.0, 17.0], channels=("v",))
  assert len(ts) == 8 and ts.interval == HOUR
  expected = [10, 11, np.nan, 13, 14, np.nan, np.nan, 17]
  np.testing.assert_array_equal(ts.column("v"), expected)
  assert tsm.gap_report(ts) == [
    tsm.Gap("v", T0 + 2 * HOUR, T0 + 2 * HOUR, 1),
    tsm.Gap("v", T0 + 5 * HOUR, T0 + 6 * HOUR, 2),
  ]


@pytest.mark.parametrize(
  "offsets,line,reason",
  [
    ([0, 1, 1, 2], 12, "duplicate timestamp"),
    ([0, 2, 1, 3], 12, "earlier than the previous"),
    ([0, 1, 2.5, 3], 12, "whole multiple"),
  ],
)
def test_regular_grid_errors_name_the_line(offsets, line, reason):
  times = T0 + (np.asarray(offsets) * 3600).astype("timedelta64[s]")
  with pytest.raises(DataFormatError, match=reason) as err:
    tsm.to_regular_grid(
      times,
      np.arange(4.0),
      channels=("v",),
      interval=HOUR,
      path="f.dat",
      line_numbers=[10, 11, 12, 13],
    )
  assert err.value.line == line and err.value.path == "f.dat"
  assert str(err.value).startswith(f"f.dat line {line}: ")


def test_gap_report_per_channel():
  values = np.array([[1, np.nan], [np.nan, np.nan], [np.nan, 3], [4, 4]], dtype=float)
  gaps = tsm.gap_report(hourly(values, channels=("a", "b")))
  assert gaps == [tsm.Gap("a", T0 + HOUR, T0 + 2 * HOUR, 2), tsm.Gap("b", T0, T0 + HOUR, 2)]


def test_fill_gaps_linear_matches_hand_values_and_records_what_it_filled():
  ts = hourly([0.0, np.nan, np.nan, 6.0, 7.0, np.nan, 9.0])
  filled = tsm.fill_gaps(ts, max_gap=2)
  np.testing.assert_allclose(filled.column("c0"), [0, 2, 4, 6, 7, 8, 9])
  assert [g.n_samples for g in filled.metadata["filled_gaps"]] == [2, 1]
  # A duration works as well as a sample count.
  np.testing.assert_allclose(
    tsm.fill_gaps(ts, max_gap=np.timedelta64(2, "h")).values, filled.values
  )


def test_fill_gaps_refuses_long_and_edge_gaps():
  ts = hourly([0.0, np.nan, np.nan, np.nan, 4.0, np.nan, 6.0])
  with pytest.raises(GapTooLongError, match=r"3 samples .* max_gap=2"):
    tsm.fill_gaps(ts, max_gap=2)
  with pytest.raises(ValueError, match="touches the end"):
    tsm.fill_gaps(hourly([np.nan, 1.0, 2.0]), max_gap=5)
  with pytest.raises(ValueError, match="only 'linear'"):
    tsm.fill_gaps(ts, max_gap=5, method="cubic")


def test_resample_daily_matches_a_loop_oracle():
  rng = np.random.default_rng(0)
  start = np.datetime64("2013-03-01T05:00:00", "s")  # starts mid-day: a partial first day
  values = rng.normal(size=(24 * 4, 2))
  values[rng.random(values.shape) < 0.1] = np.nan
  ts = hourly(values, start=start, channels=("a", "b"))
  day = np.timedelta64(1, "D")
  for how, reduce in [("mean", np.mean), ("max", np.max), ("min", np.min)]:
    out = tsm.resample(ts, day, how=how, min_valid_fraction=0.5)
    assert out.times[0] == np.datetime64("2013-03-01T00:00:00")
    assert out.interval == np.timedelta64(86400, "s")
    for i, t in enumerate(out.times):
      rows = (ts.times >= t) & (ts.times < t + day)
      for c in range(2):
        v = values[rows, c]
        v = v[~np.isnan(v)]
        expected = reduce(v) if len(v) >= 12 else np.nan
        np.testing.assert_allclose(out.values[i, c], expected)
  with pytest.raises(ValueError, match="whole multiple"):
    tsm.resample(ts, np.timedelta64(90, "m"))


def test_slice_select_and_column():
  ts = hourly(np.arange(12.0).reshape(6, 2), channels=("a", "b"))
  part = ts.slice_time(T0 + HOUR, T0 + 3 * HOUR).select("b")
  np.testing.assert_array_equal(part.column("b"), [3.0, 5.0])
  assert part.metadata["station_code"] == "X"
  with pytest.raises(KeyError, match="no channel 'z'"):
    ts.column("z")


def test_concatenate_fills_the_gap_between_files_and_refuses_overlap():
  a = hourly([1.0, 2.0]).with_values([1.0, 2.0], source_file="a.min")
  b = hourly([5.0], start=T0 + 4 * HOUR).with_values([5.0], source_file="b.min")
  joined = tsm.concatenate([b, a])
  np.testing.assert_array_equal(joined.column("c0"), [1, 2, np.nan, np.nan, 5])
  assert joined.metadata["source_files"] == ["a.min", "b.min"]
  c = hourly([9.0], start=T0 + HOUR).with_values([9.0], source_file="c.min")
  with pytest.raises(DataFormatError, match="c.min: .*overlapping a.min"):
    tsm.concatenate([a, c])


def test_merge_channels_spans_all_inputs():
  a = hourly([1.0, 2.0], channels=("a",))
  b = hourly([3.0, 4.0], start=T0 + HOUR, channels=("b",))
  merged = tsm.merge_channels([a, b])
  np.testing.assert_array_equal(merged.values, [[1, np.nan], [2, 3], [np.nan, 4]])
  shifted = hourly([3.0], start=T0 + np.timedelta64(30, "m"), channels=("b",))
  with pytest.raises(DataFormatError, match="off the common"):
    tsm.merge_channels([a, shifted])

"""ETT data: reader errors, official time features, the paper's split, window counts, scaler."""

import datetime

import numpy as np
import pytest

from precursor_jax.core.errors import DataFormatError
from precursor_jax.data import ett

SLICE = "ett/ETTh1_head720.csv"
HEADER = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT"


def write_synthetic(path, rows, step_minutes=60, start="2016-07-01 00:00:00"):
  """An ETT-format CSV with `rows` rows of smooth made-up values (not ETT data)."""
  first = datetime.datetime.fromisoformat(start)
  t = np.arange(rows)
  values = np.stack([np.sin(t / (5.0 + c)) * (c + 1) + 0.01 * c * t for c in range(7)], axis=1)
  lines = [HEADER]
  for i in range(rows):
    stamp = first + datetime.timedelta(minutes=step_minutes * i)
    lines.append(
      stamp.strftime("%Y-%m-%d %H:%M:%S") + "," + ",".join(f"{v:.6f}" for v in values[i])
    )
  path.write_text("\n".join(lines) + "\n")
  return values


def official_features(stamp: str):
  """The official features for one timestamp, from Python's datetime (independent of the module)."""
  d = datetime.datetime.fromisoformat(stamp)
  return [
    d.hour / 23 - 0.5,
    d.weekday() / 6 - 0.5,
    (d.day - 1) / 30 - 0.5,
    (d.timetuple().tm_yday - 1) / 365 - 0.5,
  ]


def test_reads_the_real_slice(test_data_dir):
  timestamps, values, columns = ett.read_ett_csv(test_data_dir / SLICE)
  assert columns == tuple(HEADER.split(",")[1:])
  assert values.shape == (720, 7) and timestamps.shape == (720,)
  assert (
    str(timestamps[0]) == "2016-07-01T00:00:00" and str(timestamps[-1]) == "2016-07-30T23:00:00"
  )
  # first data row of ETTh1.csv, as printed in the file
  np.testing.assert_allclose(
    values[0],
    [
      5.827000141143799,
      2.009000062942505,
      1.5989999771118164,
      0.4620000123977661,
      4.203000068664552,
      1.3400000333786009,
      30.5310001373291,
    ],
  )


@pytest.mark.parametrize(
  "stamp",
  [
    "2016-07-01 00:00:00",
    "2016-12-31 23:00:00",
    "2017-02-28 13:45:00",
    "2018-01-01 06:15:00",
    "2016-02-29 12:00:00",
  ],
)
def test_time_features_match_official_definition(stamp):
  features = ett.time_features(np.array([np.datetime64(stamp)]))
  np.testing.assert_allclose(features[0], official_features(stamp), atol=1e-7)
  assert features.dtype == np.float32


def test_windows_scaler_and_views_on_the_slice(test_data_dir):
  borders = (480, 600, 720)
  splits, (scaler_mean, scaler_std) = ett.make_splits(
    test_data_dir / SLICE, history=48, horizon=24, borders=borders, return_scaler=True
  )
  _, raw, _ = ett.read_ett_csv(test_data_dir / SLICE)
  mean, std = raw[:480].mean(0), raw[:480].std(0)
  table = (raw - mean) / std
  np.testing.assert_allclose(scaler_mean, mean, rtol=1e-6)
  np.testing.assert_allclose(scaler_std, std, rtol=1e-6)
  counts = {"train": 480 - 48 - 24 + 1, "val": 120 + 48 - 72 + 1, "test": 120 + 48 - 72 + 1}
  starts = {"train": 0, "val": 480 - 48, "test": 600 - 48}
  for name, split in splits.items():
    assert split["history"].shape == (counts[name], 48, 7)
    assert split["future"].shape == (counts[name], 24, 7)
    assert split["history_time"].shape == (counts[name], 48, 4)
    assert split["history"].dtype == np.float32
    assert set(split) == {"history", "history_time", "future", "future_time"}
    for i in (0, 7, counts[name] - 1):
      s = starts[name] + i
      np.testing.assert_allclose(split["history"][i], table[s : s + 48], rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(split["future"][i], table[s + 48 : s + 72], rtol=1e-5, atol=1e-6)
    # consecutive windows are views of one table, not copies
    assert np.shares_memory(split["history"], split["future"])
  # the last test window ends at the last row; the training rows have mean 0 and std 1 after scaling
  np.testing.assert_allclose(splits["test"]["future"][-1][-1], table[719], rtol=1e-5, atol=1e-6)
  assert not splits["train"]["history"].flags.writeable  # shared views must not be edited in place


def test_paper_split_counts_hourly_and_minute(tmp_path):
  hourly = tmp_path / "hourly.csv"
  write_synthetic(hourly, 14_400)
  _, values, _ = ett.read_ett_csv(hourly)
  splits, (mean, std) = ett.make_splits(hourly, history=168, horizon=168, return_scaler=True)
  assert {k: len(v["history"]) for k, v in splits.items()} == {
    "train": 8305,
    "val": 2713,
    "test": 2713,
  }
  # the scaler uses the training rows only, with population std (ddof 0)
  np.testing.assert_allclose(mean, values[:8640].mean(0), rtol=1e-5)
  np.testing.assert_allclose(std, values[:8640].std(0), rtol=1e-5)
  # val starts L rows before row 8640, test L rows before 11520
  first_test = (values[11520 - 168 : 11520] - values[:8640].mean(0)) / values[:8640].std(0)
  np.testing.assert_allclose(splits["test"]["history"][0], first_test, rtol=1e-4, atol=1e-5)
  minute = tmp_path / "minute.csv"
  write_synthetic(minute, 4 * 14_400, step_minutes=15)
  splits = ett.make_splits(minute, history=384, horizon=96)
  assert {k: len(v["history"]) for k, v in splits.items()} == {
    "train": 34_560 - 384 - 96 + 1,
    "val": 11_520 - 96 + 1,
    "test": 11_520 - 96 + 1,
  }


@pytest.mark.shared_data
def test_full_etth1_counts(shared_data_dir):
  path = shared_data_dir / "ett" / "ETTh1.csv"
  splits = ett.make_splits(path, history=168, horizon=168)
  assert len(splits["train"]["history"]) == 8305 and len(splits["test"]["history"]) == 2713
  _, raw, _ = ett.read_ett_csv(path)
  assert raw.shape == (17_420, 7)
  mean, std = raw[:8640].mean(0), raw[:8640].std(0)
  np.testing.assert_allclose(
    splits["test"]["future"][-1], (raw[14_400 - 168 : 14_400] - mean) / std, rtol=1e-5, atol=1e-5
  )


@pytest.mark.parametrize(
  "edit,message",
  [
    (lambda lines: ["date,A,B"] + lines[1:], "line 1: expected the header"),
    (lambda lines: lines[:3] + [lines[3].rsplit(",", 1)[0]] + lines[4:], "line 4: expected 8"),
    (
      lambda lines: lines[:5] + ["2016-07-01 04:00:00,,1,1,1,1,1,1"] + lines[6:],
      "line 6: missing value in column 'HUFL'",
    ),
    (
      lambda lines: lines[:2] + ["2016-07-01 01:00:00,1,2,3,x,5,6,7"] + lines[3:],
      "line 3: expected numbers",
    ),
    (lambda lines: lines[:2] + ["yesterday,1,2,3,4,5,6,7"] + lines[3:], "line 3: expected a date"),
    (lambda lines: lines[:4] + lines[5:], "constant step"),
    (lambda lines: lines[:1], "no data rows"),
  ],
)
def test_bad_files_are_clear_errors(tmp_path, edit, message):
  good = tmp_path / "good.csv"
  write_synthetic(good, 10)
  bad = tmp_path / "bad.csv"
  bad.write_text("\n".join(edit(good.read_text().splitlines())) + "\n")
  with pytest.raises(DataFormatError, match=message) as error:
    ett.read_ett_csv(bad)
  assert "bad.csv" in str(error.value)


def test_missing_file_and_bad_split_arguments(tmp_path, test_data_dir):
  with pytest.raises(FileNotFoundError, match="nowhere.csv"):
    ett.make_splits(tmp_path / "nowhere.csv", 168, 168)
  with pytest.raises(DataFormatError, match="needs 14400 rows but the file has 720"):
    ett.make_splits(test_data_dir / SLICE, 168, 168)
  with pytest.raises(ValueError, match="too short"):
    ett.make_splits(test_data_dir / SLICE, 96, 200, borders=(480, 600, 720))
  with pytest.raises(ValueError, match="increasing"):
    ett.make_splits(test_data_dir / SLICE, 24, 24, borders=(600, 480, 720))

"""The tfds ses_synthetic builder: configs, a tiny build read back without TensorFlow, loading."""

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest

import data_builders.ses_synthetic as ses_synthetic
from data_builders.ses_synthetic import ses_synthetic as builder_lib
from precursor_jax.core import constants
from precursor_jax.data import geoelectric
from precursor_jax.signal import filters
from precursor_jax.synthetic import geoelectric as background_model
from precursor_jax.synthetic import ses

N = constants.GEOELECTRIC_DAY_SAMPLES


def tiny_config(name="tiny_test", **fields):
  fields = {"num_days": 4, "repeats": 5, **fields}
  return builder_lib.make_config(name, **fields)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  config = tiny_config()
  splits = {
    split: ses_synthetic.load_ses_split(config, split, str(data_dir)) for split in ("train", "test")
  }
  return config, data_dir, splits


def test_paper_configs_are_all_there():
  configs = builder_lib.SesSynthetic.builder_configs
  for station in ("hkb", "mts", "ota"):
    for name, days in ((station, 709), (f"{station}_small", 200)):
      recipe = configs[name].recipe
      assert (recipe.station, recipe.num_days, recipe.repeats) == (station, days, 30)
      assert recipe.amplitude_mv_km == (10.0, 15.0) and recipe.duration_min == (25.0, 30.0)
      assert recipe.split_names == ("train", "test") and recipe.test_fraction == 0.1
  small_ses = configs["small_ses"].recipe
  assert small_ses.amplitude_mv_km == (6.0, 8.0) and small_ses.duration_min == (10.0, 15.0)
  for amp in (6, 8, 10, 12, 15, 20, 25, 30):
    recipe = configs[f"amp_{amp:02d}"].recipe
    assert recipe.amplitude_mv_km == (amp, amp) and recipe.duration_min == (25.0, 25.0)
    assert recipe.repeats == 1 and recipe.split_names == ("test",) and recipe.station == "hkb"
  for minutes in range(10, 55, 5):
    recipe = configs[f"dur_{minutes:02d}_small"].recipe
    assert recipe.duration_min == (minutes, minutes) and recipe.amplitude_mv_km == (15.0, 15.0)
  # Every set draws its own SESs; sets on the same station share the background days, except the
  # transfer set, which stands for another year of days.
  seeds = [c.recipe.ses_seed for c in configs.values()]
  assert len(set(seeds)) == len(seeds)
  transfer = {name for name in configs if name.startswith("hkb_2001")}
  assert len({c.recipe.seed for name, c in configs.items() if name not in transfer}) == 1
  assert {configs[name].recipe.seed for name in transfer} == {2001}
  assert configs["hkb_2001"].recipe.num_days == builder_lib.TRANSFER_DAYS


def test_features_shapes_dtypes_and_counts(tiny_build):
  config, data_dir, splits = tiny_build
  builder = builder_lib.SesSynthetic(config=config, data_dir=str(data_dir))
  assert builder.info.splits["train"].num_examples == 18
  assert builder.info.splits["test"].num_examples == 2
  assert builder.info.metadata["recipe"]["amplitude_mv_km"] == [10.0, 15.0]
  example = builder.as_data_source(split="test")[0]
  assert example["input"].shape == (N,) and example["input"].dtype == np.float32
  assert example["target"].shape == (N,) and example["target"].dtype == np.float32
  assert set(example) == set(ses.FEATURE_DTYPES)
  train = splits["train"]
  for name, dtype in ses.FEATURE_DTYPES.items():
    assert train[name].dtype == dtype and len(train[name]) == 18
  assert "tensorflow" not in sys.modules


def test_no_ses_draw_in_both_splits_and_the_loader_sorts(tiny_build):
  _, _, splits = tiny_build
  keys = {
    split: set(zip(a["day_id"].tolist(), a["repeat"].tolist(), strict=True))
    for split, a in splits.items()
  }
  assert not keys["train"] & keys["test"]
  assert keys["train"] | keys["test"] == {(d, r) for d in range(4) for r in range(5)}
  train = splits["train"]
  codes = train["day_id"] * 5 + train["repeat"]
  assert np.all(np.diff(codes) > 0)


def test_build_matches_in_memory_examples_and_metadata(tiny_build):
  config, _, splits = tiny_build
  for split, arrays in splits.items():
    direct = ses.examples_in_memory(config.recipe, split)
    for name in ses.FEATURE_DTYPES:
      np.testing.assert_array_equal(arrays[name], direct[name])
  # The SES sits exactly where the metadata says: target - clean(background) is the rectangle.
  test = splits["test"]
  for row in range(len(test["input"])):
    observed = background_model.synthetic_day("hkb", int(test["day_id"][row]))
    residual = test["target"][row] - filters.clean_day(observed)
    start = int(test["ses_start"][row])
    stop = start + int(test["ses_duration"][row])
    expected = np.zeros(N)
    expected[start:stop] = test["ses_amplitude"][row]
    np.testing.assert_allclose(residual, expected, atol=1e-4)  # float32 storage of ~100 mV/km


def test_two_builds_are_identical(tiny_build, tmp_path):
  config, _, splits = tiny_build
  again = ses_synthetic.load_ses_split(config, "train", str(tmp_path))
  for name in ses.FEATURE_DTYPES:
    np.testing.assert_array_equal(again[name], splits["train"][name])


def test_loader_without_build_raises(tmp_path):
  with pytest.raises(FileNotFoundError, match="data_builders.ses_synthetic.build"):
    ses_synthetic.load_ses_split(
      tiny_config("never_built"), "train", str(tmp_path), build_if_missing=False
    )


def test_sweep_config_builds_a_single_test_split(tmp_path):
  config = dataclasses.replace(
    builder_lib.SesSynthetic.builder_configs["amp_06_small"],
    name="amp_06_tiny",
    recipe=dataclasses.replace(
      builder_lib.SesSynthetic.builder_configs["amp_06_small"].recipe, num_days=3
    ),
  )
  arrays = ses_synthetic.load_ses_split(config, "test", str(tmp_path))
  np.testing.assert_array_equal(arrays["day_id"], [0, 1, 2])
  np.testing.assert_array_equal(np.abs(arrays["ses_amplitude"]), 6.0)
  np.testing.assert_array_equal(arrays["ses_duration"], 150)
  with pytest.raises(KeyError, match="has splits"):
    ses_synthetic.load_ses_split(config, "train", str(tmp_path))


def test_user_background_directory_build(tmp_path):
  days_dir = tmp_path / "days"
  days_dir.mkdir()
  for d in range(3):
    day = background_model.synthetic_day("mts", d)
    geoelectric.write_day_file(days_dir / f"1999010{d + 1}.txt", day)
  gap = background_model.synthetic_day("mts", 5)
  gap[4000] = np.nan
  geoelectric.write_day_file(days_dir / "19990104.txt", gap)
  base = tiny_config("tiny_real", repeats=2, test_fraction=0.5)
  arrays = ses_synthetic.load_ses_split(
    base, "test", str(tmp_path / "tfds"), background_dir=str(days_dir)
  )
  config = builder_lib.with_background_dir(base, str(days_dir))
  builder = builder_lib.SesSynthetic(config=config, data_dir=str(tmp_path / "tfds"))
  assert builder.info.metadata["background_days"] == ["1999-01-01", "1999-01-02", "1999-01-03"]
  assert builder.info.metadata["rejected_days"][0][0] == "19990104.txt"
  assert len(arrays["input"]) == 3 and set(arrays["day_id"].tolist()) <= {0, 1, 2}
  row = 0
  day = geoelectric.read_day_file(days_dir / f"1999010{int(arrays['day_id'][row]) + 1}.txt")
  start, duration = int(arrays["ses_start"][row]), int(arrays["ses_duration"][row])
  residual = arrays["input"][row] - day
  np.testing.assert_allclose(
    residual[start : start + duration], arrays["ses_amplitude"][row], atol=1e-4
  )
  assert np.abs(np.delete(residual, np.arange(start, start + duration))).max() < 1e-4


def test_split_larger_than_the_tfds_memory_buffer_builds_without_tensorflow(tmp_path, monkeypatch):
  """tfds spills a split over MAX_MEM_BUFFER_SIZE (1 GB; the paper-scale train split is 1.3 GB)
  to disk through tf.io.gfile; shrunk here to 10 kB so that the tiny build would spill."""
  if importlib.util.find_spec("tensorflow") is not None:
    pytest.skip("with TensorFlow installed tfds spills to disk as usual")
  from tensorflow_datasets.core import shuffle as tfds_shuffle

  monkeypatch.setattr(tfds_shuffle, "MAX_MEM_BUFFER_SIZE", 10_000)
  arrays = ses_synthetic.load_ses_split(tiny_config("tiny_spill"), "train", str(tmp_path))
  assert len(arrays["input"]) == 18
  assert tfds_shuffle.MAX_MEM_BUFFER_SIZE == 10_000  # restored after the build

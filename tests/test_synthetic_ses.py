"""SES draws, waveforms, splits and examples (no tfds here)."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from precursor_jax.core import constants
from precursor_jax.data import geoelectric
from precursor_jax.signal import filters
from precursor_jax.synthetic import geoelectric as background_model
from precursor_jax.synthetic import ses

N = constants.GEOELECTRIC_DAY_SAMPLES
TINY = ses.SesRecipe(num_days=4, repeats=5, ses_seed=11)


def test_draws_cover_the_documented_ranges():
  recipe = ses.SesRecipe()
  draws = [ses.draw_ses(np.random.default_rng([3, i]), recipe) for i in range(4000)]
  durations = np.array([d.duration for d in draws])
  amplitudes = np.array([d.amplitude for d in draws])
  starts = np.array([d.start for d in draws])
  assert durations.min() == 150 and durations.max() == 180  # 25 and 30 min, both ends drawn
  assert np.all((np.abs(amplitudes) >= 10) & (np.abs(amplitudes) <= 15))
  assert 0.45 < np.mean(amplitudes > 0) < 0.55  # random polarity
  assert starts.min() >= 0 and np.all(starts + durations <= N)
  assert starts.min() < 30 and (starts + durations).max() > N - 30  # the whole day is used
  positive = dataclasses.replace(recipe, polarity="positive")
  assert all(ses.draw_ses(np.random.default_rng(i), positive).amplitude > 0 for i in range(200))


def test_fixed_amplitude_and_duration_sets_are_exact():
  recipe = ses.SesRecipe(amplitude_mv_km=(6.0, 6.0), duration_min=(25.0, 25.0))
  for i in range(50):
    draw = ses.draw_ses(np.random.default_rng(i), recipe)
    assert draw.duration == 150 and abs(draw.amplitude) == 6.0


def test_rectangle_waveform():
  wave = ses.ses_waveform(ses.SesDraw(start=1000, duration=150, amplitude=-12.5))
  assert wave.shape == (N,)
  np.testing.assert_array_equal(np.flatnonzero(wave), np.arange(1000, 1150))
  np.testing.assert_array_equal(wave[1000:1150], -12.5)
  with pytest.raises(ValueError, match="does not fit"):
    ses.ses_waveform(ses.SesDraw(start=N - 10, duration=11, amplitude=1.0))


def test_rounded_edges_ramp_inside_the_duration():
  wave = ses.ses_waveform(ses.SesDraw(start=10, duration=20, amplitude=8.0), rise_samples=3)
  np.testing.assert_allclose(wave[10:14], [2.0, 4.0, 6.0, 8.0])
  np.testing.assert_allclose(wave[26:30], [8.0, 6.0, 4.0, 2.0])
  np.testing.assert_array_equal(wave[14:26], 8.0)
  assert wave[9] == 0 and wave[30] == 0


def test_cut_anomaly_removes_a_linear_baseline():
  t = np.arange(N, dtype=float)
  anomaly = np.zeros(N)
  anomaly[588:750] = 9.0  # 01:38 for 27 min
  day = 100.0 + 0.01 * t + anomaly
  np.testing.assert_allclose(ses.cut_anomaly(day, 588, 750), 9.0, atol=1e-9)
  noisy = day + np.random.default_rng(0).normal(0.0, 0.2, N)
  np.testing.assert_allclose(ses.cut_anomaly(noisy, 588, 750, margin=30).mean(), 9.0, atol=0.1)
  with pytest.raises(ValueError, match="margin"):
    ses.cut_anomaly(day, 2, 50)


def test_split_assignment_is_a_partition_without_shared_draws():
  recipe = ses.SesRecipe(num_days=20, repeats=30, ses_seed=5)
  splits = ses.split_assignment(recipe, 20)
  train = {tuple(p) for p in splits["train"]}
  test = {tuple(p) for p in splits["test"]}
  assert not train & test
  assert train | test == {(d, r) for d in range(20) for r in range(30)}
  assert len(test) == 60  # 10 % of 600
  assert len({d for d, _ in test}) > 10  # the paper's shuffle: test days also appear in train
  again = ses.split_assignment(recipe, 20)
  np.testing.assert_array_equal(again["test"], splits["test"])
  by_day = ses.split_assignment(dataclasses.replace(recipe, split_by="day"), 20)
  train_days = set(by_day["train"][:, 0])
  test_days = set(by_day["test"][:, 0])
  assert not train_days & test_days and len(test_days) == 2


def test_examples_put_the_ses_where_the_metadata_says():
  recipe = TINY
  for split in ("train", "test"):
    for key, ex in ses.iter_examples(recipe, split):
      observed = background_model.synthetic_day("hkb", int(ex["day_id"]), recipe.seed)
      cleaned = filters.clean_day(observed, recipe.cleaning)
      expected = np.zeros(N)
      start, duration = int(ex["ses_start"]), int(ex["ses_duration"])
      expected[start : start + duration] = ex["ses_amplitude"]
      tolerance = 2e-5 * np.abs(observed).max()  # float32 storage
      np.testing.assert_allclose(ex["target"] - cleaned, expected, atol=tolerance)
      np.testing.assert_allclose(ex["input"] - observed, expected, atol=tolerance)
      assert key == ses.example_key(int(ex["day_id"]), int(ex["repeat"]))
      assert ex["input"].dtype == np.float32 and ex["ses_start"].dtype == np.int32


def test_an_example_is_a_function_of_its_key_alone():
  everything = dict(ses.iter_examples(TINY, "train"))
  key = ses.example_key(2, 3)
  split = "train" if key in everything else "test"
  ex = dict(ses.iter_examples(TINY, split))[key]
  observed = background_model.synthetic_day("hkb", 2, TINY.seed)
  draw = ses.draw_ses(np.random.default_rng([TINY.ses_seed, 2, 3]), TINY)
  alone = ses.make_example(observed, filters.clean_day(observed), draw, 2, 3)
  for name in ses.FEATURE_DTYPES:
    np.testing.assert_array_equal(ex[name], alone[name])


def test_in_memory_split_shapes_and_counts():
  arrays = ses.examples_in_memory(TINY, "test")
  assert arrays["input"].shape == (2, N) and arrays["target"].dtype == np.float32
  assert arrays["ses_amplitude"].dtype == np.float32 and arrays["day_id"].dtype == np.int32
  train = ses.examples_in_memory(TINY, "train")
  assert len(train["input"]) == 18


def test_test_only_recipe_has_one_split_with_every_day_once():
  recipe = ses.SesRecipe(num_days=5, repeats=1, test_fraction=1.0, amplitude_mv_km=(20.0, 20.0))
  assert recipe.split_names == ("test",)
  arrays = ses.examples_in_memory(recipe, "test")
  np.testing.assert_array_equal(arrays["day_id"], np.arange(5))
  np.testing.assert_array_equal(np.abs(arrays["ses_amplitude"]), 20.0)
  with pytest.raises(KeyError, match="no split 'train'"):
    next(ses.iter_examples(recipe, "train"))


def test_user_background_directory(tmp_path):
  for d in range(3):
    day = background_model.synthetic_day("ota", d)
    geoelectric.write_day_file(tmp_path / f"2001010{d + 1}.txt", day)
  bad = background_model.synthetic_day("ota", 7)
  bad[10:20] = np.nan
  geoelectric.write_day_file(tmp_path / "20010104.txt", bad)
  recipe = ses.SesRecipe(background_dir=str(tmp_path), num_days=None, repeats=2, test_fraction=0.5)
  source = ses.backgrounds(recipe)
  assert source.num_days == 3 and source.names == ("2001-01-01", "2001-01-02", "2001-01-03")
  assert source.rejected[0][0] == "20010104.txt"
  arrays = ses.examples_in_memory(recipe, "train")
  day = geoelectric.read_day_file(tmp_path / "20010102.txt")
  row = int(np.flatnonzero(arrays["day_id"] == 1)[0])
  expected = ses.ses_waveform(
    ses.SesDraw(
      int(arrays["ses_start"][row]),
      int(arrays["ses_duration"][row]),
      float(arrays["ses_amplitude"][row]),
    )
  )
  np.testing.assert_allclose(arrays["input"][row] - day, expected, atol=1e-4)
  capped = dataclasses.replace(recipe, num_days=2)
  assert ses.backgrounds(capped).num_days == 2


@pytest.mark.parametrize(
  "fields,match",
  [
    (dict(amplitude_mv_km=(15.0, 10.0)), "amplitude_mv_km"),
    (dict(duration_min=(0.0, 5.0)), "duration_min"),
    (dict(polarity="negative"), "polarity"),
    (dict(split_by="station"), "split_by"),
    (dict(test_fraction=0.0), "test_fraction"),
    (dict(repeats=0), "repeats"),
    (dict(num_days=None), "num_days"),
    (dict(rise_samples=100), "rise_samples"),
    (dict(station="abc"), "known stations"),
  ],
)
def test_recipe_validation(fields, match):
  with pytest.raises((ValueError, KeyError), match=match):
    ses.SesRecipe(**fields)


def test_stable_seed_does_not_depend_on_the_process():
  code = "from precursor_jax.synthetic import ses as s; print(s.stable_seed('hkb'))"
  root = pathlib.Path(__file__).resolve().parents[1]
  seeds = {
    subprocess.run(
      [sys.executable, "-c", code],
      capture_output=True,
      text=True,
      check=True,
      cwd=root,
      env={**os.environ, "PYTHONHASHSEED": str(h)},
    ).stdout.strip()
    for h in (1, 2)
  }
  assert seeds == {str(ses.stable_seed("hkb"))}

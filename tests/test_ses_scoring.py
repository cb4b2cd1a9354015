"""SES interval extraction and the paper's success / near-success / failure rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from precursor_jax.anomaly import ses
from precursor_jax.synthetic.ses import cut_anomaly


def days_with_rectangles(count=64, seed=0, noise=1.0, durations=(150, 181), amplitudes=(10, 15)):
  """Smooth diurnal backgrounds with one rectangle each (random sign, anywhere in the day)."""
  rng = np.random.default_rng(seed)
  t = np.arange(8640)
  days = 300 + 20 * np.sin(2 * np.pi * t / 8640 + rng.uniform(0, 2 * np.pi, (count, 1)))
  days = days + rng.normal(0, noise, days.shape)
  duration = rng.integers(*durations, count)
  start = rng.integers(0, 8640 - duration)
  amplitude = rng.uniform(*amplitudes, count) * rng.choice([-1, 1], count)
  for row, s, d, a in zip(days, start, duration, amplitude, strict=True):
    row[s : s + d] += a
  return days.astype(np.float32), start, duration, amplitude


def test_extraction_finds_rectangles_anywhere_in_the_day():
  days, start, duration, amplitude = days_with_rectangles()
  interval = jax.jit(ses.extract_ses_interval)(jnp.asarray(days))
  assert np.max(np.abs(np.asarray(interval.start) - start)) <= 3
  assert np.max(np.abs(np.asarray(interval.end) - (start + duration))) <= 3
  np.testing.assert_allclose(np.asarray(interval.amplitude), amplitude, atol=3.0)


def test_extraction_at_the_very_ends_of_the_day():
  days = np.full((2, 8640), 50.0, np.float32)
  days[0, :300] += 12.0  # a 50-minute SES starting at midnight
  days[1, -300:] -= 12.0  # and one ending at midnight
  interval = ses.extract_ses_interval(jnp.asarray(days))
  np.testing.assert_array_equal(interval.start, [0, 8340])
  np.testing.assert_array_equal(interval.end, [300, 8640])


def test_extraction_rejects_a_day_length_that_does_not_fit_the_blocks():
  with pytest.raises(ValueError, match="not a multiple of block"):
    ses.extract_ses_interval(jnp.zeros((1, 1000)), block=30)


def test_scoring_follows_the_paper_rule():
  duration = np.array([150] * 5)
  true_start = np.array([1000] * 5)
  # start/end errors: (0, 0) success; (74, 74) success; (75, 0) near (75 is not < 75); (149, 10) near;
  # (150, 0) failure.
  pred_start = true_start + np.array([0, 74, 75, -149, 150])
  pred_end = true_start + duration + np.array([0, -74, 0, 10, 0])
  categories = ses.score_detections(pred_start, pred_end, true_start, duration)
  np.testing.assert_array_equal(
    categories, [ses.SUCCESS, ses.SUCCESS, ses.NEAR_SUCCESS, ses.NEAR_SUCCESS, ses.FAILURE]
  )
  rates = ses.category_rates(categories)
  assert rates == {"success": 0.4, "near_success": 0.4, "failure": 0.2, "count": 5}


def test_scoring_is_the_same_in_jax():
  args = [
    np.array([10, 200, 900]),
    np.array([160, 300, 1000]),
    np.array([0, 180, 100]),
    np.array([150, 150, 150]),
  ]
  np.testing.assert_array_equal(
    ses.score_detections(*map(jnp.asarray, args)), ses.score_detections(*args)
  )


def test_embedding_a_cut_anomaly_adds_its_departure():
  rng = np.random.default_rng(0)
  source = np.linspace(10, 20, 8640) + rng.normal(0, 0.01, 8640)
  source[1000:1160] += 15.0
  anomaly = cut_anomaly(source, 1000, 1160, margin=30)
  assert anomaly.size == 160 and abs(np.median(anomaly) - 15.0) < 0.05
  days = np.zeros((3, 8640))
  hours = np.array([4, 13, 18]) * 360
  embedded = ses.embed_anomaly(days, anomaly, hours)
  for row, start in zip(embedded, hours, strict=True):
    np.testing.assert_allclose(row[start : start + 160], anomaly)
    assert np.all(row[:start] == 0) and np.all(row[start + 160 :] == 0)
  with pytest.raises(ValueError, match="does not fit"):
    ses.embed_anomaly(days, anomaly, np.array([8500, 0, 0]))


def test_fastica_finds_an_ses_mixed_into_several_dipoles():
  """Three dipoles = mixtures of a rectangle, a bursty 'train' source and a smooth field."""
  rng = np.random.default_rng(1)
  count, n = 8, 8640
  t = np.arange(n)
  starts = rng.integers(500, 8000, count)
  days = []
  for start in starts:
    rectangle = np.zeros(n)
    rectangle[start : start + 160] = 1.0
    bursts = np.where(rng.random(n) < 0.02, rng.normal(0, 3, n), 0.0)
    bursts = np.convolve(bursts, np.ones(20), mode="same")
    smooth = np.sin(2 * np.pi * t / n * 3 + rng.uniform(0, 6))
    mixing = rng.normal(size=(3, 3))
    days.append(mixing @ np.stack([rectangle, bursts, smooth]) + rng.normal(0, 0.01, (3, n)))
  found = jax.jit(jax.vmap(ses.detect_with_fastica))(
    jnp.asarray(np.array(days), jnp.float32), jax.random.split(jax.random.key(0), count)
  )
  categories = ses.score_detections(
    np.asarray(found.start), np.asarray(found.end), starts, np.full(count, 160)
  )
  assert np.mean(categories == ses.SUCCESS) >= 7 / 8

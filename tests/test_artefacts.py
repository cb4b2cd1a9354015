"""Instrument artefacts: spikes, steps and stuck runs found where they are, nothing on clean data."""

import numpy as np
import pytest

from precursor_jax.signal import artefacts


def record(n=3000, seed=0):
  """Hourly strain-like data: a large daily and semi-diurnal tide, drift, AR(1) noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(n)
  noise = np.zeros(n)
  for i in range(1, n):
    noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 0.5)
  return 30 * np.sin(2 * np.pi * t / 24) + 12 * np.sin(2 * np.pi * t / 12.42) + 0.02 * t + noise


def test_clean_records_have_no_artefacts():
  for seed in range(5):
    report = artefacts.find_artefacts(record(seed=seed))
    assert report.events == [] and not report.removed.any()


def test_spikes_steps_and_stuck_runs_are_found_with_their_sizes():
  x = record()
  scale = artefacts.robust_change_scale(x)
  x[400] += 40 * scale
  x[900:902] -= 60 * scale
  x[1500:] += 100 * scale
  x[2200:2210] = x[2200]
  report = artefacts.find_artefacts(x)
  kinds = [(e.kind, e.start, e.end) for e in report.events]
  assert kinds == [
    ("spike", 400, 400),
    ("spike", 900, 901),
    ("step", 1500, 1500),
    ("stuck", 2200, 2209),
  ]
  sizes = {e.kind + str(e.start): e.size for e in report.events}
  assert sizes["spike400"] == pytest.approx(40 * scale, rel=0.15)
  assert sizes["spike900"] == pytest.approx(-60 * scale, rel=0.15)
  assert sizes["step1500"] == pytest.approx(100 * scale, rel=0.1)
  assert report.removed.sum() == 1 + 2 + 1 + 10


def test_repair_levels_steps_and_removes_the_artefact_samples():
  clean = record()
  x = clean.copy()
  scale = artefacts.robust_change_scale(x)
  x[1500:] += 100 * scale
  x[700] -= 50 * scale
  repaired = artefacts.repair(x, artefacts.find_artefacts(x))
  assert np.isnan(repaired[700]) and np.isnan(repaired[1500])
  ok = np.isfinite(repaired)
  # After levelling, the record is the clean one up to the small error of the offset estimate.
  assert np.max(np.abs(repaired[ok] - clean[ok])) < 5 * scale


def test_missing_samples_are_not_artefacts():
  x = record()
  x[1000:1030] = np.nan
  report = artefacts.find_artefacts(x)
  assert report.events == [] and not report.removed[1000:1030].any()


def test_rules_are_in_units_of_the_records_own_change():
  x = record()
  scale = artefacts.robust_change_scale(x)
  x[600] += 8 * scale  # below spike_factor 12
  assert artefacts.find_artefacts(x).events == []
  sensitive = artefacts.ArtefactRules(spike_factor=6.0)
  assert [e.start for e in artefacts.find_artefacts(x, sensitive).events] == [600]
  # The same record in other units gives the same verdicts.
  assert [e.start for e in artefacts.find_artefacts(1e4 * x, sensitive).events] == [600]

"""Window declustering and target selection on hand-made sequences along the equator."""

import math

import numpy as np
import pytest

from precursor_jax.anomaly import declustering as dc
from precursor_jax.data.catalogs import Catalog

KM_PER_DEGREE = 6371.0 * math.pi / 180  # along the equator a degree of longitude is this long
DAY_MS = 86_400_000
T0 = np.datetime64("2010-01-01T00:00:00", "ms")


def catalog(rows, types=None):
  """Events (day offset from 2010-01-01, km east of (0, 0) on the equator, depth, magnitude)."""
  days, east, depth, magnitude = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
  n = len(rows)
  return Catalog(
    time=T0 + np.round(days * DAY_MS).astype(np.int64).astype("timedelta64[ms]"),
    latitude=np.zeros(n),
    longitude=east / KM_PER_DEGREE,
    depth_km=depth,
    magnitude=magnitude,
    magnitude_type=np.full(n, "M"),
    place=np.full(n, ""),
    event_id=np.array([str(i) for i in range(n)]),
    event_type=np.array(types if types is not None else ["earthquake"] * n),
    source="hand-made",
  )


def test_window_formulas_by_hand():
  distance, time = dc.gardner_knopoff_window([5.0, 7.0])
  # L(5) = 10^(0.619 + 0.983) = 10^1.602 = 39.99 km; T(5) = 10^(2.7045 - 0.547) = 143.7 days;
  # T(7) = 10^(0.224 + 2.7389) = 10^2.9629 = 918.1 days (the M >= 6.5 branch).
  np.testing.assert_allclose(distance[0], 39.99, rtol=1e-3)
  np.testing.assert_allclose(time, [143.7, 918.1], rtol=1e-3)
  # At M 6.5 the upper branch applies: 10^2.9469 = 885.1 days (the lower one would give 930.6).
  assert dc.gardner_knopoff_window(6.5)[1] == pytest.approx(885.1, rel=1e-3)
  # Uhrhammer M 5: exp(2.996) = 20.01 km, exp(3.305) = 27.25 days.
  np.testing.assert_allclose(dc.uhrhammer_window(5.0), (20.01, 27.25), rtol=1e-3)


def test_mainshock_and_aftershocks_inside_and_outside_its_windows():
  # M 6 windows: L = 10^1.7258 = 53.2 km, T = 10^2.6984 = 499 days.
  cat = catalog(
    [
      (0, 0, 10, 6.0),  # 0 the mainshock
      (-5, 10, 10, 4.5),  # 1 foreshock, 5 days before, 10 km away
      (10, 20, 10, 4.0),  # 2 aftershock
      (10, 80, 10, 4.0),  # 3 too far (80 > 53.2 km)
      (600, 10, 10, 4.0),  # 4 too late (600 > 499 days)
      (498, 50, 10, 5.0),  # 5 inside both, near the edges
    ]
  )
  found = dc.decluster(cat)
  np.testing.assert_array_equal(found.mainshock, [True, False, False, True, True, False])
  np.testing.assert_array_equal(found.cluster, [0, 0, 0, 1, 2, 0])  # numbered in time order
  np.testing.assert_array_equal(found.mainshock_index, [0, 0, 0, 3, 4, 0])
  # Without a foreshock window the M 4.5 five days earlier is independent (and first in time).
  found = dc.decluster(cat, foreshock_fraction=0.0)
  np.testing.assert_array_equal(found.mainshock, [True, True, False, True, True, False])
  np.testing.assert_array_equal(found.cluster, [1, 0, 1, 2, 3, 1])


def test_two_independent_mainshocks_keep_their_own_aftershocks():
  cat = catalog(
    [
      (0, 0, 10, 6.5),
      (1, 5, 10, 4.0),  # near the first
      (3, 1112, 10, 6.0),  # 1112 km east: outside the first's 61 km
      (4, 1117, 10, 4.0),  # near the second
    ]
  )
  found = dc.decluster(cat)
  np.testing.assert_array_equal(found.mainshock, [True, False, True, False])
  np.testing.assert_array_equal(found.cluster, [0, 0, 1, 1])


def test_equal_magnitudes_the_earlier_event_is_the_mainshock_in_any_row_order():
  found = dc.decluster(catalog([(0, 0, 10, 5.0), (1, 5, 10, 5.0)]))
  np.testing.assert_array_equal(found.mainshock, [True, False])
  found = dc.decluster(catalog([(1, 5, 10, 5.0), (0, 0, 10, 5.0)]))  # rows not in time order
  np.testing.assert_array_equal(found.mainshock, [False, True])
  np.testing.assert_array_equal(found.mainshock_index, [1, 1])


def test_largest_event_first_and_no_chaining_through_a_dependent():
  # B (M 6.5) claims A (30 km, 30 days before: a foreshock). C is inside A's window (35 km,
  # 40 days; L(5) = 40 km) but 65 km from B, outside L(6.5) = 61.3 km: since A is a dependent,
  # its window recruits nothing and C stays a mainshock.
  cat = catalog([(0, 0, 10, 5.0), (30, 30, 10, 6.5), (40, -35, 10, 4.0)])
  np.testing.assert_array_equal(dc.decluster(cat).mainshock, [False, True, True])
  # Uhrhammer's M 6.5 window is 66.8 km and 173.7 days: C joins B.
  np.testing.assert_array_equal(dc.decluster(cat, "uhrhammer").mainshock, [False, True, False])


def test_unknown_magnitude_can_be_a_dependent_but_recruits_nothing():
  cat = catalog([(0, 0, 10, 6.0), (2, 5, 10, np.nan), (900, 5, 10, np.nan), (901, 6, 10, np.nan)])
  found = dc.decluster(cat)
  # Event 1 is in the M 6 window; events 2 and 3 (1 km, 1 day apart) have no windows: both alone.
  np.testing.assert_array_equal(found.mainshock, [True, False, True, True])
  np.testing.assert_array_equal(found.cluster, [0, 0, 1, 2])
  bad = catalog([(0, 0, 10, 6.0)])
  bad = Catalog(**{**bad.__dict__, "latitude": np.array([np.nan])})
  with pytest.raises(ValueError, match="event 0 .* has latitude nan"):
    dc.decluster(bad)
  with pytest.raises(ValueError, match="unknown declustering window 'reasenberg'"):
    dc.decluster(cat, "reasenberg")


def target_catalog():
  # Stations at 0 km and 2224 km (20 degrees) east. Dobrovolsky radii: M 5.0 141.3 km,
  # M 5.2 172.2 km, M 5.5 231.7 km, M 6.5 623.7 km.
  rows = [
    (9, 100, 10, 5.0),  # 0 in range of station 0
    (31, 200, 10, 5.0),  # 1 200 > 141.3 km: out of range
    (59, 250, 30, 6.5),  # 2 in range of station 0
    (63, 220, 10, 5.5),  # 3 aftershock of 2 (30 km, 4 days), in range of station 0
    (90, 2174, 700, 5.2),  # 4 deep, 50 km from station 1
    (120, 50, 0, 5.0),  # 5 an explosion
    (-31, 50, 10, 5.0),  # 6 before the start
    (151, 5, 10, 4.0),  # 7 below the magnitude cut
  ]
  types = ["earthquake"] * 8
  types[5] = "Nuclear Explosion"
  return catalog(rows, types)


def select(cat, **kwargs):
  args = dict(min_magnitude=4.5, start="2010-01-01", end="2011-01-01")
  return dc.select_targets(cat, [0.0, 0.0], [0.0, 20.0], **{**args, **kwargs})


def test_select_targets_applies_every_cut():
  cat = target_catalog()
  targets = select(cat)
  np.testing.assert_array_equal(targets.index, [0, 2, 3, 4])
  np.testing.assert_array_equal(
    targets.in_range, [[True, False], [True, False], [True, False], [False, True]]
  )
  east = np.array([100, 250, 220, 2174])
  station_east = 20 * KM_PER_DEGREE  # 2223.9 km
  np.testing.assert_allclose(
    targets.distance_km, np.stack([east, station_east - east], axis=1), rtol=1e-9
  )
  np.testing.assert_allclose(targets.radius_km, 10 ** (0.43 * np.array([5.0, 6.5, 5.5, 5.2])))
  assert targets.n_dependent == 0 and len(targets.events) == 4
  # Declustered: the M 5.5 aftershock of the M 6.5 goes, and is counted.
  targets = select(cat, declustering="gardner_knopoff")
  np.testing.assert_array_equal(targets.index, [0, 2, 4])
  assert targets.n_dependent == 1
  np.testing.assert_array_equal(select(cat, max_depth_km=70).index, [0, 2, 3])
  np.testing.assert_array_equal(select(cat, min_depth_km=20).index, [2, 4])
  # A fixed 150 km: events 0 (100 km) and 4 (50 km) only.
  fixed = select(cat, max_distance_km=150.0)
  np.testing.assert_array_equal(fixed.index, [0, 4])
  np.testing.assert_array_equal(fixed.radius_km, [150.0, 150.0])
  # Explosions are kept only when asked; one station as scalars.
  with_blasts = dc.select_targets(cat, 0.0, 0.0, min_magnitude=4.5, earthquakes_only=False)
  np.testing.assert_array_equal(with_blasts.index, [0, 2, 3, 5, 6])  # in the catalogue's order
  assert with_blasts.distance_km.shape == (5, 1)


def test_declustering_sees_mainshocks_outside_the_selection():
  # An M 7 (L = 70.7 km) on 2009-12-30, 150 km from the station, and an M 5 on 2010-01-05 50 km
  # from it and 100 km from the station: the cut at 2010-01-01 removes the mainshock, not its
  # aftershock's dependence.
  cat = catalog([(-2, 150, 10, 7.0), (4, 100, 10, 5.0)])
  kept = dc.select_targets(cat, 0.0, 0.0, min_magnitude=4.5, start="2010-01-01")
  np.testing.assert_array_equal(kept.index, [1])
  gone = dc.select_targets(
    cat, 0.0, 0.0, min_magnitude=4.5, start="2010-01-01", declustering="gardner_knopoff"
  )
  assert len(gone.index) == 0 and gone.n_dependent == 1


def test_select_targets_refuses_bad_arguments():
  cat = target_catalog()
  with pytest.raises(ValueError, match="station coordinates"):
    dc.select_targets(cat, [95.0], [0.0], min_magnitude=5)
  with pytest.raises(ValueError, match="one or more stations"):
    dc.select_targets(cat, [0.0, 1.0], [0.0], min_magnitude=5)
  with pytest.raises(ValueError, match="max_distance_km must be positive"):
    dc.select_targets(cat, 0.0, 0.0, min_magnitude=5, max_distance_km=-1)
  with pytest.raises(ValueError, match="min_magnitude"):
    dc.select_targets(cat, 0.0, 0.0, min_magnitude=np.nan)

"""Which earthquakes count as targets: window declustering and the target-event selection.

An alarm-based evaluation (anomaly/molchan.py) scores how many target earthquakes fall under
alarm. Aftershocks must not count as separate successes: one alarm before a mainshock would
otherwise "predict" its whole sequence. Declustering here is the window method of Gardner and
Knopoff (1974), host-side NumPy on a `precursor_jax.data.catalogs.Catalog`.

Windows, distance L(M) in km and time T(M) in days, for an event of magnitude M:

  gardner_knopoff  L = 10^(0.1238 M + 0.983)
                   T = 10^(0.032 M + 2.7389)   for M >= 6.5
                       10^(0.5409 M - 0.547)   for M <  6.5
  uhrhammer        L = exp(-1.024 + 0.804 M),  T = exp(-2.87 + 1.235 M)

The Gardner-Knopoff forms are the usual fits to the windows that Gardner and Knopoff (1974, BSSA
64, 1363-1367) tabulated for M 2.5-8 from southern California sequences, as given by van Stiphout,
Zhuang and Marsan (2012, "Seismicity declustering", CORSSA, doi:10.5078/corssa-52382934, Table 1);
the fitted T has a step of -5 % at M 6.5 where the two branches meet. The Uhrhammer (1986, EOS 67,
1251) windows are shorter and narrower (M 5: 20 km and 27 days against 40 km and 144 days).

The window method (`decluster`), as those authors describe it:
- Events are taken largest magnitude first; equal magnitudes: the earlier event first, so in a
  pair of equal events the first one is the mainshock.
- An event not yet in a cluster opens a cluster as its mainshock. Every other event not yet in a
  cluster whose epicentre is within L(M) km (great circle, depth ignored) and whose time is within
  [t - foreshock_fraction * T(M), t + T(M)] (both ends included) joins it as a dependent.
  foreshock_fraction = 1 (the default) treats smaller foreshocks like aftershocks, 0 keeps them.
- Only the mainshock's window counts: a dependent's own window recruits nothing (no chaining, unlike
  Reasenberg's linking), and an event already in a cluster never joins or opens another. So an
  event outside the largest shock's window stays a mainshock even when it lies inside the window
  of a smaller event of that sequence.
- An event of unknown magnitude (NaN, as ComCat leaves some) can be a dependent but has no window
  of its own: left alone it is a cluster of one (no magnitude cut ever selects it).

`select_targets` chooses the target earthquakes for a set of stations: earthquakes only (by
default), declustered (optionally) on the WHOLE catalogue passed in, before any other cut, so that
an aftershock of a mainshock that the cuts remove (smaller region, before `start`) is still known
as an aftershock; then magnitude >= min_magnitude, start <= time < end, depth range (inclusive;
the CENC list writes depth 0 where it was not determined, and an unknown (NaN) depth fails any
depth cut) and epicentral distance to at least one
station within the event's Dobrovolsky radius D = 10^(0.43 M) km (core/geodesy.py) or within a
fixed max_distance_km. Pass a catalogue that reaches below the target magnitude and beyond the
target region, so that the declustering sees the sequences whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from precursor_jax.core.geodesy import dobrovolsky_radius_km, haversine_km
from precursor_jax.data.catalogs import Catalog

DAY_MS = 86_400_000.0
GK_BREAK_MAGNITUDE = 6.5  # Gardner-Knopoff time window: the fit changes branch here


def gardner_knopoff_window(magnitude) -> tuple[np.ndarray, np.ndarray]:
  """(distance_km, time_days) of the Gardner-Knopoff (1974) windows, fitted forms; any shape."""
  m = np.asarray(magnitude, dtype=np.float64)
  distance = 10.0 ** (0.1238 * m + 0.983)
  time = np.where(
    m >= GK_BREAK_MAGNITUDE, 10.0 ** (0.032 * m + 2.7389), 10.0 ** (0.5409 * m - 0.547)
  )
  return distance, time


def uhrhammer_window(magnitude) -> tuple[np.ndarray, np.ndarray]:
  """(distance_km, time_days) of the Uhrhammer (1986) windows; any shape."""
  m = np.asarray(magnitude, dtype=np.float64)
  return np.exp(-1.024 + 0.804 * m), np.exp(-2.87 + 1.235 * m)


WINDOWS: dict[str, Callable] = {
  "gardner_knopoff": gardner_knopoff_window,
  "uhrhammer": uhrhammer_window,
}


class Declustered(NamedTuple):
  """Result of `decluster`, (N,) arrays in the catalogue's order."""

  mainshock: np.ndarray  # bool: the event opened its cluster (isolated events are mainshocks)
  cluster: np.ndarray  # int: cluster id, 0 .. C-1 numbered by the mainshocks' time order

  @property
  def mainshock_index(self) -> np.ndarray:
    """(N,) int: catalogue index of each event's mainshock (its own index for a mainshock)."""
    order = np.argsort(self.cluster[self.mainshock], kind="stable")
    return np.flatnonzero(self.mainshock)[order][self.cluster]


class Targets(NamedTuple):
  """Selected target events (E of them) for S stations."""

  events: Catalog  # the selected events, in the catalogue's order
  index: np.ndarray  # (E,) int: their positions in the catalogue passed in
  distance_km: np.ndarray  # (E, S) epicentral great-circle distance to every station
  radius_km: np.ndarray  # (E,) the distance limit each event was held to
  in_range: np.ndarray  # (E, S) bool: distance <= limit (every selected event has one or more)
  n_dependent: int  # events that passed every other cut but were removed as dependents


def _window_function(window: str | Callable) -> Callable:
  if callable(window):
    return window
  if window not in WINDOWS:
    raise ValueError(f"unknown declustering window {window!r}; expected one of {sorted(WINDOWS)}")
  return WINDOWS[window]


def _check_finite(catalog: Catalog, names) -> None:
  for name in names:
    values = np.asarray(getattr(catalog, name), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
      raise ValueError(
        f"{catalog.source or 'catalog'}: event {bad[0]} (of {len(bad)} such) has {name} "
        f"{values[bad[0]]}; expected a finite number"
      )


def _elapsed_days(time) -> np.ndarray:
  time = np.asarray(time, dtype="datetime64[ms]")
  if np.any(np.isnat(time)):
    raise ValueError(f"event {np.flatnonzero(np.isnat(time))[0]} has no time (NaT)")
  if len(time) == 0:
    return np.zeros(0)
  return (time - time.min()).astype(np.int64) / DAY_MS


def decluster(
  catalog: Catalog, window: str | Callable = "gardner_knopoff", *, foreshock_fraction: float = 1.0
) -> Declustered:
  """Window declustering, largest event first (see the module doc for the exact rules).

  window: "gardner_knopoff", "uhrhammer" or a function magnitude -> (distance_km, time_days).
  foreshock_fraction: the window reaches foreshock_fraction * T(M) days before the mainshock.
  """
  if not 0.0 <= foreshock_fraction:
    raise ValueError(f"foreshock_fraction must be >= 0, got {foreshock_fraction}")
  window_of = _window_function(window)
  _check_finite(catalog, ("latitude", "longitude"))
  days = _elapsed_days(catalog.time)
  magnitude = np.asarray(catalog.magnitude, dtype=np.float64)
  lat = np.asarray(catalog.latitude, dtype=np.float64)
  lon = np.asarray(catalog.longitude, dtype=np.float64)
  n = len(magnitude)
  reach_km, reach_days = (np.broadcast_to(a, (n,)) for a in window_of(magnitude))
  by_time = np.argsort(days, kind="stable")
  sorted_days = days[by_time]
  owner = np.full(n, -1)
  for i in np.lexsort((days, -magnitude)):  # largest first; ties: earlier first; NaN last
    if owner[i] >= 0:
      continue
    owner[i] = i
    if not np.isfinite(magnitude[i]):
      continue
    lo = np.searchsorted(sorted_days, days[i] - foreshock_fraction * reach_days[i], side="left")
    hi = np.searchsorted(sorted_days, days[i] + reach_days[i], side="right")
    near = by_time[lo:hi]
    near = near[owner[near] < 0]
    near = near[haversine_km(lat[i], lon[i], lat[near], lon[near]) <= reach_km[i]]
    owner[near] = i
  mainshock = owner == np.arange(n)
  heads = np.flatnonzero(mainshock)
  heads = heads[np.argsort(days[heads], kind="stable")]
  cluster_of_head = np.empty(n, dtype=np.int64)
  cluster_of_head[heads] = np.arange(len(heads))
  return Declustered(mainshock, cluster_of_head[owner])


def _station_arrays(latitude, longitude) -> tuple[np.ndarray, np.ndarray]:
  lat = np.atleast_1d(np.asarray(latitude, dtype=np.float64))
  lon = np.atleast_1d(np.asarray(longitude, dtype=np.float64))
  if lat.ndim != 1 or lat.shape != lon.shape or len(lat) == 0:
    raise ValueError(
      f"need one or more stations as (S,) latitudes and longitudes, got {lat.shape}, {lon.shape}"
    )
  if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon)) and np.all(np.abs(lat) <= 90)):
    raise ValueError(f"station coordinates must be finite, |latitude| <= 90; got {lat}, {lon}")
  return lat, lon


def select_targets(
  catalog: Catalog,
  station_latitude,
  station_longitude,
  *,
  min_magnitude: float,
  max_distance_km: float | None = None,
  min_depth_km: float | None = None,
  max_depth_km: float | None = None,
  start=None,
  end=None,
  declustering: str | Callable | None = None,
  foreshock_fraction: float = 1.0,
  earthquakes_only: bool = True,
) -> Targets:
  """Target earthquakes for one or more stations (the rules and their order: module doc).

  Distance limit: each event's Dobrovolsky radius 10^(0.43 M) km, or max_distance_km when given.
  declustering: None (every event counts), "gardner_knopoff", "uhrhammer" or a window function.
  earthquakes_only: drop events whose event_type is not "earthquake" (explosions, quarry blasts).
  start, end: start <= time < end (anything np.datetime64 accepts); None leaves a side open.
  """
  if not np.isfinite(min_magnitude):
    raise ValueError(f"min_magnitude must be a finite number, got {min_magnitude}")
  if max_distance_km is not None and not max_distance_km > 0:
    raise ValueError(f"max_distance_km must be positive, got {max_distance_km}")
  st_lat, st_lon = _station_arrays(station_latitude, station_longitude)
  keep = np.ones(len(catalog), dtype=bool)
  if earthquakes_only:
    keep &= np.char.lower(np.asarray(catalog.event_type, dtype=str)) == "earthquake"
  independent = keep.copy()
  if declustering is not None:
    found = decluster(catalog.select(keep), declustering, foreshock_fraction=foreshock_fraction)
    independent[np.flatnonzero(keep)] = found.mainshock
  _check_finite(catalog.select(keep), ("latitude", "longitude"))
  magnitude = np.asarray(catalog.magnitude, dtype=np.float64)
  keep &= magnitude >= min_magnitude
  time = np.asarray(catalog.time, dtype="datetime64[ms]")
  if start is not None:
    keep &= time >= np.datetime64(start, "ms")
  if end is not None:
    keep &= time < np.datetime64(end, "ms")
  depth = np.asarray(catalog.depth_km, dtype=np.float64)
  if min_depth_km is not None:
    keep &= depth >= min_depth_km
  if max_depth_km is not None:
    keep &= depth <= max_depth_km
  distance = haversine_km(
    np.asarray(catalog.latitude, dtype=np.float64)[:, None],
    np.asarray(catalog.longitude, dtype=np.float64)[:, None],
    st_lat[None, :],
    st_lon[None, :],
  )
  if max_distance_km is None:
    radius = dobrovolsky_radius_km(magnitude)
  else:
    radius = np.full(len(catalog), float(max_distance_km))
  in_range = distance <= radius[:, None]
  keep &= in_range.any(axis=1)
  chosen = np.flatnonzero(keep & independent)
  return Targets(
    events=catalog.select(chosen),
    index=chosen,
    distance_km=distance[chosen],
    radius_km=radius[chosen],
    in_range=in_range[chosen],
    n_dependent=int(np.sum(keep & ~independent)),
  )

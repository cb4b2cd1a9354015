"""Event-station geometry: Dobrovolsky preparation-zone radius and great-circle distances.

Dobrovolsky et al. (1979): the strain of an earthquake of magnitude M is expected to be felt within
D = 10**(0.43 M) km of the epicentre (M 7.0 -> 10**3.01 = 1023.3 km). Distances are haversine
distances on a sphere of radius 6371 km (the mean Earth radius); everything broadcasts, pure NumPy.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0


def dobrovolsky_radius_km(magnitude) -> np.ndarray:
  """Preparation-zone radius D = 10**(0.43 M) km; any shape."""
  return 10.0 ** (0.43 * np.asarray(magnitude, dtype=np.float64))


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
  """Great-circle distance in km between points given in degrees; the inputs broadcast."""
  phi1, lam1, phi2, lam2 = (
    np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2)
  )
  h = (
    np.sin((phi2 - phi1) / 2.0) ** 2
    + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2
  )
  return 2.0 * radius_km * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def in_preparation_zone(event_lat, event_lon, magnitude, station_lat, station_lon) -> np.ndarray:
  """True where a station lies within the Dobrovolsky radius of an event.

  Shapes: events (E,) against stations (S,) give (E, S); scalars for one event give (S,).
  """
  event_lat, event_lon, magnitude = (
    np.asarray(a, dtype=np.float64) for a in (event_lat, event_lon, magnitude)
  )
  station_lat, station_lon = (np.asarray(a, dtype=np.float64) for a in (station_lat, station_lon))
  event_axes = (...,) + (None,) * station_lat.ndim
  distance = haversine_km(event_lat[event_axes], event_lon[event_axes], station_lat, station_lon)
  return distance <= dobrovolsky_radius_km(magnitude)[event_axes]

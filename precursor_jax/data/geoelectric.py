"""Geoelectric field days at 0.1 Hz: a synthetic background model and readers for real records.

A "day" everywhere in this module is one (8640,) float64 array: 24 h of one dipole's electric field
in mV/km (= uV/m), sampled every 10 s, sample 0 at 00:00 local time. Background days come from one
of two places, and the SES dataset builder takes either:

1. The synthetic model (`synthetic_day`), the sum of six documented components (each has its own
   function below, `synthetic_day_components` returns them separately). Typical sizes at HKB:
   - magnetotelluric induction: a geomagnetic variation field B (Sq: a 15-45 nT dip of the
     northward field around local noon and a 5-15 nT east-west swing; red-noise ULF activity,
     100 nT^2/Hz at 1 mHz falling as f^-2; storms on ~4 % of days: a 10-40 nT sudden commencement,
     a 50-250 nT main phase, 5-30x the ULF power) turned into E by a 1-D layered earth,
     E(f) = Z(f) B(f) / mu0 (HKB: 1000 ohm m crust 20 km, 100 ohm m to 170 km, 10 ohm m below;
     apparent resistivity 20-400 ohm m over 1e-5..0.05 Hz): ~1 mV/km on quiet days, tens of
     mV/km in storm sudden commencements;
   - tides: M2, S2, K1, O1 lines of 0.25-0.6 mV/km (ocean-tide induction, earth tides), running on
     from day to day;
   - electrode drift: a linear trend of N(0, 3) mV/km per day plus a random walk (1.5 mV/km/day);
   - a per-day DC offset (electrode self-potential): HKB +120 +- 15, MTS -90 +- 10, OTA +60 +- 8
     mV/km. The paper's RMSPE of 3.3 % divides by the labels, so they must sit far from zero;
   - white instrument noise, 0.05 mV/km;
   - train leakage current: trains every 15 min each way (jittered, some cancelled) from 06:00 to
     about 23:40, each passage 1 + Poisson(2) bursts of 0.5-3 min with log-normal amplitudes
     (median 10 mV/km) alternating in sign and 20-s exponential edges, plus DC stray-current
     steps; zero before 06:00 and after the last train. Strong at HKB (its dipoles cross the
     railway), moderate at MTS (median 4 mV/km, every 20 min), weak at OTA (1.5 mV/km, every 30
     min), as the paper describes (sec. II-A).
   The station parameters in `STATIONS` are illustrative, chosen to look like the records the SES
   paper describes (Fig. 2); they are not fitted to the RIKEN data, which are not public.
   Every random draw comes from a numpy Generator seeded by (seed, component, station, day), so a
   day is a pure function of its key. The geomagnetic field of a day is common to all stations.

2. A directory of the user's own records, one file per local day (`read_day_file`):
   `YYYYMMDD.txt`, 8640 lines, one value per line in mV/km, sample i at 00:00 + 10 i s local time;
   lines starting with "#" are comments; "nan", an empty value or a sentinel (99999, 999999) marks a
   missing sample. A day with any missing sample is rejected with a message that names the file and
   the gap; it is never patched. `days_from_timeseries` cuts any 10-s `TimeSeries` into such days.

Plus a reader for EarthDataLogger ASCII magnetotelluric files (10 Hz, 5-minute files named
`STATION_YYMMDDhhmmss.EX`), the format of the real MT test records, with anti-alias decimation to
0.1 Hz (`read_edl_timeseries`).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import scipy.signal

from precursor_jax.data import timeseries as ts_lib
from precursor_jax.data.errors import DataFormatError

SAMPLE_INTERVAL_S = 10
SAMPLES_PER_DAY = 86_400 // SAMPLE_INTERVAL_S  # 8640
SECONDS_PER_DAY = 86_400
MU0 = 4e-7 * math.pi  # vacuum permeability, H/m
# E [mV/km] = Z [ohm] * B [nT] * 1e-9 / mu0 [A/m] -> V/m, * 1e6 -> mV/km.
_NT_OHM_TO_MV_KM = 1e-3 / MU0
# Tidal constituents: angular speeds in cycles per day.
TIDE_CYCLES_PER_DAY = {"M2": 1.9322736, "S2": 2.0, "K1": 1.0027379, "O1": 0.9295357}


# ---------------------------------------------------------------------------------------------
# The synthetic model: parameters.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GeomagneticModel:
  """Horizontal geomagnetic variation at a mid-latitude (~36 N) site, in nT; common to stations.

  Attributes:
    sq_h_range_nt: range of the daily Sq depression of the northward component near local noon
      (mid-latitude Sq(H) is tens of nT, largest in summer).
    sq_d_range_nt: range of the eastward Sq swing (east in the morning, west in the afternoon).
    sq_noon_h, sq_width_h: local time and Gaussian width of the Sq current system's passage.
    ulf_psd_at_1mhz: power spectral density of the ULF/red-noise field at 1 mHz, nT^2/Hz.
    ulf_spectral_index: S(f) ~ f**-index (2 for quiet days, from about 20 uHz to 0.05 Hz).
    ulf_activity_log_sigma: day-to-day spread of the ULF power (log-normal).
    storm_probability: chance that a day holds a magnetic storm.
    storm_ssc_range_nt: sudden-commencement jump of the northward field.
    storm_main_phase_range_nt: main-phase decrease of the northward field (a Dst-like dip).
    storm_ulf_gain_range: factor on the ULF power after the sudden commencement.
  """

  sq_h_range_nt: tuple[float, float] = (15.0, 45.0)
  sq_d_range_nt: tuple[float, float] = (5.0, 15.0)
  sq_noon_h: float = 11.5
  sq_width_h: float = 3.0
  ulf_psd_at_1mhz: float = 100.0
  ulf_spectral_index: float = 2.0
  ulf_activity_log_sigma: float = 0.5
  storm_probability: float = 0.04
  storm_ssc_range_nt: tuple[float, float] = (10.0, 40.0)
  storm_main_phase_range_nt: tuple[float, float] = (50.0, 250.0)
  storm_ulf_gain_range: tuple[float, float] = (5.0, 30.0)


@dataclasses.dataclass(frozen=True)
class TrainNoise:
  """Leakage current of a DC electric railway near the dipoles.

  Trains leave in each direction every `headway_min` (with a random daily phase, a normal jitter
  and `cancel_probability` of cancellation) between `first_train_h` and `last_train_h` local time.
  A passage draws current in 1 + Poisson(`pulses_per_train` - 1) bursts, one after the other with
  pauses of up to `max_pause_min`; each burst is a rectangle of `pulse_min_range` minutes with
  exponential edges (`edge_time_constant_s`), a log-normal amplitude (`amplitude_median_mv_km`,
  `amplitude_log_sigma`) and `current_fluctuation` of white multiplicative flicker, and the bursts
  of a passage alternate in sign (the field reverses as the train moves past the dipole and the
  substation; the first sign is random). On top, the DC stray current changes level every few
  minutes (`stray_dwell_min`) by N(0, `stray_step_mv_km`) during service hours. Nothing at night.
  """

  first_train_h: float = 6.0
  last_train_h: float = 23.6
  headway_min: float = 15.0
  jitter_min: float = 2.0
  cancel_probability: float = 0.1
  max_pause_min: float = 2.0
  pulses_per_train: float = 3.0
  pulse_min_range: tuple[float, float] = (0.5, 3.0)
  amplitude_median_mv_km: float = 10.0
  amplitude_log_sigma: float = 0.6
  edge_time_constant_s: float = 20.0
  current_fluctuation: float = 0.2
  stray_step_mv_km: float = 1.5
  stray_dwell_min: float = 6.0


@dataclasses.dataclass(frozen=True)
class StationModel:
  """One station's dipole: earth model, orientation, electrode behaviour and railway noise.

  Attributes:
    name: station code ("hkb").
    code: a small integer that seeds the station's own random draws.
    resistivities_ohm_m, thicknesses_m: 1-D layered earth, top down; the last layer is a half-space
      (so there is one thickness fewer than resistivities).
    dipole_azimuth_deg: dipole direction, degrees east of north.
    dc_offset_mv_km, dc_offset_spread_mv_km: electrode self-potential, mean and day-to-day spread.
    tide_mv_km: amplitudes of the M2, S2, K1, O1 lines.
    drift_rate_mv_km_day: spread of the daily linear electrode drift.
    drift_walk_mv_km: spread of the random-walk part of the drift at the end of a day.
    white_noise_mv_km: instrument noise per sample.
    train: the railway noise.
  """

  name: str
  code: int
  resistivities_ohm_m: tuple[float, ...]
  thicknesses_m: tuple[float, ...]
  dipole_azimuth_deg: float
  dc_offset_mv_km: float
  dc_offset_spread_mv_km: float
  tide_mv_km: tuple[float, float, float, float]
  drift_rate_mv_km_day: float
  drift_walk_mv_km: float
  white_noise_mv_km: float
  train: TrainNoise

  def __post_init__(self):
    if len(self.thicknesses_m) != len(self.resistivities_ohm_m) - 1:
      raise ValueError(
        f"station {self.name}: need one thickness fewer than resistivities, got "
        f"{len(self.thicknesses_m)} and {len(self.resistivities_ohm_m)}"
      )


STATIONS: Mapping[str, StationModel] = {
  # Hakuba: long dipoles across the JR Oito line; resistive crust over a conductive mantle.
  "hkb": StationModel(
    name="hkb",
    code=1,
    resistivities_ohm_m=(1000.0, 100.0, 10.0),
    thicknesses_m=(20_000.0, 150_000.0),
    dipole_azimuth_deg=30.0,
    dc_offset_mv_km=120.0,
    dc_offset_spread_mv_km=15.0,
    tide_mv_km=(0.6, 0.3, 0.35, 0.25),
    drift_rate_mv_km_day=3.0,
    drift_walk_mv_km=1.5,
    white_noise_mv_km=0.05,
    train=TrainNoise(),
  ),
  # Matsushiro: railway farther from the dipoles; moderate train noise.
  "mts": StationModel(
    name="mts",
    code=2,
    resistivities_ohm_m=(300.0, 50.0, 10.0),
    thicknesses_m=(20_000.0, 150_000.0),
    dipole_azimuth_deg=120.0,
    dc_offset_mv_km=-90.0,
    dc_offset_spread_mv_km=10.0,
    tide_mv_km=(0.5, 0.25, 0.3, 0.2),
    drift_rate_mv_km_day=2.0,
    drift_walk_mv_km=1.0,
    white_noise_mv_km=0.05,
    train=TrainNoise(headway_min=20.0, amplitude_median_mv_km=4.0, stray_step_mv_km=0.6),
  ),
  # Outaki: far from the railway and the epicentre, conductive ground: everything smaller.
  "ota": StationModel(
    name="ota",
    code=3,
    resistivities_ohm_m=(100.0, 20.0, 5.0),
    thicknesses_m=(10_000.0, 100_000.0),
    dipole_azimuth_deg=60.0,
    dc_offset_mv_km=60.0,
    dc_offset_spread_mv_km=8.0,
    tide_mv_km=(0.3, 0.15, 0.2, 0.15),
    drift_rate_mv_km_day=1.5,
    drift_walk_mv_km=0.7,
    white_noise_mv_km=0.03,
    train=TrainNoise(headway_min=30.0, amplitude_median_mv_km=1.5, stray_step_mv_km=0.2),
  ),
}

# Seeds of the components, so that changing one component's parameters leaves the others' draws.
_GEOMAG, _TIDE_PHASE, _DRIFT, _OFFSET, _WHITE, _TRAIN = range(6)


def station_model(name: str) -> StationModel:
  """The model of a named station ("hkb", "mts", "ota")."""
  try:
    return STATIONS[name]
  except KeyError:
    raise KeyError(f"unknown station {name!r}; known stations are {sorted(STATIONS)}") from None


# ---------------------------------------------------------------------------------------------
# The synthetic model: physics.
# ---------------------------------------------------------------------------------------------


def layered_impedance(
  freqs_hz: np.ndarray, resistivities_ohm_m: Sequence[float], thicknesses_m: Sequence[float]
) -> np.ndarray:
  """Surface impedance Z = E/H (ohm) of a 1-D layered earth; (F,) -> (F,) complex.

  Wait's recursion from the bottom half-space up, for the exp(+i omega t) convention of numpy's
  FFT: Z_half = sqrt(i omega mu0 rho) (E leads H by 45 degrees on a half-space), Z(0) = 0.
  """
  freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
  omega = 2 * np.pi * freqs_hz
  iwm = 1j * omega * MU0
  z = np.sqrt(iwm * resistivities_ohm_m[-1])
  for rho, h in zip(resistivities_ohm_m[-2::-1], thicknesses_m[::-1], strict=True):
    intrinsic = np.sqrt(iwm * rho)  # the layer's own (half-space) impedance
    t = np.tanh(np.sqrt(iwm / rho) * h)
    z = intrinsic * (z + intrinsic * t) / (intrinsic + z * t + (omega == 0))
  return np.where(omega == 0, 0.0, z)


def apparent_resistivity(freqs_hz: np.ndarray, impedance: np.ndarray) -> np.ndarray:
  """rho_a = |Z|^2 / (omega mu0) in ohm m; (F,) -> (F,), NaN at f = 0."""
  omega = 2 * np.pi * np.asarray(freqs_hz, dtype=np.float64)
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(omega > 0, np.abs(impedance) ** 2 / (omega * MU0), np.nan)


def colored_noise(rng: np.random.Generator, num_samples: int, dt_s: float, psd_fn) -> np.ndarray:
  """Gaussian noise with one-sided power spectral density psd_fn(f) (units^2/Hz); (T,).

  Built in the frequency domain, so it is periodic over num_samples; callers that need an aperiodic
  stretch generate a longer one and cut it.
  """
  freqs = np.fft.rfftfreq(num_samples, dt_s)
  psd = np.zeros_like(freqs)
  psd[1:] = psd_fn(freqs[1:])
  scale = np.sqrt(psd * num_samples / (2 * dt_s))
  spectrum = scale * (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size))
  spectrum /= np.sqrt(2)
  spectrum[0] = 0
  if num_samples % 2 == 0:  # the Nyquist bin of a real signal is real
    spectrum[-1] = spectrum[-1].real * np.sqrt(2)
  return np.fft.irfft(spectrum, num_samples)


def _padded_time_h(num_samples: int) -> np.ndarray:
  """Hours since local midnight of a grid of 2 * num_samples starting half a day early; (2T,)."""
  n = 2 * num_samples
  return (np.arange(n) - num_samples // 2) * (SAMPLE_INTERVAL_S / 3600.0)


def geomagnetic_variation(
  rng: np.random.Generator, model: GeomagneticModel, num_samples: int = SAMPLES_PER_DAY
) -> tuple[np.ndarray, np.ndarray]:
  """Northward and eastward field variation (nT) on the padded grid of `_padded_time_h`; 2 x (2T,).

  Sq: a Gaussian dip of the northward field at local noon and an east-then-west swing of the
  eastward field (derivative of a Gaussian), repeated each day of the grid. ULF: red noise.
  Storm days: sudden commencement, a Dst-like main phase and recovery, and stronger ULF activity.
  """
  t_h = _padded_time_h(num_samples)
  dt = SAMPLE_INTERVAL_S
  sq_h = rng.uniform(*model.sq_h_range_nt)
  sq_d = rng.uniform(*model.sq_d_range_nt)
  bx = np.zeros_like(t_h)
  by = np.zeros_like(t_h)
  for noon in (model.sq_noon_h - 24, model.sq_noon_h, model.sq_noon_h + 24):
    u = (t_h - noon) / model.sq_width_h
    bump = np.exp(-0.5 * u**2)
    bx -= sq_h * bump
    by -= sq_d * u * bump * np.exp(0.5)  # peak value sq_d at u = -1 (morning, eastward)

  activity = model.ulf_psd_at_1mhz * rng.lognormal(0.0, model.ulf_activity_log_sigma)
  f_min = 1.0 / (t_h.size * dt)

  def psd(f):
    return activity * (np.maximum(f, f_min) / 1e-3) ** (-model.ulf_spectral_index)

  ulf_x = colored_noise(rng, t_h.size, dt, psd)
  ulf_y = colored_noise(rng, t_h.size, dt, psd)

  if rng.uniform() < model.storm_probability:
    t_ssc = rng.uniform(0.0, 24.0)
    after = t_h >= t_ssc
    since_ssc = np.maximum(t_h - t_ssc, 0.0)
    ssc = rng.uniform(*model.storm_ssc_range_nt) * (1 - np.exp(-since_ssc * 30.0))  # 2-min rise
    onset = t_ssc + rng.uniform(1.0, 4.0)
    fall_h = rng.uniform(3.0, 8.0)
    recovery_h = rng.uniform(8.0, 16.0)
    depth = rng.uniform(*model.storm_main_phase_range_nt)
    since = t_h - onset
    main = np.where(
      since < 0,
      0.0,
      np.where(
        since < fall_h, since / fall_h, np.exp(-np.maximum(since - fall_h, 0.0) / recovery_h)
      ),
    )
    storm_x = ssc - depth * main
    storm_y = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.4) * storm_x
    gain = np.sqrt(rng.uniform(*model.storm_ulf_gain_range))
    envelope = 1 + (gain - 1) * after * np.exp(-since_ssc / recovery_h)
    bx += storm_x
    by += storm_y
    ulf_x *= envelope
    ulf_y *= envelope
  return bx + ulf_x, by + ulf_y


@functools.lru_cache(maxsize=16)
def _impedance_on_grid(
  resistivities: tuple[float, ...], thicknesses: tuple[float, ...], num_samples: int
) -> np.ndarray:
  """The layered impedance at the rfft frequencies of a grid of num_samples 10-s samples."""
  return layered_impedance(
    np.fft.rfftfreq(num_samples, SAMPLE_INTERVAL_S), resistivities, thicknesses
  )


def induced_e_field(bx_nt: np.ndarray, by_nt: np.ndarray, station: StationModel) -> np.ndarray:
  """The telluric field along the station's dipole (mV/km) induced by B on a 1-D earth; (T,).

  1-D earth: Ex = Z By / mu0, Ey = -Z Bx / mu0 (x north, y east); the dipole measures
  E . (cos azimuth, sin azimuth). The series are treated as periodic: pass a padded stretch.
  """
  z = _impedance_on_grid(station.resistivities_ohm_m, station.thicknesses_m, bx_nt.size)
  ex = np.fft.irfft(z * np.fft.rfft(by_nt), bx_nt.size) * _NT_OHM_TO_MV_KM
  ey = -np.fft.irfft(z * np.fft.rfft(bx_nt), bx_nt.size) * _NT_OHM_TO_MV_KM
  azimuth = np.deg2rad(station.dipole_azimuth_deg)
  return np.cos(azimuth) * ex + np.sin(azimuth) * ey


def tidal_field(
  station: StationModel, phases_rad: np.ndarray, day_index: int, num_samples: int = SAMPLES_PER_DAY
) -> np.ndarray:
  """Sum of the M2, S2, K1, O1 lines (mV/km) on day `day_index` (continuous across days); (T,)."""
  t_days = day_index + np.arange(num_samples) * (SAMPLE_INTERVAL_S / SECONDS_PER_DAY)
  out = np.zeros(num_samples)
  for amp, speed, phase in zip(
    station.tide_mv_km, TIDE_CYCLES_PER_DAY.values(), phases_rad, strict=True
  ):
    out += amp * np.cos(2 * np.pi * speed * t_days + phase)
  return out


def electrode_drift(
  rng: np.random.Generator, station: StationModel, num_samples: int = SAMPLES_PER_DAY
) -> np.ndarray:
  """Linear drift plus a random walk (mV/km), zero at 00:00; (T,)."""
  frac = np.arange(num_samples) / num_samples
  slope = rng.normal(0.0, station.drift_rate_mv_km_day)
  steps = rng.normal(0.0, station.drift_walk_mv_km / np.sqrt(num_samples), num_samples)
  steps[0] = 0.0
  return slope * frac + np.cumsum(steps)


def train_leakage_noise(
  rng: np.random.Generator,
  train: TrainNoise,
  num_samples: int = SAMPLES_PER_DAY,
  *,
  coupling: tuple[np.random.Generator, float, float] | None = None,
) -> np.ndarray:
  """Railway leakage-current field (mV/km): bursts and DC steps by day, 0 at night; (T,).

  coupling: (generator, mean, spread) for a second dipole that sees the same trains: each burst is
  multiplied by its own N(mean, spread) gain and the DC steps by `mean`. A spread near 0 is a fixed
  source (what ICA assumes); a large one is a moving train whose coupling changes from burst to burst.
  """
  per_min = 60 // SAMPLE_INTERVAL_S
  first = train.first_train_h * 60
  last = train.last_train_h * 60
  departures = []
  for _ in range(2):  # two directions, each with its own timetable phase
    nominal = np.arange(first + rng.uniform(0, train.headway_min), last, train.headway_min)
    actual = nominal + rng.normal(0.0, train.jitter_min, nominal.size)
    actual = np.clip(actual, first, last)  # nothing runs outside the service hours
    departures.append(actual[rng.uniform(size=nominal.size) >= train.cancel_probability])
  departures = np.concatenate(departures)
  pulses_each = 1 + rng.poisson(train.pulses_per_train - 1, departures.size)
  n = int(pulses_each.sum())
  # The bursts of one passage follow each other (a pause, then a burst) and alternate in sign:
  # the leakage field reverses as the train moves past the dipole and the substation.
  first_of_train = np.concatenate([[0], np.cumsum(pulses_each)[:-1]])
  rank = np.arange(n) - np.repeat(first_of_train, pulses_each)
  pause_min = rng.uniform(0.0, train.max_pause_min, n)
  length_min = rng.uniform(*train.pulse_min_range, n)
  elapsed = np.cumsum(pause_min + length_min) - length_min
  start_min = (
    np.repeat(departures, pulses_each)
    + elapsed
    - np.repeat(elapsed[first_of_train] - pause_min[first_of_train], pulses_each)
  )
  amplitude = rng.lognormal(np.log(train.amplitude_median_mv_km), train.amplitude_log_sigma, n)
  amplitude *= np.repeat(rng.choice([-1.0, 1.0], departures.size), pulses_each) * (-1.0) ** rank
  stray_gain = 1.0
  if coupling is not None:
    gain_rng, gain_mean, gain_spread = coupling
    amplitude *= gain_rng.normal(gain_mean, gain_spread, n)
    stray_gain = gain_mean

  start = np.clip(np.round(start_min * per_min).astype(np.int64), 0, num_samples)
  stop = np.clip(
    start + np.maximum(np.round(length_min * per_min).astype(np.int64), 1), 0, num_samples
  )
  steps = np.zeros(num_samples + 1)
  np.add.at(steps, start, amplitude)
  np.add.at(steps, stop, -amplitude)
  bursts = np.cumsum(steps[:-1])
  bursts *= 1 + train.current_fluctuation * rng.standard_normal(num_samples)

  # DC stray current: piecewise-constant levels with exponential dwell times in service hours.
  service_start = int(round(first * per_min))
  service_stop = int(stop.max(initial=service_start))  # until the last burst ends
  span = service_stop - service_start
  dwell = rng.exponential(train.stray_dwell_min * per_min, size=int(span / per_min) + 8)
  edges = np.cumsum(np.maximum(np.round(dwell), 1).astype(np.int64))
  edges = np.concatenate([[0], edges[edges < span], [span]])
  levels = rng.normal(0.0, train.stray_step_mv_km, edges.size - 1)
  stray = np.zeros(num_samples)
  stray[service_start:service_stop] = np.repeat(levels, np.diff(edges))

  # Exponential edges: the current (and its field) builds up and decays over tens of seconds.
  alpha = 1 - np.exp(-SAMPLE_INTERVAL_S / train.edge_time_constant_s)
  return scipy.signal.lfilter([alpha], [1, alpha - 1], bursts + stray_gain * stray)


def synthetic_day_components(
  station: str | StationModel,
  day_index: int,
  seed: int = 0,
  geomagnetic: GeomagneticModel = GeomagneticModel(),
  num_samples: int = SAMPLES_PER_DAY,
) -> dict[str, np.ndarray]:
  """The six components of one synthetic day (mV/km), each (T,); they sum to `synthetic_day`.

  Keys: "induction", "tide", "drift", "offset", "white", "train".
  """
  if isinstance(station, str):
    station = station_model(station)
  if day_index < 0:
    raise ValueError(f"day_index must be >= 0, got {day_index}")

  def rng(component: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, component, *key])

  bx, by = geomagnetic_variation(rng(_GEOMAG, day_index), geomagnetic, num_samples)
  e_padded = induced_e_field(bx, by, station)
  induction = e_padded[num_samples // 2 : num_samples // 2 + num_samples]
  # Tidal phases are fixed per station (not per day) so the lines run on from day to day.
  phases = rng(_TIDE_PHASE, station.code).uniform(0, 2 * np.pi, len(station.tide_mv_km))
  return {
    "induction": induction,
    "tide": tidal_field(station, phases, day_index, num_samples),
    "drift": electrode_drift(rng(_DRIFT, station.code, day_index), station, num_samples),
    "offset": np.full(
      num_samples,
      station.dc_offset_mv_km
      + rng(_OFFSET, station.code, day_index).normal(0.0, station.dc_offset_spread_mv_km),
    ),
    "white": rng(_WHITE, station.code, day_index).normal(
      0.0, station.white_noise_mv_km, num_samples
    ),
    "train": train_leakage_noise(rng(_TRAIN, station.code, day_index), station.train, num_samples),
  }


def synthetic_day(
  station: str | StationModel,
  day_index: int,
  seed: int = 0,
  geomagnetic: GeomagneticModel = GeomagneticModel(),
) -> np.ndarray:
  """One synthetic observed day of a station's dipole, mV/km at 0.1 Hz from 00:00; (8640,)."""
  parts = synthetic_day_components(station, day_index, seed, geomagnetic)
  return np.sum(list(parts.values()), axis=0)


# ---------------------------------------------------------------------------------------------
# Real records: one file per local day.
# ---------------------------------------------------------------------------------------------

DAY_FILE_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})\.txt$")
MISSING_SENTINELS = (99999.0, 999999.0)


class DayGapError(DataFormatError):
  """A day file with missing samples: it is rejected, never patched."""


class DayRecords(NamedTuple):
  """Accepted days of a directory (or a TimeSeries) and the rejected ones with their reasons.

  days: (D, 8640) float64 mV/km; dates: (D,) datetime64[D] local dates, increasing;
  rejected: (name, reason) for each day or file that was not accepted.
  """

  days: np.ndarray
  dates: np.ndarray
  rejected: list[tuple[str, str]]


def _clock(sample: int) -> str:
  """hh:mm:ss of a sample index of a day."""
  return str(datetime.timedelta(seconds=sample * SAMPLE_INTERVAL_S)).zfill(8)


def _describe_gaps(missing: np.ndarray, line_of: np.ndarray, unit: str = "lines") -> str:
  """A sentence about the runs of missing samples of a day (first run in full)."""
  padded = np.concatenate([[False], missing, [False]]).astype(np.int8)
  starts = np.flatnonzero(np.diff(padded) == 1)
  stops = np.flatnonzero(np.diff(padded) == -1)
  a, b = int(starts[0]), int(stops[0])
  first = (
    f"samples {a}..{b - 1} ({_clock(a)}..{_clock(b - 1)}, {unit} "
    f"{line_of[a]}..{line_of[b - 1]}, {b - a} missing)"
  )
  more = ""
  if len(starts) > 1:
    more = f"; {len(starts) - 1} more gap(s), {int(missing.sum())} missing samples in all"
  return f"gap at {first}{more}; days with gaps are rejected, not patched"


def read_day_file(
  path: str | os.PathLike, missing_values: Sequence[float] = MISSING_SENTINELS
) -> np.ndarray:
  """One day file: 8640 values (mV/km), one per line, "#" comments; (8640,) float64.

  Raises DataFormatError naming the file and line for an unreadable value or a wrong count, and
  DayGapError naming the gap ("nan", an empty line or a sentinel value) for a day with gaps.
  """
  path = pathlib.Path(path)
  values, lines = [], []
  with open(path, encoding="utf-8") as f:
    for number, raw in enumerate(f, start=1):
      text = raw.strip()
      if text.startswith("#"):
        continue
      if not text:
        value = math.nan
      else:
        try:
          value = float(text)
        except ValueError:
          raise DataFormatError(
            path, number, f"expected one number (mV/km) per line, got {text[:40]!r}"
          ) from None
      values.append(value)
      lines.append(number)
  if len(values) != SAMPLES_PER_DAY:
    raise DataFormatError(
      path, None, f"expected {SAMPLES_PER_DAY} values (one day at 0.1 Hz), got {len(values)}"
    )
  day = np.array(values)
  missing = ~np.isfinite(day) | np.isin(day, np.asarray(missing_values, dtype=np.float64))
  if missing.any():
    raise DayGapError(
      path, int(lines[int(np.argmax(missing))]), _describe_gaps(missing, np.asarray(lines))
    )
  return day


def write_day_file(path: str | os.PathLike, day: np.ndarray, comment: str | None = None) -> None:
  """Writes one day (8640,) in the format `read_day_file` reads (NaN written as "nan")."""
  day = np.asarray(day, dtype=np.float64)
  if day.shape != (SAMPLES_PER_DAY,):
    raise ValueError(f"a day has shape ({SAMPLES_PER_DAY},), got {day.shape}")
  with open(path, "w", encoding="utf-8") as f:
    if comment:
      f.writelines(f"# {line}\n" for line in comment.splitlines())
    np.savetxt(f, day, fmt="%.6f")


def load_day_directory(
  directory: str | os.PathLike,
  *,
  on_bad_day: str = "skip",
  missing_values: Sequence[float] = MISSING_SENTINELS,
) -> DayRecords:
  """All `YYYYMMDD.txt` day files of a directory, in date order.

  on_bad_day: "skip" leaves out a day with gaps or a malformed file (listed in `rejected` with the
  reason); "raise" re-raises its error. Other *.txt names are listed in `rejected`. Raises
  ValueError when no day is accepted.
  """
  if on_bad_day not in ("skip", "raise"):
    raise ValueError(f"on_bad_day must be 'skip' or 'raise', got {on_bad_day!r}")
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise FileNotFoundError(f"no directory {directory}")
  days, dates, rejected = [], [], []
  for path in sorted(directory.glob("*.txt")):
    match = DAY_FILE_NAME.match(path.name)
    if match is None:
      rejected.append((path.name, "name is not YYYYMMDD.txt"))
      continue
    try:
      date = np.datetime64("-".join(match.groups()), "D")
    except ValueError:
      rejected.append((path.name, "name is not a valid date"))
      continue
    try:
      day = read_day_file(path, missing_values)
    except DataFormatError as e:
      if on_bad_day == "raise":
        raise
      rejected.append((path.name, str(e)))
      continue
    days.append(day)
    dates.append(date)
  if not days:
    reasons = "; ".join(f"{n}: {r}" for n, r in rejected[:5]) or "no *.txt files"
    raise ValueError(f"no usable day file in {directory} ({reasons})")
  return DayRecords(np.stack(days), np.array(dates, dtype="datetime64[D]"), rejected)


def days_from_timeseries(
  ts: ts_lib.TimeSeries, channel: str, utc_offset_hours: float = 0.0
) -> DayRecords:
  """Cuts a 10-s series into local days (00:00 local = UTC + offset); incomplete days rejected."""
  if ts.interval_seconds != SAMPLE_INTERVAL_S:
    raise ValueError(
      f"need a {SAMPLE_INTERVAL_S}-s series, got interval {ts.interval}; decimate first"
    )
  offset = np.timedelta64(int(round(utc_offset_hours * 3600)), "s")
  local = ts.times + offset
  values = ts.column(channel)
  dates = local.astype("datetime64[D]")
  days, kept, rejected = [], [], []
  for date in np.unique(dates):
    sel = dates == date
    start = int(np.argmax(sel))
    count = int(sel.sum())
    name = f"{date} ({channel})"
    expected_start = date.astype("datetime64[s]")
    if count != SAMPLES_PER_DAY or local[start] != expected_start:
      rejected.append(
        (
          name,
          f"only {count} of {SAMPLES_PER_DAY} samples, "
          f"{local[start]} .. {local[start + count - 1]} local time",
        )
      )
      continue
    day = values[start : start + count]
    missing = np.isnan(day)
    if missing.any():
      rejected.append(
        (name, _describe_gaps(missing, np.arange(start, start + count), unit="series indices"))
      )
      continue
    days.append(np.array(day))
    kept.append(date)
  days_array = np.stack(days) if days else np.zeros((0, SAMPLES_PER_DAY))
  return DayRecords(days_array, np.array(kept, dtype="datetime64[D]"), rejected)


# ---------------------------------------------------------------------------------------------
# EarthDataLogger ASCII magnetotelluric records (10 Hz, one value per line, 5-minute files).
# ---------------------------------------------------------------------------------------------

EDL_FILE_NAME = re.compile(r"^(?P<station>.+)_(?P<stamp>\d{12})\.(?P<channel>[A-Z]{2})$")


@dataclasses.dataclass(frozen=True)
class EdlSegment:
  """A gap-free run of EDL files: (T, C) E field in mV/km from `start` (UTC) at `rate_hz`."""

  start: np.datetime64
  rate_hz: float
  values: np.ndarray
  channels: tuple[str, ...]
  source_files: tuple[str, ...]

  @property
  def end(self) -> np.datetime64:
    """Time just after the last sample."""
    return self.start + np.timedelta64(int(round(len(self.values) * 1000 / self.rate_hz)), "ms")


def _read_column(path: pathlib.Path) -> np.ndarray:
  """One number per line; DataFormatError names the first bad line (or an empty file)."""
  if path.stat().st_size == 0:
    raise DataFormatError(path, None, "empty file, expected one number per line")
  try:
    return np.loadtxt(path, dtype=np.float64, ndmin=1)
  except ValueError:
    with open(path, encoding="ascii", errors="replace") as f:
      for number, line in enumerate(f, start=1):
        try:
          float(line)
        except ValueError:
          raise DataFormatError(
            path, number, f"expected one number per line, got {line.strip()[:40]!r}"
          ) from None
    raise


def read_edl_ascii(
  directory: str | os.PathLike,
  channels: Sequence[str] = ("EX", "EY"),
  *,
  rate_hz: float = 10.0,
  dipole_length_m: float = 25.0,
  amplification: float = 10.0,
  gain: float = 1.0,
) -> list[EdlSegment]:
  """EarthDataLogger ASCII E-field files of a directory as gap-free segments, in mV/km.

  Files are `STATION_YYMMDDhhmmss.CH`, the time (UTC) of their first sample, one raw value per
  line in microvolts at the logger. E [mV/km = uV/m] = raw / (amplification * gain * dipole length
  in m), the conversion of MTpy's `EDL_e_field` (defaults: station BP02 of the MTpy examples, 25 m
  dipoles, pre-amplifier gain 10). A file that starts exactly where the previous one ends extends
  the segment; a later start opens a new segment (the gap between them is left as a gap); an
  earlier start (overlap), a missing channel or unequal lengths raise DataFormatError.
  """
  bad = [c for c in channels if not c.startswith("E")]
  if bad:
    raise ValueError(f"only electric channels (EX, EY) are converted; got {bad}")
  directory = pathlib.Path(directory)
  by_stamp: dict[str, dict[str, pathlib.Path]] = {}
  for path in directory.iterdir():
    match = EDL_FILE_NAME.match(path.name)
    if match and match["channel"] in channels:
      by_stamp.setdefault(match["stamp"], {})[match["channel"]] = path
  if not by_stamp:
    raise FileNotFoundError(
      f"no EDL files STATION_YYMMDDhhmmss.{{{','.join(channels)}}} in {directory}"
    )
  scale = 1.0 / (amplification * gain * dipole_length_m)
  segments: list[EdlSegment] = []
  for stamp in sorted(by_stamp):
    files = by_stamp[stamp]
    missing = [c for c in channels if c not in files]
    if missing:
      some = next(iter(files.values()))
      raise DataFormatError(some, None, f"no file for channel(s) {missing} at {stamp}")
    columns = [_read_column(files[c]) for c in channels]
    lengths = {files[c].name: len(col) for c, col in zip(channels, columns, strict=True)}
    if len(set(lengths.values())) != 1:
      raise DataFormatError(files[channels[0]], None, f"channel files differ in length: {lengths}")
    start = np.datetime64(datetime.datetime.strptime(stamp, "%y%m%d%H%M%S"), "ms")
    block = np.stack(columns, axis=1) * scale
    names = tuple(files[c].name for c in channels)
    if segments:
      prev = segments[-1]
      if start < prev.end:
        raise DataFormatError(
          files[channels[0]], None, f"starts at {start}, before the previous file ends ({prev.end})"
        )
      if start == prev.end:
        segments[-1] = dataclasses.replace(
          prev, values=np.concatenate([prev.values, block]), source_files=prev.source_files + names
        )
        continue
    segments.append(EdlSegment(start, rate_hz, block, tuple(channels), names))
  return segments


def rotate_horizontal(
  ex: np.ndarray, ey: np.ndarray, angle_deg: float
) -> tuple[np.ndarray, np.ndarray]:
  """Components in axes turned by angle_deg clockwise (east of north): e.g. magnetic -> true
  north with the declination; (T,), (T,) -> (T,), (T,)."""
  a = np.deg2rad(angle_deg)
  return np.cos(a) * ex + np.sin(a) * ey, -np.sin(a) * ex + np.cos(a) * ey


def decimate_segment(
  segment: EdlSegment, interval_s: int = SAMPLE_INTERVAL_S
) -> ts_lib.TimeSeries | None:
  """Anti-alias filters and decimates a segment to one sample per interval_s, on whole-interval
  UTC times; None when the segment holds no such time.

  scipy.signal.resample_poly (a Kaiser-windowed linear-phase FIR, no delay; the ends padded
  with a fitted line, not zeros, so the electrode offset does not leak in). The output sample at
  time t is the filtered input sample at t exactly.
  """
  factor = interval_s * segment.rate_hz
  if abs(factor - round(factor)) > 1e-9:
    raise ValueError(
      f"interval {interval_s} s is not a whole number of {segment.rate_hz} Hz samples"
    )
  factor = int(round(factor))
  start_s = segment.start.astype("datetime64[s]")
  first = start_s if start_s == segment.start else start_s + np.timedelta64(1, "s")
  stamp = first.astype(np.int64)
  first = first + np.timedelta64(int(-stamp % interval_s), "s")
  skip = int(round((first - segment.start) / np.timedelta64(1, "ms") * segment.rate_hz / 1000))
  if skip >= len(segment.values):
    return None
  values = scipy.signal.resample_poly(segment.values[skip:], 1, factor, axis=0, padtype="line")
  times = first + np.arange(len(values)) * np.timedelta64(interval_s, "s")
  return ts_lib.TimeSeries(
    times, values, segment.channels, interval_s, {"source_files": list(segment.source_files)}
  )


def read_edl_timeseries(
  directory: str | os.PathLike,
  channels: Sequence[str] = ("EX", "EY"),
  *,
  interval_s: int = SAMPLE_INTERVAL_S,
  declination_deg: float | None = None,
  **edl_kwargs,
) -> ts_lib.TimeSeries:
  """EDL E-field files of a directory as one 0.1 Hz (by default) TimeSeries in mV/km, NaN in gaps.

  Each gap-free segment is decimated on its own (`decimate_segment`); a segment too short to hold
  one output time is dropped and named in metadata["dropped_segments"]. With declination_deg and
  channels ("EX", "EY"), the pair is turned to geographic north (as MTpy's miniSEED files are).
  edl_kwargs: rate_hz, dipole_length_m, amplification, gain of `read_edl_ascii`.
  """
  segments = read_edl_ascii(directory, channels, **edl_kwargs)
  if declination_deg is not None:
    if tuple(channels) != ("EX", "EY"):
      raise ValueError(f"rotation needs channels ('EX', 'EY'), got {tuple(channels)}")
    segments = [
      dataclasses.replace(
        s,
        values=np.stack(rotate_horizontal(s.values[:, 0], s.values[:, 1], declination_deg), axis=1),
      )
      for s in segments
    ]
  decimated, dropped = [], []
  for segment in segments:
    out = decimate_segment(segment, interval_s)
    if out is None:
      dropped.append(
        f"{segment.start} ({len(segment.values)} samples, {', '.join(segment.source_files)})"
      )
    else:
      decimated.append(out)
  if not decimated:
    raise ValueError(f"no segment in {directory} is long enough for one {interval_s}-s sample")
  series = ts_lib.concatenate(decimated)
  return series.with_values(
    series.values,
    units="mV/km",
    dropped_segments=dropped,
    declination_deg=declination_deg,
    source_dir=str(directory),
  )


# How much each station's dipoles see of one train: the spread of the per-burst coupling gain. HKB's long
# dipoles cross the railway, so a moving train couples differently at every burst (not a fixed source);
# OTA is far from the line, so its train noise mixes into its dipoles almost like a fixed source.
TRAIN_COUPLING_SPREAD = {"hkb": 0.6, "mts": 0.3, "ota": 0.05}
_DIPOLE_GAIN = 20  # component id of the per-dipole draws below


def multi_dipole_days(
  station: str,
  day_index: int,
  num_dipoles: int = 3,
  seed: int = 0,
  num_samples: int = SAMPLES_PER_DAY,
) -> np.ndarray:
  """Synthetic observed days of `num_dipoles` dipoles of one station, (num_dipoles, T) mV/km.

  For the FastICA baseline (Orihara et al. 2009 separate a station's dipoles). Dipole k points at the
  station's azimuth + 180 k / num_dipoles degrees; all dipoles see the same geomagnetic field (through the
  same impedance) and the same trains, each train burst with its own coupling gain per dipole (spread
  `TRAIN_COUPLING_SPREAD[station]`); drift, offset and white noise are each dipole's own. Dipole 0 equals
  `synthetic_day(station, day_index, seed)` but for its train coupling.
  """
  base = station_model(station)
  days = []
  for k in range(num_dipoles):
    dipole = dataclasses.replace(
      base,
      code=base.code + 100 * k,
      dipole_azimuth_deg=base.dipole_azimuth_deg + 180.0 * k / num_dipoles,
    )
    parts = synthetic_day_components(dipole, day_index, seed, num_samples=num_samples)
    gain_rng = np.random.default_rng([seed, _DIPOLE_GAIN, base.code, day_index, k])
    mean_gain = 1.0 if k == 0 else gain_rng.uniform(0.4, 1.2) * gain_rng.choice([-1.0, 1.0])
    parts["train"] = train_leakage_noise(
      np.random.default_rng([seed, _TRAIN, base.code, day_index]),
      base.train,
      num_samples,
      coupling=(gain_rng, mean_gain, TRAIN_COUPLING_SPREAD.get(station, 0.3) * abs(mean_gain)),
    )
    days.append(np.sum(list(parts.values()), axis=0))
  return np.stack(days)

"""Synthetic 0.1 Hz geoelectric background days: the documented model behind the SES datasets.

A "day" is one (8640,) float64 array: 24 h of one dipole's electric field in mV/km (= uV/m),
sampled every 10 s, sample 0 at 00:00 local time (core.constants). `synthetic_day` is the sum of
six documented components (each has its own function below, `synthetic_day_components` returns
them separately). Typical sizes at HKB:
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
paper describes (Fig. 2); they are not fitted to the RIKEN data, which are not public. Every random
draw comes from a numpy Generator seeded by (seed, component, station, day), so a day is a pure
function of its key. The geomagnetic field of a day is common to all stations.

Real records (a directory of the user's day files, EDL magnetotelluric files) are read by
precursor_jax.data.geoelectric.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.signal

from precursor_jax.core.constants import (
  GEOELECTRIC_DAY_SAMPLES,
  GEOELECTRIC_INTERVAL_S,
  SECONDS_PER_DAY,
)

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
  return (np.arange(n) - num_samples // 2) * (GEOELECTRIC_INTERVAL_S / 3600.0)


def geomagnetic_variation(
  rng: np.random.Generator, model: GeomagneticModel, num_samples: int = GEOELECTRIC_DAY_SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
  """Northward and eastward field variation (nT) on the padded grid of `_padded_time_h`; 2 x (2T,).

  Sq: a Gaussian dip of the northward field at local noon and an east-then-west swing of the
  eastward field (derivative of a Gaussian), repeated each day of the grid. ULF: red noise.
  Storm days: sudden commencement, a Dst-like main phase and recovery, and stronger ULF activity.
  """
  t_h = _padded_time_h(num_samples)
  dt = GEOELECTRIC_INTERVAL_S
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
    np.fft.rfftfreq(num_samples, GEOELECTRIC_INTERVAL_S), resistivities, thicknesses
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
  station: StationModel,
  phases_rad: np.ndarray,
  day_index: int,
  num_samples: int = GEOELECTRIC_DAY_SAMPLES,
) -> np.ndarray:
  """Sum of the M2, S2, K1, O1 lines (mV/km) on day `day_index` (continuous across days); (T,)."""
  t_days = day_index + np.arange(num_samples) * (GEOELECTRIC_INTERVAL_S / SECONDS_PER_DAY)
  out = np.zeros(num_samples)
  for amp, speed, phase in zip(
    station.tide_mv_km, TIDE_CYCLES_PER_DAY.values(), phases_rad, strict=True
  ):
    out += amp * np.cos(2 * np.pi * speed * t_days + phase)
  return out


def electrode_drift(
  rng: np.random.Generator, station: StationModel, num_samples: int = GEOELECTRIC_DAY_SAMPLES
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
  num_samples: int = GEOELECTRIC_DAY_SAMPLES,
  *,
  coupling: tuple[np.random.Generator, float, float] | None = None,
) -> np.ndarray:
  """Railway leakage-current field (mV/km): bursts and DC steps by day, 0 at night; (T,).

  coupling: (generator, mean, spread) for a second dipole that sees the same trains: each burst is
  multiplied by its own N(mean, spread) gain and the DC steps by `mean`. A spread near 0 is a fixed
  source (what ICA assumes); a large one is a moving train whose coupling changes from burst to burst.
  """
  per_min = 60 // GEOELECTRIC_INTERVAL_S
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
  alpha = 1 - np.exp(-GEOELECTRIC_INTERVAL_S / train.edge_time_constant_s)
  return scipy.signal.lfilter([alpha], [1, alpha - 1], bursts + stray_gain * stray)


def synthetic_day_components(
  station: str | StationModel,
  day_index: int,
  seed: int = 0,
  geomagnetic: GeomagneticModel = GeomagneticModel(),
  num_samples: int = GEOELECTRIC_DAY_SAMPLES,
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
  num_samples: int = GEOELECTRIC_DAY_SAMPLES,
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

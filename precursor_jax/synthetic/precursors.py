"""Synthetic station records with injected precursor-like anomalies: the ground truth of detect.

A record is one component of one station (geomagnetic Z in nT, or areal borehole strain in
nanostrain) on a regular UTC grid, hourly or 1-minute, sample 0 at midnight of `spec.start`. It is
the sum of documented components (`SyntheticRecord.components`), then gaps are cut out:

  level     a constant (Z ~ 40,000 nT; a strain reading's arbitrary zero).
  lines     cosines of the solar lines S1, S2 (and the Sq harmonic S3) and the tidal lines M2, K1,
            O1 (frequencies of synthetic/geoelectric.py; S2 is both solar and tidal), each with its
            own phase per station. Geomagnetic (Sq-dominated): S1 8, S2 4, S3 2, M2 0.8 (the
            lunar tide, ~10% of Sq), K1 0.4, O1 0.3 nT; the solar lines vary from day to day by a
            factor 1 + N(0, 0.25) per day, interpolated between local noons (Sq variability).
            Strain (earth tides, the Doodson potential ratios to M2): M2 20, S2 9.3, K1 11.7,
            O1 8.3 nstrain, and a thermal S1 of 1.5. M2 and S2 beat with the 14.77-day spring-neap
            period: the semidiurnal envelope swings between M2 - S2 and M2 + S2 (a factor 2.7).
  drift     a linear rate drawn from N(0, drift_per_day) per day plus a relaxation
            a (1 - exp(-t / tau)) (a borehole settling; none for geomagnetic).
  noise     an Ornstein-Uhlenbeck process (RMS noise_rms, time constant noise_hours; sampled, it
            is AR(1) with phi = exp(-interval / tau), so hourly and 1-minute records sample the
            same process) plus white instrument noise (white_rms).
  storm     (geomagnetic, optional) a Dst-like depression seen with `storm_coupling`: linear over
            the main phase, then an exponential recovery; during it the high-frequency noise is
            raised by a second, independent OU process with the same time constant, so its RMS at
            the peak is noise_gain times the quiet one and relaxes with the same recovery.
            `space_weather` gives the matching hourly Dst and 3-hourly Kp, and `write_dst_csv` /
            `write_kp_csv` write them in the CSV forms data/spaceweather.py reads.
  bursts    the injected anomalies (module section below).
  artefacts steps, spikes and stuck runs at known times (below).
  gaps      short gaps (Poisson, `short_gaps_per_30_days`, log-uniform lengths from one sample to
            `short_gap_hours[1]`: the detect quality stage fills these) and one long gap of
            `long_gap_days` (bridged only: its days are unknown), placed away from the record's
            first and last tenth. Missing samples are NaN.

Anomalies: bursts of excess high-frequency energy. A burst is white Gaussian noise band-passed to
`band_hours` (a 4th-order Butterworth run forwards and backwards), cut to `duration_hours`, shaped
by a Tukey window (half of it tapered) and scaled so that its RMS over its own samples is exactly
`amplitude x reference` (below). Every burst lies inside one UTC day; a burst day holds
`bursts_per_day` of them. Which days are burst days follows a logistic rate: with the event's day
E and day labels d = (day - E) in days, the expected number of burst days up to and including day d
is the Boltzmann curve C(d) = N sigmoid((d - x0) / dx) (N = expected_days), so day d is a burst day
with probability p_d = C(d) - C(d - 1), independently, for x0 - support_dx dx <= d < 0 and never
else (no bursts on or after the event day). The rate rises from the onset x0 - 2 dx to its peak
N / (4 dx) at x0, and the cumulative anomalous-day curve is a sigmoid with a known x0 and dx, in the
convention of detect's fit (x = day label - event day, the count of day d including day d). The
truth (`Truth`) holds the days that were drawn, every burst, the onset date (x0 - 2 dx, the date
detect reports as onset_date) and x0.

The reference amplitude, precisely. `Truth.band_noise_rms` is the RMS of the record's quiet noise
component (OU + white; no lines, drift, storm or bursts) after the same band-pass filter that
shapes the bursts, over the whole record: the part of the background that lives in the bursts'
band and that no forecaster can predict beyond the OU memory. By default it is the unit of
`amplitude` (an amplitude of 1 then doubles the noise power in that band while a burst lasts).
`Precursor.reference_rms` replaces the unit by a number in the record's units, e.g. the residual
RMS a detector's forecaster leaves on the background (benchmarks/precursor_bench.py measures it on
null records and states its amplitudes in it); `Truth.reference_rms` is the unit used. Amplitude
only scales the bursts: records of one key at two amplitudes have the same burst days, times and
waveforms.

Default burst shapes depend on the sampling (`burst_defaults`): 1-minute records (interval up to
5 min) get 1-3 packets of 0.5-3 h with periods 10-60 min; hourly records 1 packet of 6-18 h with
periods 2.2-4 h: the highest band an hourly record holds (Nyquist 2 h), where the shortest-period
VMD mode that detect keeps lies for both kinds (2.5-3.5 h with K = 5, alpha = 5000). A broader
band mostly falls between the narrow kept modes and never reaches the residuals.

Artefacts (`ArtefactPlan`): spikes (1-2 samples), steps (a permanent offset from one sample on)
and stuck runs (the logger repeats one reading for `stuck_hours`), each on its own day drawn from
[first_day, last_day) among days without bursts and away from gaps, at a sample between 06 and
18 h. Sizes are in units of the clean record's robust sample-to-sample change (1.4826 MAD of the
first differences, signal/artefacts.py), the unit of detect's artefact rules.

Randomness: every draw comes from numpy Generators seeded by (seed, component, station), so a
record is a pure function of its spec, and changing one component's parameters leaves the other
components' draws alone. The storm and space weather are common to all stations of a study.

Writers: `write_point_file` writes `YYYYMMDDHHMM value` lines (data/point_series.py; missing as
99999), `station_entry` the station JSON object detect reads (tasks/detect/stations.py).
Scoring helpers for benchmarks: `day_scores` (day-level precision, recall, F1 over the evaluated
days, no point adjustment), `onset_errors`, `binomial_band`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.signal
from scipy import special, stats

from precursor_jax.core.constants import SECONDS_PER_DAY
from precursor_jax.signal import artefacts as artefacts_lib
from precursor_jax.synthetic.geoelectric import TIDE_CYCLES_PER_DAY

KINDS = ("geomagnetic", "strain")
DAY = np.timedelta64(1, "D")
SECOND = np.timedelta64(1, "s")
# Line frequencies in cycles per day: the solar harmonics and the tidal constituents.
LINE_CYCLES_PER_DAY = {"S1": 1.0, "S3": 3.0, **TIDE_CYCLES_PER_DAY}
SOLAR_LINES = ("S1", "S2", "S3")
FILL_VALUE = 99999.0
# Components of the seeds (changing one component's parameters leaves the others' draws).
_LINES, _SOLAR, _DRIFT, _NOISE, _WHITE, _GAPS, _DAYS, _BURSTS, _ARTEFACTS, _STORM = range(10)
_SPACE_WEATHER = 100


# ---------------------------------------------------------------------------------------------
# Parameters.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Background:
  """The quiet record of one kind (module doc); amplitudes in `units`."""

  units: str
  level: float
  lines: tuple[tuple[str, float], ...]  # (line name of LINE_CYCLES_PER_DAY, amplitude)
  solar_day_spread: float  # relative day-to-day spread of the solar lines
  drift_per_day: float  # spread of the linear drift rate, units per day
  relaxation: float  # amplitude of a (1 - exp(-t / relaxation_days))
  relaxation_days: float
  noise_rms: float  # Ornstein-Uhlenbeck RMS
  noise_hours: float  # its time constant
  white_rms: float
  short_gaps_per_30_days: float
  short_gap_hours: tuple[float, float]  # log-uniform lengths (at least one sample)
  long_gap_days: tuple[float, float]  # one long gap of this length; (0, 0) for none
  storm_coupling: float  # fraction of the storm's Dst depression seen; 0: no storm effect


GEOMAGNETIC = Background(
  units="nT",
  level=40_000.0,
  lines=(("S1", 8.0), ("S2", 4.0), ("S3", 2.0), ("M2", 0.8), ("K1", 0.4), ("O1", 0.3)),
  solar_day_spread=0.25,
  drift_per_day=0.05,
  relaxation=0.0,
  relaxation_days=30.0,
  noise_rms=1.5,
  noise_hours=1.0,
  white_rms=0.1,
  short_gaps_per_30_days=4.0,
  short_gap_hours=(0.0, 2.0),
  long_gap_days=(1.5, 3.0),
  storm_coupling=0.3,
)
STRAIN = Background(
  units="nanostrain",
  level=-12_000.0,
  lines=(("M2", 20.0), ("S2", 9.3), ("K1", 11.7), ("O1", 8.3), ("S1", 1.5)),
  solar_day_spread=0.0,
  drift_per_day=2.0,
  relaxation=200.0,
  relaxation_days=60.0,
  noise_rms=2.0,
  noise_hours=12.0,
  white_rms=0.2,
  short_gaps_per_30_days=4.0,
  short_gap_hours=(0.0, 2.0),
  long_gap_days=(1.5, 3.0),
  storm_coupling=0.0,
)
BACKGROUNDS = {"geomagnetic": GEOMAGNETIC, "strain": STRAIN}


@dataclasses.dataclass(frozen=True)
class Storm:
  """A geomagnetic storm common to a study: main phase from `start` (ISO UTC) for
  `main_phase_hours` down to `dst_min_nt`, then exponential recovery (e-folding recovery_days)."""

  start: str
  dst_min_nt: float = -150.0
  main_phase_hours: float = 12.0
  recovery_days: float = 1.5
  noise_gain: float = 4.0  # RMS factor of the high-frequency noise at the peak
  kp_peak: float = 7.0


@dataclasses.dataclass(frozen=True)
class Precursor:
  """Injected bursts before an event (module doc); None fields take `burst_defaults`."""

  event: str  # ISO UTC time of the event
  x0_days: float = -10.0  # centre of the sigmoid, days relative to the event day
  dx_days: float = 4.0
  expected_days: float = 14.0  # N: expected burst days (the sigmoid's rise A2 - A1)
  support_dx: float = 4.0  # no burst day before x0 - support_dx * dx
  amplitude: float = 1.0  # burst RMS in units of the reference
  reference_rms: float | None = None  # the unit, in the record's units; None: the band-noise RMS
  bursts_per_day: tuple[int, int] | None = None  # inclusive range, drawn uniformly
  duration_hours: tuple[float, float] | None = None
  band_hours: tuple[float, float] | None = None  # shortest and longest period


@dataclasses.dataclass(frozen=True)
class ArtefactPlan:
  """Instrument artefacts on days in [first_day, last_day) (ISO dates) without bursts."""

  first_day: str
  last_day: str
  spikes: int = 2
  steps: int = 1
  stuck: int = 1
  spike_size: float = 40.0  # units of the robust sample-to-sample change
  step_size: float = 60.0
  stuck_hours: tuple[float, float] = (8.0, 12.0)


@dataclasses.dataclass(frozen=True)
class RecordSpec:
  """Everything a record is a function of."""

  kind: str
  start: str  # ISO date: sample 0 at its midnight (UTC)
  days: int
  interval_seconds: int = 3600
  seed: int = 0
  station: int = 0  # the station's own draws
  background: Background | None = None  # None: the kind's default
  storm: Storm | None = None
  precursor: Precursor | None = None
  artefacts: ArtefactPlan | None = None


def burst_defaults(interval_seconds: int) -> dict[str, tuple]:
  """The default burst shape of a sampling interval (module doc)."""
  if interval_seconds <= 300:
    return {"bursts_per_day": (1, 3), "duration_hours": (0.5, 3.0), "band_hours": (1 / 6, 1.0)}
  return {"bursts_per_day": (1, 1), "duration_hours": (6.0, 18.0), "band_hours": (2.2, 4.0)}


# ---------------------------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------------------------


class Burst(NamedTuple):
  """One injected burst: [start, end) in UTC and its RMS in the record's units."""

  start: np.datetime64
  end: np.datetime64
  rms: float


class InjectedArtefact(NamedTuple):
  """One injected artefact: kind (spike, step, stuck), first and last sample time, size."""

  kind: str
  start: np.datetime64
  end: np.datetime64  # inclusive
  size: float  # spike: departure; step: offset; stuck: the repeated value


class Gap(NamedTuple):
  """Missing samples [start, end) in UTC; long: the one long gap."""

  start: np.datetime64
  end: np.datetime64
  long: bool


@dataclasses.dataclass(frozen=True)
class Truth:
  """What was put into a record."""

  burst_days: np.ndarray  # datetime64[D], sorted
  bursts: tuple[Burst, ...]
  event_time: np.datetime64 | None
  x0_days: float | None
  dx_days: float | None
  expected_days: float | None
  x0_date: np.datetime64 | None  # datetime64[D]
  onset_date: np.datetime64 | None  # x0 - 2 dx, datetime64[D]
  amplitude: float
  reference_rms: float  # the unit of `amplitude`
  band_noise_rms: float  # the noise component's RMS in the bursts' band (module doc)
  artefacts: tuple[InjectedArtefact, ...]
  gaps: tuple[Gap, ...]
  storm_days: np.ndarray  # datetime64[D]: days of raised storm noise (envelope > 5%)


@dataclasses.dataclass(frozen=True)
class SyntheticRecord:
  """A record, its components (they sum to `values` where it is not missing) and its truth."""

  spec: RecordSpec
  times: np.ndarray  # (T,) datetime64[s]
  values: np.ndarray  # (T,) float64, NaN where missing
  components: dict[str, np.ndarray]
  truth: Truth

  @property
  def units(self) -> str:
    """The record's units."""
    return background_of(self.spec).units


# ---------------------------------------------------------------------------------------------
# The model.
# ---------------------------------------------------------------------------------------------


def _rng(spec: RecordSpec, component: int) -> np.random.Generator:
  return np.random.default_rng([spec.seed, component, spec.station])


def background_of(spec: RecordSpec) -> Background:
  """The spec's background, or its kind's default."""
  if spec.kind not in KINDS:
    raise ValueError(f"kind {spec.kind!r}: expected one of {', '.join(KINDS)}")
  return spec.background or BACKGROUNDS[spec.kind]


def time_grid(spec: RecordSpec) -> np.ndarray:
  """(T,) datetime64[s] sample times of the record."""
  if spec.interval_seconds <= 0 or SECONDS_PER_DAY % spec.interval_seconds:
    raise ValueError(f"interval_seconds={spec.interval_seconds}: must divide a day")
  if spec.days < 1:
    raise ValueError(f"days={spec.days}: need at least one day")
  start = np.datetime64(spec.start, "D").astype("datetime64[s]")
  count = spec.days * SECONDS_PER_DAY // spec.interval_seconds
  return start + np.arange(count) * np.timedelta64(spec.interval_seconds, "s")


def _days_since_start(spec: RecordSpec, count: int) -> np.ndarray:
  return np.arange(count) * (spec.interval_seconds / SECONDS_PER_DAY)


def solar_day_factor(rng: np.random.Generator, spread: float, t_days: np.ndarray) -> np.ndarray:
  """1 + N(0, spread) per day (clipped at 0.2), interpolated linearly between local noons."""
  days = int(np.ceil(t_days[-1])) + 2
  factors = np.maximum(1.0 + spread * rng.standard_normal(days), 0.2)
  return np.interp(t_days, np.arange(days) - 0.5, factors)


def lines(spec: RecordSpec, t_days: np.ndarray) -> np.ndarray:
  """The solar and tidal lines (module doc), phases drawn per station."""
  background = background_of(spec)
  unknown = [name for name, _ in background.lines if name not in LINE_CYCLES_PER_DAY]
  if unknown:
    raise ValueError(f"unknown line(s) {unknown}; known: {', '.join(LINE_CYCLES_PER_DAY)}")
  phases = _rng(spec, _LINES).uniform(0.0, 2 * np.pi, len(background.lines))
  solar = solar_day_factor(_rng(spec, _SOLAR), background.solar_day_spread, t_days)
  out = np.zeros_like(t_days)
  for (name, amplitude), phase in zip(background.lines, phases, strict=True):
    wave = amplitude * np.cos(2 * np.pi * LINE_CYCLES_PER_DAY[name] * t_days + phase)
    out += wave * solar if name in SOLAR_LINES else wave
  return out


def drift(spec: RecordSpec, t_days: np.ndarray) -> np.ndarray:
  """Linear drift of a drawn rate plus the relaxation term."""
  background = background_of(spec)
  rate = _rng(spec, _DRIFT).normal(0.0, background.drift_per_day)
  settle = background.relaxation * (1.0 - np.exp(-t_days / background.relaxation_days))
  return rate * t_days + settle


def ornstein_uhlenbeck(
  rng: np.random.Generator, count: int, rms: float, time_constant_s: float, interval_s: float
) -> np.ndarray:
  """(count,) stationary OU samples: AR(1) with phi = exp(-interval / tau), marginal RMS `rms`."""
  phi = math.exp(-interval_s / time_constant_s)
  shocks = rng.standard_normal(count) * rms * math.sqrt(1.0 - phi * phi)
  shocks[0] = rng.standard_normal() * rms  # start from the stationary distribution
  return scipy.signal.lfilter([1.0], [1.0, -phi], shocks)


def quiet_noise(spec: RecordSpec, count: int) -> np.ndarray:
  """The OU process plus white instrument noise."""
  background = background_of(spec)
  ou = ornstein_uhlenbeck(
    _rng(spec, _NOISE),
    count,
    background.noise_rms,
    background.noise_hours * 3600.0,
    spec.interval_seconds,
  )
  return ou + _rng(spec, _WHITE).normal(0.0, background.white_rms, count)


def storm_envelope(storm: Storm, times: np.ndarray) -> np.ndarray:
  """0 before the storm, rising linearly to 1 over the main phase, then exp(-t / recovery)."""
  since_h = (times - np.datetime64(storm.start, "s")) / np.timedelta64(1, "h")
  main = storm.main_phase_hours
  recovery = np.exp(-np.maximum(since_h - main, 0.0) / (24.0 * storm.recovery_days))
  return np.where(since_h < 0, 0.0, np.where(since_h < main, since_h / max(main, 1e-9), recovery))


def storm_component(spec: RecordSpec, times: np.ndarray) -> np.ndarray:
  """The storm's depression and raised noise as this component sees them (0 without a storm)."""
  background = background_of(spec)
  if spec.storm is None or background.storm_coupling == 0:
    return np.zeros(len(times))
  envelope = storm_envelope(spec.storm, times)
  depression = background.storm_coupling * spec.storm.dst_min_nt * envelope
  extra = ornstein_uhlenbeck(
    _rng(spec, _STORM),
    len(times),
    background.noise_rms,
    background.noise_hours * 3600.0,
    spec.interval_seconds,
  )
  return depression + math.sqrt(max(spec.storm.noise_gain**2 - 1.0, 0.0)) * envelope * extra


def band_filter(band_hours: tuple[float, float], interval_seconds: int) -> np.ndarray:
  """Second-order sections of the 4th-order Butterworth band-pass over periods `band_hours`."""
  shortest, longest = band_hours
  nyquist_hz = 0.5 / interval_seconds
  low_hz, high_hz = 1.0 / (3600.0 * longest), 1.0 / (3600.0 * shortest)
  if not 0 < shortest < longest or high_hz >= nyquist_hz:
    raise ValueError(
      f"band_hours={band_hours}: need 0 < shortest < longest and a shortest period above "
      f"{2 * interval_seconds / 3600:g} h (twice the {interval_seconds} s interval)"
    )
  return scipy.signal.butter(
    4, [low_hz, high_hz], btype="bandpass", fs=1.0 / interval_seconds, output="sos"
  )


def band_noise_rms(noise: np.ndarray, band_hours, interval_seconds: int) -> float:
  """The RMS of the noise component inside the bursts' band (module doc)."""
  filtered = scipy.signal.sosfiltfilt(band_filter(band_hours, interval_seconds), noise)
  return float(np.sqrt(np.mean(filtered**2)))


def burst_shape(precursor: Precursor, interval_seconds: int) -> dict[str, tuple]:
  """bursts_per_day, duration_hours and band_hours of a precursor, defaults filled in."""
  defaults = burst_defaults(interval_seconds)
  return {
    key: getattr(precursor, key) if getattr(precursor, key) is not None else value
    for key, value in defaults.items()
  }


def burst_day_probabilities(precursor: Precursor, day_offsets: np.ndarray) -> np.ndarray:
  """p_d = C(d) - C(d - 1) of the module doc for day labels d (days relative to the event day)."""
  x0, dx, n = precursor.x0_days, precursor.dx_days, precursor.expected_days
  if dx <= 0 or n <= 0:
    raise ValueError(f"dx_days={dx}, expected_days={n}: both must be positive")
  d = np.asarray(day_offsets, np.float64)
  p = n * (special.expit((d - x0) / dx) - special.expit((d - 1 - x0) / dx))
  p = np.where((d >= x0 - precursor.support_dx * dx) & (d < 0), p, 0.0)
  if np.any(p > 1):
    raise ValueError(
      f"expected_days={n} with dx_days={dx} asks for more than one burst day per day "
      f"(peak rate {p.max():.2f}); keep expected_days below about 4 dx"
    )
  return p


def _day_index(times: np.ndarray) -> np.ndarray:
  return times.astype("datetime64[D]")


def draw_bursts(spec: RecordSpec, times: np.ndarray, rms: float):
  """(bursts component, burst days, [Burst]) of the spec's precursor (module doc)."""
  component = np.zeros(len(times))
  precursor = spec.precursor
  if precursor is None:
    return component, np.array([], "datetime64[D]"), []
  shape = burst_shape(precursor, spec.interval_seconds)
  event_day = np.datetime64(precursor.event, "D")
  record_days = np.unique(_day_index(times))
  offsets = ((record_days - event_day) / DAY).astype(np.float64)
  chosen = _rng(spec, _DAYS).uniform(size=len(record_days)) < burst_day_probabilities(
    precursor, offsets
  )
  days = record_days[chosen]
  rng = _rng(spec, _BURSTS)
  sos = band_filter(shape["band_hours"], spec.interval_seconds)
  per_hour = 3600.0 / spec.interval_seconds
  per_day = SECONDS_PER_DAY // spec.interval_seconds
  pad = int(3 * shape["band_hours"][1] * per_hour) + 1
  low, high = shape["duration_hours"]
  if round(low * per_hour) < 4 or round(high * per_hour) > per_day:
    raise ValueError(
      f"duration_hours={shape['duration_hours']}: a burst needs at least 4 samples and must fit "
      f"in a day of {per_day} samples"
    )
  bursts = []
  first = times[0].astype("datetime64[D]")
  for day in days:
    day_start = int((day - first) / DAY) * per_day
    for _ in range(int(rng.integers(shape["bursts_per_day"][0], shape["bursts_per_day"][1] + 1))):
      length = int(round(rng.uniform(low, high) * per_hour))
      begin = day_start + int(rng.integers(0, per_day - length + 1))
      noise = scipy.signal.sosfiltfilt(sos, rng.standard_normal(length + 2 * pad))[pad:-pad]
      packet = noise * scipy.signal.windows.tukey(length, 0.5)
      packet *= precursor.amplitude * rms / np.sqrt(np.mean(packet**2))
      component[begin : begin + length] += packet
      end = times[begin] + length * np.timedelta64(spec.interval_seconds, "s")
      bursts.append(Burst(times[begin], end, float(precursor.amplitude * rms)))
  return component, days, bursts


def draw_gaps(spec: RecordSpec, count: int) -> tuple[np.ndarray, list[tuple[int, int, bool]]]:
  """(missing mask, [(first, stop, long?)]) of the short gaps and the one long gap."""
  background = background_of(spec)
  rng = _rng(spec, _GAPS)
  per_hour = 3600.0 / spec.interval_seconds
  missing = np.zeros(count, dtype=bool)
  runs = []
  low, high = background.long_gap_days
  if high > 0:
    length = max(1, int(round(rng.uniform(low, high) * 24 * per_hour)))
    first = int(rng.integers(count // 10, max(count // 10 + 1, 9 * count // 10 - length)))
    missing[first : first + length] = True
    runs.append((first, first + length, True))
  number = rng.poisson(background.short_gaps_per_30_days * spec.days / 30.0)
  longest = max(1.0, background.short_gap_hours[1] * per_hour)
  for _ in range(number):
    length = int(np.exp(rng.uniform(0.0, np.log(longest))))
    first = int(rng.integers(1, count - length - 1))
    if missing[max(0, first - 1) : first + length + 1].any():
      continue  # keep gaps apart: two touching gaps would be one longer gap
    missing[first : first + length] = True
    runs.append((first, first + length, False))
  return missing, sorted(runs)


def artefact_days(spec: RecordSpec, times, missing, burst_days) -> np.ndarray:
  """The days an artefact may fall on: inside the plan's range, without bursts, and with no
  missing sample from the day before to the day after (detect's rules need clean neighbours)."""
  plan = spec.artefacts
  per_day = SECONDS_PER_DAY // spec.interval_seconds
  days = np.unique(_day_index(times))
  gappy = np.asarray(missing[: len(days) * per_day]).reshape(len(days), per_day).any(axis=1)
  near_gap = gappy | np.roll(gappy, 1) | np.roll(gappy, -1)
  near_gap[0] = near_gap[-1] = True
  return days[
    (days >= np.datetime64(plan.first_day, "D"))
    & (days < np.datetime64(plan.last_day, "D"))
    & ~np.isin(days, burst_days)
    & ~near_gap
  ]


def draw_artefacts(spec: RecordSpec, times, clean, missing, burst_days):
  """(artefact component, [InjectedArtefact]) of the spec's plan (module doc)."""
  plan = spec.artefacts
  component = np.zeros(len(times))
  if plan is None:
    return component, []
  rng = _rng(spec, _ARTEFACTS)
  scale = artefacts_lib.robust_change_scale(np.where(missing, np.nan, clean))
  per_hour = 3600.0 / spec.interval_seconds
  per_day = SECONDS_PER_DAY // spec.interval_seconds
  allowed = artefact_days(spec, times, missing, burst_days)
  kinds = ["spike"] * plan.spikes + ["step"] * plan.steps + ["stuck"] * plan.stuck
  if len(kinds) > len(allowed):
    raise ValueError(
      f"{len(kinds)} artefacts but only {len(allowed)} days without bursts or gaps in "
      f"{plan.first_day} .. {plan.last_day}"
    )
  first_day = times[0].astype("datetime64[D]")
  step = np.timedelta64(spec.interval_seconds, "s")
  events = []
  for kind, day in zip(kinds, rng.permutation(allowed), strict=False):
    start = int((day - first_day) / DAY) * per_day + int(
      rng.integers(per_day // 4, 3 * per_day // 4)
    )
    sign = rng.choice([-1.0, 1.0])
    if kind == "spike":
      length, size = int(rng.integers(1, 3)), plan.spike_size * scale * sign
      component[start : start + length] += size
    elif kind == "step":
      length, size = 1, plan.step_size * scale * sign
      component[start:] += size
    else:  # the logger repeats the reading it had at `start`
      length = int(round(rng.uniform(*plan.stuck_hours) * per_hour))
      size = float(clean[start] + component[start])
      component[start : start + length] = size - clean[start : start + length]
    events.append(
      InjectedArtefact(kind, times[start], times[start] + (length - 1) * step, float(size))
    )
  return component, sorted(events, key=lambda e: e.start)


def synthetic_record(spec: RecordSpec) -> SyntheticRecord:
  """The record of `spec` with its components and truth (module doc)."""
  background = background_of(spec)
  times = time_grid(spec)
  t_days = _days_since_start(spec, len(times))
  noise = quiet_noise(spec, len(times))
  components = {
    "level": np.full(len(times), background.level),
    "lines": lines(spec, t_days),
    "drift": drift(spec, t_days),
    "noise": noise,
    "storm": storm_component(spec, times),
  }
  band = (
    burst_shape(spec.precursor, spec.interval_seconds)["band_hours"]
    if spec.precursor
    else (burst_defaults(spec.interval_seconds)["band_hours"])
  )
  band_rms = band_noise_rms(noise, band, spec.interval_seconds)
  unit = (
    band_rms
    if spec.precursor is None or spec.precursor.reference_rms is None
    else (spec.precursor.reference_rms)
  )
  components["bursts"], burst_days, bursts = draw_bursts(spec, times, unit)
  clean = np.sum(list(components.values()), axis=0)
  missing, gap_runs = draw_gaps(spec, len(times))
  components["artefacts"], injected = draw_artefacts(spec, times, clean, missing, burst_days)
  values = np.where(missing, np.nan, clean + components["artefacts"])
  step = np.timedelta64(spec.interval_seconds, "s")
  gaps = tuple(Gap(times[a], times[0] + b * step, long) for a, b, long in gap_runs)
  storm_days = (
    np.unique(_day_index(times)[storm_envelope(spec.storm, times) > 0.05])
    if spec.storm is not None and background.storm_coupling
    else np.array([], "datetime64[D]")
  )
  truth = _truth(spec, burst_days, bursts, (unit, band_rms), injected, gaps, storm_days)
  return SyntheticRecord(spec, times, values, components, truth)


def _truth(spec, burst_days, bursts, units, injected, gaps, storm_days) -> Truth:
  p = spec.precursor
  event = None if p is None else np.datetime64(p.event, "s")
  date = lambda offset: np.datetime64(event, "D") + int(math.floor(offset))
  return Truth(
    burst_days=np.asarray(burst_days, "datetime64[D]"),
    bursts=tuple(bursts),
    event_time=event,
    x0_days=None if p is None else p.x0_days,
    dx_days=None if p is None else p.dx_days,
    expected_days=None if p is None else p.expected_days,
    x0_date=None if p is None else date(p.x0_days),
    onset_date=None if p is None else date(p.x0_days - 2 * p.dx_days),
    amplitude=0.0 if p is None else p.amplitude,
    reference_rms=units[0],
    band_noise_rms=units[1],
    artefacts=tuple(injected),
    gaps=gaps,
    storm_days=storm_days,
  )


# ---------------------------------------------------------------------------------------------
# Space weather of a storm: hourly Dst and 3-hourly Kp.
# ---------------------------------------------------------------------------------------------

# ap of each Kp third (0o, 0+, 1-, 1o, ..., 9o), the standard conversion table.
AP_OF_KP_THIRDS = (0, 2, 3, 4, 5, 6, 7, 9, 12, 15, 18, 22, 27, 32, 39, 48, 56, 67, 80, 94, 111)
AP_OF_KP_THIRDS += (132, 154, 179, 207, 236, 300, 400)
QUIET_DST_NT = -8.0


def space_weather(storm: Storm | None, start: str, days: int, seed: int = 0):
  """(kp_times, kp, dst_times, dst) over `days` from `start`: quiet values (Dst -8 +- 6 nT, Kp
  between 0+ and 3-) plus the storm (Dst + dst_min envelope; Kp raised towards kp_peak by the
  envelope), Kp in thirds. Times are interval starts (UTC), as data/spaceweather.py stamps them."""
  rng = np.random.default_rng([seed, _SPACE_WEATHER])
  first = np.datetime64(start, "D").astype("datetime64[s]")
  dst_times = first + np.arange(24 * days) * np.timedelta64(3600, "s")
  kp_times = first + np.arange(8 * days) * np.timedelta64(3 * 3600, "s")
  dst = QUIET_DST_NT + ornstein_uhlenbeck(rng, len(dst_times), 6.0, 12 * 3600.0, 3600.0)
  quiet_kp = rng.integers(1, 9, len(kp_times)) / 3.0
  if storm is None:
    return kp_times, quiet_kp, dst_times, dst
  dst = dst + storm.dst_min_nt * storm_envelope(storm, dst_times + np.timedelta64(1800, "s"))
  envelope = storm_envelope(storm, kp_times + np.timedelta64(5400, "s"))
  kp = np.clip(np.round(3 * (quiet_kp + (storm.kp_peak - quiet_kp) * envelope)) / 3.0, 0.0, 9.0)
  return kp_times, kp, dst_times, dst


def write_kp_csv(path: str | os.PathLike, times: np.ndarray, kp: np.ndarray) -> pathlib.Path:
  """`time_utc_interval_start,kp,kp_x10_celestrak,ap` rows (data/spaceweather.read_kp_csv)."""
  rows = ["time_utc_interval_start,kp,kp_x10_celestrak,ap"]
  for time, value in zip(times, kp, strict=True):
    thirds = int(round(3 * value))
    code = 10 * (thirds // 3) + (0, 3, 7)[thirds % 3]  # 2 2/3 is 3-, CelesTrak's 27
    rows.append(f"{time}Z,{thirds / 3:.3f},{code},{AP_OF_KP_THIRDS[thirds]}")
  return _write_text(path, rows)


def write_dst_csv(path: str | os.PathLike, times: np.ndarray, dst: np.ndarray) -> pathlib.Path:
  """`time_utc_hour_start,dst_nT` rows (data/spaceweather.read_dst_csv), whole nT."""
  rows = ["time_utc_hour_start,dst_nT"]
  rows += [f"{time}Z,{round(value):d}" for time, value in zip(times, dst, strict=True)]
  return _write_text(path, rows)


# ---------------------------------------------------------------------------------------------
# Writers of the files detect reads.
# ---------------------------------------------------------------------------------------------


def _write_text(path, rows: Sequence[str]) -> pathlib.Path:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("\n".join(rows) + "\n", encoding="utf-8")
  return path


def write_point_file(
  path: str | os.PathLike, times: np.ndarray, values: np.ndarray, *, omit: np.ndarray | None = None
) -> pathlib.Path:
  """`YYYYMMDDHHMM value` lines (data/point_series.py); NaN as 99999; `omit` (T,) bool drops
  those samples' lines altogether (a logger that was off writes nothing)."""
  times = np.asarray(times, "datetime64[m]")
  values = np.asarray(values, np.float64)
  if np.any(np.abs(values[np.isfinite(values)]) >= FILL_VALUE):
    raise ValueError(f"{path}: a value reaches the fill code {FILL_VALUE:g}; shift the level")
  keep = np.ones(len(times), bool) if omit is None else ~np.asarray(omit, bool)
  stamps = np.char.replace(np.datetime_as_string(times[keep], unit="m"), "-", "")
  stamps = np.char.replace(np.char.replace(stamps, "T", ""), ":", "")
  text = [
    f"{s} {v:.4f}" if np.isfinite(v) else f"{s} {FILL_VALUE:.0f}"
    for s, v in zip(stamps.tolist(), values[keep].tolist(), strict=True)
  ]
  return _write_text(path, text)


def interval_text(interval_seconds: int) -> str:
  """'1h' / '1min' / '600s': the station JSON's interval."""
  if interval_seconds % 3600 == 0:
    return f"{interval_seconds // 3600}h"
  if interval_seconds % 60 == 0:
    return f"{interval_seconds // 60}min"
  return f"{interval_seconds}s"


def station_entry(
  name: str,
  kind: str,
  path: str | os.PathLike,
  latitude: float,
  longitude: float,
  interval_seconds: int,
) -> dict[str, Any]:
  """The station JSON object of a point file in UTC (tasks/detect/stations.py)."""
  return {
    "name": name,
    "kind": kind,
    "format": "point",
    "path": str(path),
    "latitude": float(latitude),
    "longitude": float(longitude),
    "timezone": "+00:00",
    "interval": interval_text(interval_seconds),
  }


def write_station(
  directory: str | os.PathLike,
  name: str,
  record: SyntheticRecord,
  latitude: float,
  longitude: float,
) -> dict[str, Any]:
  """Writes `<directory>/<name>.txt` (the long gap's lines left out, short gaps as 99999) and
  returns its station entry."""
  long_gap = np.zeros(len(record.times), bool)
  for gap in record.truth.gaps:
    if gap.long:
      long_gap |= (record.times >= gap.start) & (record.times < gap.end)
  path = write_point_file(
    pathlib.Path(directory) / f"{name}.txt", record.times, record.values, omit=long_gap
  )
  return station_entry(
    name, record.spec.kind, path, latitude, longitude, record.spec.interval_seconds
  )


# ---------------------------------------------------------------------------------------------
# Scoring against the truth.
# ---------------------------------------------------------------------------------------------


class DayScores(NamedTuple):
  """Day-level counts and scores (NaN where a ratio has no denominator)."""

  true_positives: int
  false_positives: int
  false_negatives: int
  evaluated: int
  precision: float
  recall: float
  f1: float


def _dates(days: Iterable) -> np.ndarray:
  return np.unique(np.asarray(list(days), dtype="datetime64[D]"))


def scores_from_counts(tp: int, fp: int, fn: int, evaluated: int) -> DayScores:
  """precision tp / (tp + fp), recall tp / (tp + fn), F1 2 tp / (2 tp + fp + fn)."""
  ratio = lambda a, b: a / b if b else float("nan")
  return DayScores(
    tp, fp, fn, evaluated, ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)
  )


def day_scores(predicted: Iterable, truth: Iterable, evaluated: Iterable) -> DayScores:
  """Scores of anomalous `predicted` days against `truth` days, both restricted to the
  `evaluated` days (the judged, usable ones): each day counts once, no point adjustment (a
  detected day never credits its neighbours)."""
  evaluated = _dates(evaluated)
  predicted = np.intersect1d(_dates(predicted), evaluated)
  truth = np.intersect1d(_dates(truth), evaluated)
  tp = len(np.intersect1d(predicted, truth))
  return scores_from_counts(tp, len(predicted) - tp, len(truth) - tp, len(evaluated))


def pooled(scores: Iterable[DayScores]) -> DayScores:
  """Scores of the summed counts of several records (micro-average)."""
  rows = list(scores)
  total = [sum(row[i] for row in rows) for i in range(4)]
  return scores_from_counts(*total)


def onset_errors(fitted_x0: float, fitted_dx: float, truth: Truth) -> dict[str, float]:
  """Fitted minus true x0 and onset (x0 - 2 dx), in days (positive: the fit is later)."""
  if truth.x0_days is None:
    raise ValueError("the record has no injected precursor")
  true_onset = truth.x0_days - 2 * truth.dx_days
  return {
    "x0_error_days": float(fitted_x0 - truth.x0_days),
    "onset_error_days": float(fitted_x0 - 2 * fitted_dx - true_onset),
  }


def binomial_band(n: int, rate: float = 0.05, level: float = 0.95) -> tuple[float, float]:
  """The central `level` interval of Binomial(n, rate) / n: where the fraction of n calibrated
  p-values below `rate` falls with probability at least `level`."""
  if n < 1 or not 0 < rate < 1 or not 0 < level < 1:
    raise ValueError(f"need n >= 1 and rate, level in (0, 1); got {n}, {rate}, {level}")
  low, high = stats.binom.interval(level, n, rate)
  return float(low) / n, float(high) / n


def calibration(p_values: Iterable[float], rate: float = 0.05, level: float = 0.95) -> dict:
  """How many of the (null) p-values fall below `rate`, and whether that fraction is inside
  the binomial band."""
  p = np.asarray([v for v in p_values if v is not None], np.float64)
  if len(p) == 0:
    raise ValueError("no p-value to judge")
  fraction = float(np.mean(p < rate))
  low, high = binomial_band(len(p), rate, level)
  return {
    "n": int(len(p)),
    "below": int(np.sum(p < rate)),
    "fraction": fraction,
    "band": [low, high],
    "inside": bool(low <= fraction <= high),
  }

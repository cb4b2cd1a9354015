"""Synthetic seismic electric signals (SES) embedded in geoelectric days: the SES training examples.

One example (Wang et al., sec. II-B) is one background day d (observed, (8640,) mV/km at 0.1 Hz)
and one SES draw r:
  input  = observed_d + ses_{d,r}
  target = clean(observed_d) + ses_{d,r}   (the SES is added after cleaning: its edges stay sharp)
The SES is the paper's "rectangular-shaped waveform": amplitude A (mV/km), duration (whole 10-s
samples), start uniform over the day such that the whole SES lies inside it. By default its
polarity is random (+A or -A with equal odds): the real SESs of 17 January 1999 have opposite
signs on different dipoles (paper, Fig. 2), so a detector must find both. `ses_amplitude` is
stored signed.

Randomness is explicit: the SES of (day, repeat) comes from np.random.default_rng([ses_seed,
day, repeat]) and the synthetic background of a day from (seed, day) (background_model.synthetic_day),
so every example is a pure function of its key and the recipe, and builds are deterministic.

Splits follow the paper: the (day, repeat) examples are shuffled with a seeded permutation and
divided 9:1 (`split_by="example"`). Every SES draw lives in exactly one split; the same background
day appears in both splits with different SESs, as in the paper. `split_by="day"` keeps all repeats
of a day in one split instead (a stricter test of generalisation to unseen days).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES, GEOELECTRIC_MINUTE_SAMPLES
from precursor_jax.data import geoelectric
from precursor_jax.signal import filters
from precursor_jax.synthetic import geoelectric as background_model

FEATURE_DTYPES = {
  "input": np.float32,
  "target": np.float32,
  "ses_start": np.int32,
  "ses_duration": np.int32,
  "ses_amplitude": np.float32,
  "day_id": np.int32,
  "repeat": np.int32,
}
_SPLIT_SALT = 0x5E5  # seeds the shuffle that divides examples into splits


_MULTI_DIPOLE = 7  # component id of the SES draws of multi-dipole examples


def stable_seed(name: str) -> int:
  """A seed derived from a name, the same in every Python process (unlike hash())."""
  return zlib.crc32(name.encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class SesRecipe:
  """Everything that defines one SES dataset; a tfds BuilderConfig holds one.

  Attributes:
    station: synthetic background station model ("hkb", "mts", "ota"); a label only when
      background_dir is given.
    num_days: background days: synthetic days 0..num_days-1, or at most the first num_days
      accepted days of background_dir (None: all of them; required for synthetic backgrounds).
    repeats: SES draws per background day.
    amplitude_mv_km: (low, high) of the uniform SES amplitude draw; low == high fixes it.
    duration_min: (low, high) duration in minutes; drawn uniformly over the whole numbers of
      samples from round(6 low) to round(6 high).
    polarity: "random" (+-A with equal odds) or "positive".
    rise_samples: 0 for the paper's rectangle; r > 0 ramps each edge linearly over r samples
      (inside the duration).
    test_fraction: share of examples in the "test" split; 1.0 gives a single "test" split.
    split_by: "example" (the paper: shuffle all (day, repeat) pairs) or "day" (whole days).
    seed: seed of the synthetic background days (shared by the sets that use the same days).
    ses_seed: seed of the SES draws and of the split shuffle.
    background_dir: a directory of the user's day files (data.geoelectric.read_day_file format), or
      None for the synthetic model.
    cleaning: the Savitzky-Golay + moving-average parameters that make the target.
  """

  station: str = "hkb"
  num_days: int | None = 709
  repeats: int = 30
  amplitude_mv_km: tuple[float, float] = (10.0, 15.0)
  duration_min: tuple[float, float] = (25.0, 30.0)
  polarity: str = "random"
  rise_samples: int = 0
  test_fraction: float = 0.1
  split_by: str = "example"
  seed: int = 0
  ses_seed: int = 0
  background_dir: str | None = None
  cleaning: filters.CleaningParams = filters.CleaningParams()

  def __post_init__(self):
    lo, hi = self.amplitude_mv_km
    if not 0 < lo <= hi:
      raise ValueError(f"amplitude_mv_km must satisfy 0 < low <= high, got {self.amplitude_mv_km}")
    lo_n, hi_n = self.duration_samples
    if not 1 <= lo_n <= hi_n <= GEOELECTRIC_DAY_SAMPLES:
      raise ValueError(
        f"duration_min {self.duration_min} gives {lo_n}..{hi_n} samples; need "
        f"1 <= low <= high <= {GEOELECTRIC_DAY_SAMPLES}"
      )
    if 2 * self.rise_samples > lo_n:
      raise ValueError(
        f"rise_samples={self.rise_samples} does not fit twice in the shortest SES ({lo_n} samples)"
      )
    if self.polarity not in ("random", "positive"):
      raise ValueError(f"polarity must be 'random' or 'positive', got {self.polarity!r}")
    if self.split_by not in ("example", "day"):
      raise ValueError(f"split_by must be 'example' or 'day', got {self.split_by!r}")
    if not 0 < self.test_fraction <= 1:
      raise ValueError(f"test_fraction must be in (0, 1], got {self.test_fraction}")
    if self.repeats < 1:
      raise ValueError(f"repeats must be >= 1, got {self.repeats}")
    if self.background_dir is None:
      background_model.station_model(self.station)  # a clear KeyError for an unknown station
      if self.num_days is None or self.num_days < 1:
        raise ValueError(f"synthetic backgrounds need num_days >= 1, got {self.num_days}")

  @property
  def duration_samples(self) -> tuple[int, int]:
    """(low, high) SES duration in samples."""
    return tuple(int(round(m * GEOELECTRIC_MINUTE_SAMPLES)) for m in self.duration_min)

  @property
  def split_names(self) -> tuple[str, ...]:
    """("train", "test"), or ("test",) for a test-only set."""
    return ("test",) if self.test_fraction >= 1 else ("train", "test")


# ---------------------------------------------------------------------------------------------
# SES waveforms.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SesDraw:
  """One SES: start and duration in samples, signed amplitude in mV/km."""

  start: int
  duration: int
  amplitude: float


def draw_ses(
  rng: np.random.Generator, recipe: SesRecipe, num_samples: int = GEOELECTRIC_DAY_SAMPLES
) -> SesDraw:
  """Duration, amplitude, sign and start (SES fully inside the day), in that order of draws."""
  lo_n, hi_n = recipe.duration_samples
  duration = int(rng.integers(lo_n, hi_n + 1))
  amplitude = float(rng.uniform(*recipe.amplitude_mv_km))
  sign = 1.0 if recipe.polarity == "positive" or rng.uniform() < 0.5 else -1.0
  start = int(rng.integers(0, num_samples - duration + 1))
  return SesDraw(start, duration, sign * amplitude)


def ses_waveform(
  draw: SesDraw, rise_samples: int = 0, num_samples: int = GEOELECTRIC_DAY_SAMPLES
) -> np.ndarray:
  """The SES as a day-long series, zero outside [start, start + duration); (T,) float64.

  rise_samples = 0: a rectangle. r > 0: the first and last r samples of the SES ramp linearly
  (k / (r + 1) of the amplitude for the k-th sample from the edge).
  """
  if draw.start < 0 or draw.duration < 1 or draw.start + draw.duration > num_samples:
    raise ValueError(f"SES {draw} does not fit in a day of {num_samples} samples")
  k = np.arange(draw.duration)
  shape = np.minimum(1.0, np.minimum(k + 1, draw.duration - k) / (rise_samples + 1))
  out = np.zeros(num_samples)
  out[draw.start : draw.start + draw.duration] = draw.amplitude * shape
  return out


def cut_anomaly(day: np.ndarray, start: int, stop: int, margin: int = 6) -> np.ndarray:
  """The anomaly on samples [start, stop) of a day, minus the straight line through the mean
  levels of the `margin` samples just before and just after it; (T,) -> (stop - start,).

  The cut for the paper's Table-I test (a real anomaly moved to 04:00, 13:00, 18:00 of other days
  with precursor_jax.anomaly.ses.embed_anomaly).
  """
  day = np.asarray(day, dtype=np.float64)
  if margin < 1 or start - margin < 0 or stop + margin > day.size or stop <= start:
    raise ValueError(
      f"need 0 <= start - margin and stop + margin <= {day.size} with stop > "
      f"start, got start={start}, stop={stop}, margin={margin}"
    )
  before = day[start - margin : start].mean()
  after = day[stop : stop + margin].mean()
  # The margins' means sit at their centres, (margin + 1) / 2 samples outside the anomaly.
  x0 = start - (margin + 1) / 2
  x1 = stop - 1 + (margin + 1) / 2
  x = np.arange(start, stop)
  return day[start:stop] - (before + (after - before) * (x - x0) / (x1 - x0))


# ---------------------------------------------------------------------------------------------
# Backgrounds, splits and examples.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Backgrounds:
  """The background days of a recipe: `day(i)` gives the observed day i, (8640,) float64.

  names[i] names day i ("synthetic hkb day 12" or the date of the user's file); rejected lists
  the user's day files left out, with the reason.
  """

  num_days: int
  day: Callable[[int], np.ndarray]
  names: tuple[str, ...]
  rejected: tuple[tuple[str, str], ...] = ()


def backgrounds(recipe: SesRecipe) -> Backgrounds:
  """The recipe's background days, synthetic or from its background_dir."""
  if recipe.background_dir is None:
    n = recipe.num_days

    def synthetic(i: int) -> np.ndarray:
      if not 0 <= i < n:
        raise IndexError(f"day {i} outside 0..{n - 1}")
      return background_model.synthetic_day(recipe.station, i, recipe.seed)

    return Backgrounds(n, synthetic, tuple(f"synthetic {recipe.station} day {i}" for i in range(n)))
  records = geoelectric.load_day_directory(recipe.background_dir, on_bad_day="skip")
  n = len(records.days) if recipe.num_days is None else min(recipe.num_days, len(records.days))
  days = records.days[:n]
  return Backgrounds(
    n, lambda i: days[i], tuple(str(d) for d in records.dates[:n]), tuple(records.rejected)
  )


def split_assignment(recipe: SesRecipe, num_days: int) -> dict[str, np.ndarray]:
  """(day, repeat) pairs of each split, sorted by day then repeat; split -> (M, 2) int64.

  A seeded permutation shuffles the examples (or the days, with split_by="day"); the first
  round(test_fraction * count) go to "test", the rest to "train".
  """
  rng = np.random.default_rng([recipe.ses_seed, _SPLIT_SALT])
  days = np.arange(num_days)
  pairs = np.stack(np.meshgrid(days, np.arange(recipe.repeats), indexing="ij"), -1).reshape(-1, 2)
  if recipe.split_by == "example":
    order = rng.permutation(len(pairs))
    n_test = int(round(recipe.test_fraction * len(pairs)))
    is_test = np.zeros(len(pairs), dtype=bool)
    is_test[order[:n_test]] = True
  else:
    order = rng.permutation(num_days)
    n_test = int(round(recipe.test_fraction * num_days))
    is_test = np.isin(pairs[:, 0], order[:n_test])
  out = {"test": pairs[is_test]}
  if "train" in recipe.split_names:
    out["train"] = pairs[~is_test]
  return out


def make_example(
  observed: np.ndarray,
  cleaned: np.ndarray,
  draw: SesDraw,
  day_id: int,
  repeat: int,
  rise_samples: int = 0,
) -> dict[str, np.ndarray]:
  """One example: observed + SES as input, cleaned + the same SES as target (float32)."""
  ses = ses_waveform(draw, rise_samples, observed.size)
  return {
    "input": (observed + ses).astype(np.float32),
    "target": (cleaned + ses).astype(np.float32),
    "ses_start": np.int32(draw.start),
    "ses_duration": np.int32(draw.duration),
    "ses_amplitude": np.float32(draw.amplitude),
    "day_id": np.int32(day_id),
    "repeat": np.int32(repeat),
  }


def example_key(day: int, repeat: int) -> str:
  """The tfds key of an example."""
  return f"d{day:05d}_r{repeat:03d}"


def iter_examples(
  recipe: SesRecipe, split: str, source: Backgrounds | None = None
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
  """(key, example) of a split, day by day (each background day is made and cleaned once)."""
  source = backgrounds(recipe) if source is None else source
  assignment = split_assignment(recipe, source.num_days)
  if split not in assignment:
    raise KeyError(f"no split {split!r}; this recipe has {sorted(assignment)}")
  pairs = assignment[split]
  bounds = np.flatnonzero(np.diff(pairs[:, 0])) + 1
  for group in np.split(pairs, bounds):
    if not len(group):
      continue
    day = int(group[0, 0])
    observed = source.day(day)
    cleaned = filters.clean_day(observed, recipe.cleaning)
    for repeat in group[:, 1]:
      rng = np.random.default_rng([recipe.ses_seed, day, int(repeat)])
      draw = draw_ses(rng, recipe, observed.size)
      yield (
        example_key(day, int(repeat)),
        make_example(observed, cleaned, draw, day, int(repeat), recipe.rise_samples),
      )


def stack_examples(examples: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """A list of example dicts as a dict of stacked arrays with the dataset's dtypes."""
  return {
    name: np.stack([np.asarray(e[name]) for e in examples]).astype(dtype, copy=False)
    for name, dtype in FEATURE_DTYPES.items()
  }


def examples_in_memory(recipe: SesRecipe, split: str) -> dict[str, np.ndarray]:
  """A whole split as stacked arrays, made directly (no tfds): input/target (M, 8640), ..."""
  examples = [example for _, example in iter_examples(recipe, split)]
  if not examples:
    raise ValueError(f"split {split!r} of this recipe is empty")
  return stack_examples(examples)


def multi_dipole_examples(
  recipe: SesRecipe, num_days: int, num_dipoles: int = 3, first_day: int = 0
) -> dict[str, np.ndarray]:
  """Days of several dipoles of the recipe's station with one SES seen by every dipole (FastICA baseline).

  Day d (first_day <= d < first_day + num_days) gets one SES drawn as for the recipe; dipole 0 sees it
  with gain 1 (so ses_amplitude is in dipole 0's units), dipole k > 0 with a gain of random sign and size
  0.5-1.5 (the real Jan-1999 SESs differ in size and sign between dipoles). Backgrounds come from
  `background_model.multi_dipole_days`. Returns input (num_days, num_dipoles, T) float32 and ses_start,
  ses_duration, ses_amplitude (num_days,).
  """
  if recipe.background_dir is not None:
    raise ValueError(
      "multi-dipole examples need the synthetic background model (one dipole per user file)"
    )
  inputs, starts, durations, amplitudes = [], [], [], []
  for day in range(first_day, first_day + num_days):
    rng = np.random.default_rng([recipe.ses_seed, _MULTI_DIPOLE, day])
    draw = draw_ses(rng, recipe)
    gains = np.concatenate(
      [[1.0], rng.uniform(0.5, 1.5, num_dipoles - 1) * rng.choice([-1.0, 1.0], num_dipoles - 1)]
    )
    observed = background_model.multi_dipole_days(recipe.station, day, num_dipoles, recipe.seed)
    inputs.append(observed + gains[:, None] * ses_waveform(draw, recipe.rise_samples)[None, :])
    starts.append(draw.start)
    durations.append(draw.duration)
    amplitudes.append(draw.amplitude)
  return {
    "input": np.asarray(inputs, np.float32),
    "ses_start": np.asarray(starts, np.int32),
    "ses_duration": np.asarray(durations, np.int32),
    "ses_amplitude": np.asarray(amplitudes, np.float32),
  }

"""tfds builder of the synthetic SES dataset (Wang et al., LSTM-autoencoder SES paper, sec. II-B).

`load_ses_split` reads a split into memory, building the dataset first when it is missing.

Builds array_record files that read back without TensorFlow (`builder.as_data_source()`).
One example = one day of 0.1 Hz geoelectric field with one embedded SES; the features are
  input (8640,) float32     observed day + SES, mV/km
  target (8640,) float32    cleaned day + the same SES (Savitzky-Golay, then moving average)
  ses_start int32           first sample of the SES (0 = 00:00:00, 10 s per sample)
  ses_duration int32        SES length in samples (6 per minute)
  ses_amplitude float32     signed amplitude, mV/km
  day_id int32              index of the background day
  repeat int32              index of the SES draw on that day
The recipe of each config (precursor_jax.synthetic.ses.SesRecipe) is stored in the dataset's
metadata.json, as are the rejected days of a user's background directory.

Configs (each also as "<name>_small": 200 background days instead of the paper's 709):
  hkb, mts, ota    station sets: 25-30 min, 10-15 mV/km, x30 draws per day, train/test 9:1
  small_ses        HKB retraining set: 10-15 min, 6-8 mV/km, x30, train/test 9:1
  amp_06 .. amp_30 HKB amplitude sweep (6, 8, 10, 15, 20, 25, 30 mV/km) at 25 min, one SES per
                   day, a single "test" split (the paper's Fig. 8a)
  dur_10 .. dur_50 HKB duration sweep (10, 15, ..., 50 min) at 15 mV/km, as above (Fig. 8b)

A user's own background days (a directory of YYYYMMDD.txt files, see
precursor_jax.data.geoelectric.read_day_file) go in a config made at run time:

  config = make_config("hkb_real", background_dir="/data/hkb_days", num_days=None)
  builder = SesSynthetic(config=config, data_dir="/tmp/tfds")
  builder.download_and_prepare()
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import zlib

import numpy as np
import tensorflow_datasets as tfds
import tqdm
from etils import epath
from tensorflow_datasets.core import shuffle as tfds_shuffle

from precursor_jax.core.constants import (
  AMPLITUDE_SWEEP_MV_KM,
  DURATION_SWEEP_MIN,
  GEOELECTRIC_DAY_SAMPLES,
)
from precursor_jax.synthetic import ses as synthetic_ses

PAPER_DAYS = 709  # HKB 1999-2000 after the paper's data cleaning
TRANSFER_DAYS = 357  # HKB 2001: 9,639 + 1,071 = 10,710 examples = 357 days x 30
SMALL_DAYS = 200  # the laptop preset: ~15 s to build, enough days that the network does not overfit
_HOMEPAGE = "https://doi.org/10.1109/TGRS.2023.3269053"
_CITATION = """\
@article{wang2023lstmses,
  title   = {Detection of Seismic Electric Signals Using an LSTM-Autoencoder Network},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  year    = {2023},
  note    = {The seed paper 003 of precursor_jax; data synthesised, not from the paper.}
}"""


@dataclasses.dataclass(eq=False)
class SesConfig(tfds.core.BuilderConfig):
  """A BuilderConfig that carries one SesRecipe."""

  recipe: synthetic_ses.SesRecipe = dataclasses.field(default_factory=synthetic_ses.SesRecipe)


def make_config(name: str, description: str | None = None, **recipe_fields) -> SesConfig:
  """A config named `name` whose recipe takes `recipe_fields`; the SES seed defaults to the name's.

  Fields: see SesRecipe (station, num_days, repeats, amplitude_mv_km, duration_min, polarity,
  rise_samples, test_fraction, split_by, seed, ses_seed, background_dir, cleaning).
  """
  recipe_fields.setdefault("ses_seed", synthetic_ses.stable_seed(name))
  recipe = synthetic_ses.SesRecipe(**recipe_fields)
  if description is None:
    source = (
      f"days from {recipe.background_dir}"
      if recipe.background_dir
      else f"{recipe.num_days} synthetic {recipe.station.upper()} days"
    )
    description = (
      f"{source}; x{recipe.repeats} SES of {recipe.amplitude_mv_km[0]:g}-"
      f"{recipe.amplitude_mv_km[1]:g} mV/km, {recipe.duration_min[0]:g}-"
      f"{recipe.duration_min[1]:g} min; splits {'/'.join(recipe.split_names)}"
    )
  return SesConfig(name=name, description=description, recipe=recipe)


def with_background_dir(config: str | SesConfig, background_dir: str) -> SesConfig:
  """A config with the recipe of `config` but the days of a user's directory as backgrounds.

  Its name, "<config>_bg<8 hex digits of the directory's absolute path>", keeps builds of
  different directories apart; the recipe's num_days becomes an upper bound on the days used.
  """
  base = config if isinstance(config, SesConfig) else SesSynthetic.builder_configs[config]
  path = os.path.abspath(background_dir)
  name = f"{base.name}_bg{zlib.crc32(path.encode('utf-8')):08x}"
  recipe = dataclasses.replace(base.recipe, background_dir=path)
  return SesConfig(
    name=name, description=f"{base.description}; backgrounds from {path}", recipe=recipe
  )


def resized(
  config: str | SesConfig, num_days: int | None = None, repeats: int | None = None
) -> SesConfig:
  """`config` with fewer (or more) background days or SES draws per day, under its own name
  ("<config>_<days>d<repeats>r"), e.g. for smoke runs and tests; SES draws keep the base config's seed."""
  base = config if isinstance(config, SesConfig) else SesSynthetic.builder_configs[config]
  changes = {k: v for k, v in (("num_days", num_days), ("repeats", repeats)) if v is not None}
  if not changes:
    return base
  recipe = dataclasses.replace(base.recipe, **changes)
  name = f"{base.name}_{recipe.num_days}d{recipe.repeats}r"
  return SesConfig(
    name=name,
    description=f"{base.description}; resized to {recipe.num_days} days x {recipe.repeats}",
    recipe=recipe,
  )


def validation_of(config: str | SesConfig, repeats: int) -> SesConfig:
  """A validation set for `config`: its background days with `repeats` fresh SES draws each (an SES
  seed of its own, so independent of both the train and the test split), one "test" split.

  Sweeps rank their trials on it, never on the test split.
  """
  base = config if isinstance(config, SesConfig) else SesSynthetic.builder_configs[config]
  if repeats < 1:
    raise ValueError(f"validation repeats must be >= 1, got {repeats}")
  name = f"{base.name}_val{repeats}r"
  recipe = dataclasses.replace(
    base.recipe, repeats=repeats, test_fraction=1.0, ses_seed=synthetic_ses.stable_seed(name)
  )
  return SesConfig(
    name=name,
    description=f"{base.description}; validation: x{repeats} new SES draws",
    recipe=recipe,
  )


def _paper_configs() -> list[SesConfig]:
  """The station sets, the small-SES set, the 2001 transfer set and the sweep sets, each at two sizes."""
  configs = []
  for suffix, days in (("", PAPER_DAYS), ("_small", SMALL_DAYS)):
    for station in ("hkb", "mts", "ota"):
      configs.append(make_config(station + suffix, station=station, num_days=days))
    configs.append(
      make_config(
        "small_ses" + suffix, num_days=days, amplitude_mv_km=(6.0, 8.0), duration_min=(10.0, 15.0)
      )
    )
    # "Newly acquired" HKB days for the transfer study (the paper: HKB 2001, 9,639 + 1,071 examples):
    # another year of synthetic days (background seed 2001), same station model and SES ranges.
    configs.append(
      make_config(
        "hkb_2001" + suffix,
        station="hkb",
        seed=2001,
        num_days=TRANSFER_DAYS if suffix == "" else days,
      )
    )
    for amp in AMPLITUDE_SWEEP_MV_KM:
      configs.append(
        make_config(
          f"amp_{amp:02d}{suffix}",
          num_days=days,
          repeats=1,
          amplitude_mv_km=(amp, amp),
          duration_min=(25.0, 25.0),
          test_fraction=1.0,
        )
      )
    for minutes in DURATION_SWEEP_MIN:
      configs.append(
        make_config(
          f"dur_{minutes:02d}{suffix}",
          num_days=days,
          repeats=1,
          amplitude_mv_km=(15.0, 15.0),
          duration_min=(minutes, minutes),
          test_fraction=1.0,
        )
      )
  return configs


class SesSynthetic(tfds.core.GeneratorBasedBuilder):
  """Synthetic SES embedded in 0.1 Hz geoelectric days (synthetic or the user's own)."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
    "1.0.0": "First release.",
    "1.1.0": "Targets cleaned with one-hour windows (were 10 minutes), see signal/filters.py.",
  }
  BUILDER_CONFIGS = _paper_configs()
  DEFAULT_CONFIG_NAME = "hkb_small"

  def __init__(self, *, file_format: str = "array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def download_and_prepare(self, *args, **kwargs):
    """tfds' download_and_prepare; without TensorFlow, the shuffle buffer stays in memory."""
    with _shuffle_in_memory_without_tensorflow():
      super().download_and_prepare(*args, **kwargs)

  # tfds 4.9.10 looks the code path up through `importlib_resources`, a package it only declares
  # for Python < 3.9; naming the file directly needs no extra dependency.
  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    day = (GEOELECTRIC_DAY_SAMPLES,)
    recipe = self.builder_config.recipe
    metadata = tfds.core.MetadataDict(recipe=_jsonable(dataclasses.asdict(recipe)))
    return tfds.core.DatasetInfo(
      builder=self,
      description=(
        "One day (8640 samples, 0.1 Hz, mV/km) of geoelectric field with one "
        "rectangular SES: input = observed + SES, target = cleaned + SES. "
        + self.builder_config.description
      ),
      features=tfds.features.FeaturesDict(
        {
          "input": tfds.features.Tensor(shape=day, dtype=np.float32),
          "target": tfds.features.Tensor(shape=day, dtype=np.float32),
          "ses_start": tfds.features.Scalar(dtype=np.int32),
          "ses_duration": tfds.features.Scalar(dtype=np.int32),
          "ses_amplitude": tfds.features.Scalar(dtype=np.float32),
          "day_id": tfds.features.Scalar(dtype=np.int32),
          "repeat": tfds.features.Scalar(dtype=np.int32),
        }
      ),
      homepage=_HOMEPAGE,
      citation=_CITATION,
      metadata=metadata,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    recipe = self.builder_config.recipe
    source = synthetic_ses.backgrounds(recipe)
    if recipe.background_dir is not None:
      self.info.metadata["background_days"] = list(source.names)
      self.info.metadata["rejected_days"] = [list(r) for r in source.rejected]
      print(
        f"ses_synthetic: {source.num_days} background days from {recipe.background_dir}, "
        f"{len(source.rejected)} rejected"
      )
      for name, reason in source.rejected:
        print(f"ses_synthetic: rejected {name}: {reason}")
    return {split: self._generate_examples(recipe, split, source) for split in recipe.split_names}

  def _generate_examples(self, recipe, split, source):
    yield from synthetic_ses.iter_examples(recipe, split, source)


def load_ses_split(
  config: str | SesConfig,
  split: str,
  data_dir: str | None = None,
  *,
  background_dir: str | None = None,
  build_if_missing: bool = True,
  batch_size: int = 512,
) -> dict[str, np.ndarray]:
  """A split of a tfds ses_synthetic config in memory, sorted by (day_id, repeat).

  Returns input/target (M, 8640) float32, ses_start, ses_duration, day_id, repeat (M,) int32 and
  ses_amplitude (M,) float32. config: a config name ("hkb_small", "amp_06", ...) or a SesConfig;
  with background_dir, the config's recipe on the user's day files (`with_background_dir`).
  data_dir None is the tfds default (~/tensorflow_datasets). A missing dataset is built first
  (tfds shows progress bars) unless build_if_missing is False (then FileNotFoundError). Reads
  through the TensorFlow-free ArrayRecordDataSource in batches; the paper-scale train split is
  about 1.3 GB.
  """
  if background_dir is not None:
    config = with_background_dir(config, background_dir)
  builder = SesSynthetic(config=config, data_dir=data_dir)
  name = builder.builder_config.name
  if not builder.is_prepared():
    if not build_if_missing:
      raise FileNotFoundError(
        f"ses_synthetic/{name} is not built in {builder.data_dir}; build it with: python -m "
        f"data_builders.ses_synthetic.build --config={name} --data_dir=DIR"
      )
    builder.download_and_prepare()
  if split not in builder.info.splits:
    raise KeyError(f"ses_synthetic/{name} has splits {sorted(builder.info.splits)}, not {split!r}")
  source = builder.as_data_source(split=split)
  count = len(source)
  out = {
    key: np.empty(
      (count, GEOELECTRIC_DAY_SAMPLES) if key in ("input", "target") else (count,), dtype
    )
    for key, dtype in synthetic_ses.FEATURE_DTYPES.items()
  }
  for lo in tqdm.trange(
    0, count, batch_size, desc=f"reading {name}/{split}", unit="batch", leave=False
  ):
    batch = source.__getitems__(list(range(lo, min(lo + batch_size, count))))
    for key, array in out.items():
      array[lo : lo + len(batch)] = [example[key] for example in batch]
  # A canonical order that does not depend on how tfds shuffled the records.
  order = np.lexsort((out["repeat"], out["day_id"]))
  return {key: array[order] for key, array in out.items()}


@contextlib.contextmanager
def _shuffle_in_memory_without_tensorflow():
  """Lets tfds keep a split's records in memory however large it is, when TF is missing.

  tfds' writer spills a split of more than 1 GB (tfds.core.shuffle.MAX_MEM_BUFFER_SIZE) to
  temporary files through tf.io.gfile, i.e. it needs TensorFlow; the paper-scale train split is
  about 1.3 GB. Without TensorFlow the limit is lifted for the build, so the build needs memory
  for its largest split (the same as load_ses_split needs to read it). The records and their
  order are the same either way.
  """
  if importlib.util.find_spec("tensorflow") is not None:
    yield
    return
  saved = tfds_shuffle.MAX_MEM_BUFFER_SIZE
  tfds_shuffle.MAX_MEM_BUFFER_SIZE = 1 << 62
  try:
    yield
  finally:
    tfds_shuffle.MAX_MEM_BUFFER_SIZE = saved


def _jsonable(value):
  """Tuples to lists, recursively, for metadata.json."""
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  return value

"""Builds ses_synthetic configs (array_record, no TensorFlow needed).

  python -m data_builders.ses_synthetic.build --config=hkb_small --data_dir=/tmp/tfds
  python -m data_builders.ses_synthetic.build --config=all_small --data_dir=/tmp/tfds
  python -m data_builders.ses_synthetic.build --config=hkb --background_dir=/data/hkb_days \\
      --data_dir=/tmp/tfds

--config takes config names separated by commas, or "all_small" / "all_paper" for every config
of one size. With --background_dir each config is built on the user's day files instead of the
synthetic model (see precursor_jax.data.geoelectric.read_day_file for the format).

Mistakes are one line on stderr and exit status 2, before anything is built: a --config that
names no config, an unknown or repeated name (the nearest names and the list of known ones), a
--data_dir that is a file or cannot be created, a --background_dir that is not a directory.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Sequence

import tensorflow_datasets as tfds

from data_builders.ses_synthetic.ses_synthetic import SesSynthetic, with_background_dir
from precursor_jax import cli
from precursor_jax.config_checks import ConfigError, directory_problem, unknown_name


def config_names(spec: str) -> list[str]:
  """The config names of a --config value; ConfigError for an empty, unknown or repeated name."""
  known = list(SesSynthetic.builder_configs)
  if spec == "all_small":
    return [n for n in known if n.endswith("_small")]
  if spec == "all_paper":
    return [n for n in known if not n.endswith("_small")]
  names = [n.strip() for n in spec.split(",")]
  if not any(names) or not all(names):
    raise ConfigError(
      f"--config={spec!r}: expected config names separated by commas (no empty name), "
      "all_small or all_paper"
    )
  for name in names:
    if name not in known:
      raise unknown_name("--config", name, known, "ses_synthetic config")
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise ConfigError(f"--config={spec!r} names {', '.join(repeated)} more than once")
  return names


def check_directories(data_dir: str | None, background_dir: str | None) -> None:
  """ConfigError for a data directory (--data_dir, else the tfds default) that is a file or cannot
  be created, or a --background_dir that is not a directory (nothing is created)."""
  where = f"--data_dir={data_dir}" if data_dir is not None else "the tfds data directory"
  problem = directory_problem(
    tfds.core.constants.get_default_data_dir() if data_dir is None else data_dir
  )
  if problem:
    raise ConfigError(f"{where}: {problem}; expected a directory for the datasets")
  if background_dir is not None and not pathlib.Path(background_dir).expanduser().is_dir():
    raise ConfigError(
      f"--background_dir={background_dir}: expected an existing directory of day files"
    )


def main(argv: Sequence[str] | None = None) -> None:
  """Builds the configs of the command line (see the module doc)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--data_dir", default=None, help="default: the tfds data directory")
  parser.add_argument("--background_dir", default=None)
  args = parser.parse_args(argv)
  try:
    names = config_names(args.config)
    check_directories(args.data_dir, args.background_dir)
    for name in names:
      build(name, args.data_dir, args.background_dir)
  except cli.USER_ERRORS as error:
    sys.exit(cli.report(error))


def build(name: str, data_dir: str | None, background_dir: str | None) -> None:
  """Builds one config (on the day files of background_dir when given) and prints its counts."""
  config = (
    with_background_dir(name, background_dir)
    if background_dir
    else SesSynthetic.builder_configs[name]
  )
  builder = SesSynthetic(config=config, data_dir=data_dir)
  start = time.perf_counter()
  builder.download_and_prepare()
  counts = {split: info.num_examples for split, info in builder.info.splits.items()}
  print(f"{config.name}: {counts} in {builder.data_dir} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
  main()

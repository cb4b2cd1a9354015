"""Builds ses_synthetic configs (array_record, no TensorFlow needed).

  python -m data_builders.ses_synthetic.build --config=hkb_small --data_dir=/tmp/tfds
  python -m data_builders.ses_synthetic.build --config=all_small --data_dir=/tmp/tfds
  python -m data_builders.ses_synthetic.build --config=hkb --background_dir=/data/hkb_days \\
      --data_dir=/tmp/tfds

--config takes config names separated by commas, or "all_small" / "all_paper" for every config
of one size. With --background_dir each config is built on the user's day files instead of the
synthetic model (see precursor_jax.data.geoelectric.read_day_file for the format).
"""

from __future__ import annotations

import argparse
import time

from data_builders.ses_synthetic.ses_synthetic import SesSynthetic, with_background_dir


def config_names(spec: str) -> list[str]:
  """The config names of a --config value."""
  known = list(SesSynthetic.builder_configs)
  if spec == "all_small":
    return [n for n in known if n.endswith("_small")]
  if spec == "all_paper":
    return [n for n in known if not n.endswith("_small")]
  names = [n.strip() for n in spec.split(",") if n.strip()]
  unknown = [n for n in names if n not in known]
  if unknown:
    raise SystemExit(f"unknown config(s) {unknown}; known: {', '.join(known)}")
  return names


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--data_dir", default=None, help="default: the tfds data directory")
  parser.add_argument("--background_dir", default=None)
  args = parser.parse_args()
  for name in config_names(args.config):
    config = (
      with_background_dir(name, args.background_dir)
      if args.background_dir
      else SesSynthetic.builder_configs[name]
    )
    builder = SesSynthetic(config=config, data_dir=args.data_dir)
    start = time.perf_counter()
    builder.download_and_prepare()
    counts = {split: info.num_examples for split, info in builder.info.splits.items()}
    print(f"{config.name}: {counts} in {builder.data_dir} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
  main()

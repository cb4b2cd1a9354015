"""The synthetic SES dataset (tfds): the builder, its configs, and `load_ses_split` to read a split."""

from data_builders.ses_synthetic.ses_synthetic import (
  SesConfig,
  SesSynthetic,
  load_ses_split,
  make_config,
  resized,
  validation_of,
  with_background_dir,
)

__all__ = [
  "SesConfig",
  "SesSynthetic",
  "load_ses_split",
  "make_config",
  "resized",
  "validation_of",
  "with_background_dir",
]

"""The synthetic SES dataset (tfds); precursor_jax.data.synthetic_ses.load_ses_split reads it."""

from data_builders.ses_synthetic.ses_synthetic import (
  SesConfig,
  SesSynthetic,
  make_config,
  with_background_dir,
)

__all__ = ["SesConfig", "SesSynthetic", "make_config", "with_background_dir"]

"""Retraining on small SES (paper section V-C, Fig. 9): HKB days with 6-8 mV/km, 10-15 min SES.

COMMAND (paper scale): python -m precursor_jax.train --config configs/ses_small_ses.py:paper --workdir runs/small_ses
COMMAND (laptop):      python -m precursor_jax.train --config configs/ses_small_ses.py
The paper-scale run is evaluated on the amplitude and duration sweeps; the paper reports success rising from
32.5% / 67.4% to 81.1% / 89.7% at 6 / 8 mV/km and from 14.9% to 90.2% at 10 min after retraining.
"""

from precursor_jax import config_base

PRESETS = config_base.PRESETS  # small (laptop, the default) and paper


def get_config(arg: str = "small"):
  dataset = "small_ses" if arg == "paper" else "small_ses_small"
  return config_base.ses_config(station="hkb", preset=arg, dataset=dataset)

"""SES detection at the MTS station with the LSTM-autoencoder (Xue et al. 2022).

COMMAND (laptop preset): python -m precursor_jax.train --config configs/ses_mts.py
COMMAND (paper scale):   python -m precursor_jax.train --config configs/ses_mts.py:paper --workdir runs/mts_paper
Same network and training as configs/ses_hkb.py; the synthetic MTS background has moderate train noise
(precursor_jax/data/geoelectric.py). Paper: about 96% real-SES success at MTS (Table I).
"""

from precursor_jax import config_base

PRESETS = config_base.PRESETS  # small (laptop, the default) and paper


def get_config(arg: str = "small"):
  return config_base.ses_config(station="mts", preset=arg)

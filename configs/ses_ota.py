"""SES detection at the OTA station with the LSTM-autoencoder (Xue et al. 2022).

COMMAND (laptop preset): python -m precursor_jax.train --config configs/ses_ota.py
COMMAND (paper scale):   python -m precursor_jax.train --config configs/ses_ota.py:paper --workdir runs/ota_paper
Same network and training as configs/ses_hkb.py; the synthetic OTA background has weak train noise
(precursor_jax/data/geoelectric.py). Paper: about 96% real-SES success at OTA (Table I).
"""

from precursor_jax import config_base

PRESETS = config_base.PRESETS  # small (laptop, the default) and paper


def get_config(arg: str = "small"):
  return config_base.ses_config(station="ota", preset=arg)

"""SES detection at Hakuba (HKB) with the LSTM-autoencoder (Xue et al. 2022).

COMMAND (laptop default: small synthetic HKB set, ~10 min on 2 CPU cores, prints the success rate):
  python -m precursor_jax.train --config configs/ses_hkb.py
COMMAND (paper scale: 709 days x 30 SES, batch 128, 100 epochs; for accelerators, all devices used):
  python -m precursor_jax.train --config configs/ses_hkb.py:paper --workdir /tmp/ses_hkb_paper
Overrides: --config.num_epochs=5 --config.model.name=gru_ae --config.dataset.data_dir=/data/tfds
Expected: see benchmarks/RESULTS.md (paper: 97.6% success, RMSPE 3.3% on the HKB test split).
"""

from precursor_jax import config_base

PRESETS = config_base.PRESETS  # small (laptop, the default) and paper


def get_config(arg: str = "small"):
  return config_base.ses_config(station="hkb", preset=arg)

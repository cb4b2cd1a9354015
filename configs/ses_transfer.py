"""Transfer learning to newly acquired HKB data (paper section V-D, Figs. 10-11: HKB 2001).

Initialises from another run's parameters (fresh optimizer) and trains on the "2001" HKB set (357 new days
x 30 SES). The paper: 71% success before transfer, 90% / 95% / 97% after 6 / 16 / 24 epochs.

COMMAND (after a paper-scale HKB run in runs/hkb_paper):
  python -m precursor_jax.train --config configs/ses_transfer.py:paper --config.init_from=runs/hkb_paper \
      --workdir runs/hkb_transfer
COMMAND (laptop, after the README's main command):
  python -m precursor_jax.train --config configs/ses_transfer.py \
      --config.init_from=~/.cache/precursor_jax/workdirs/ses_hkb
"""

from precursor_jax import config_base

PRESETS = config_base.PRESETS  # small (laptop, the default) and paper


def get_config(arg: str = "small"):
  config = config_base.ses_config(
    station="hkb", preset=arg, dataset="hkb_2001" if arg == "paper" else "hkb_2001_small"
  )
  config.num_epochs = 24 if arg == "paper" else 6
  config.eval.studies = ()
  return config

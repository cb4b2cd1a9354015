"""Pyraformer on ETTh1, the paper's long-range setting (Liu et al., ICLR 2022, Table 3).

COMMAND (horizon 168, ~25 min per 5-epoch run on 2 CPU cores; needs the ETT CSV):
  python -m precursor_jax.train --config configs/pyraformer_etth1.py --config.dataset.path=/data/ETTh1.csv
COMMAND (other horizons, paper's five repeats):
  python -m precursor_jax.train --config configs/pyraformer_etth1.py:336 --config.repeats=5
  python -m precursor_jax.train --config configs/pyraformer_etth1.py:720
Baselines with the same contract (the VMD-Pyraformer paper's Table 2 comparison):
  python -m precursor_jax.train --config configs/pyraformer_etth1.py --config.model.name=lstm   (gru, transformer)
The data path defaults to ../shared/data/ett/ETTh1.csv (a development checkout); ETTh1.csv comes from
github.com/zhouhaoyi/ETDataset (ETT-small). Expected (paper Table 3, MSE/MAE): 168: 0.808/0.683,
336: 0.945/0.766, 720: 1.022/0.806; our numbers and wall times are in benchmarks/RESULTS.md.
"""

from precursor_jax import config_base

PRESETS = tuple(str(h) for h in config_base.ETTH1_SETTINGS)  # the forecast horizon


def get_config(arg: str = "168"):
  return config_base.forecast_config(model="pyraformer", horizon=int(arg))

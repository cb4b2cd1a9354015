"""Learning rates of the Pyraformer ETTh1 setting, ranked by validation MSE (never the test split).

COMMAND (needs the ETT CSV; ~3x one 5-epoch run on 2 CPU cores):
  python -m precursor_jax.sweep --config configs/pyraformer_etth1.py --sweep configs/sweeps/forecast_lr.py
"""


def get_sweep():
  return {"grid": {"learning_rate": [5e-5, 1e-4, 2e-4]}}

"""Learning rate x seed for the SES laptop preset: 6 trials, stacked and trained by one vmapped step.

COMMAND (about 3x the time of one laptop run on 2 CPU cores; ranks by validation success):
  python -m precursor_jax.sweep --config configs/ses_hkb.py --sweep configs/sweeps/ses_lr_seed.py

A sweep file's get_sweep() returns one of (precursor_jax/tasks/sweeps.py):
  {"grid": {field: [values]}}                                        every combination
  {"random": {field: (distribution, ...)}, "count": N, "seed": S}    N seeded draws
  {"trials": [{field: value, ...}, ...]}                             an explicit list
with dotted config field names ("model.lstm_ae.encoder_features").
"""


def get_sweep():
  return {"grid": {"learning_rate": [1e-3, 2e-3, 4e-3], "seed": [0, 1]}}

"""A random search over learning rate and encoder width for the SES laptop preset: 8 trials.

Trials that share the encoder width are stacked and vmapped together; each width is its own group.

COMMAND:
  python -m precursor_jax.sweep --config configs/ses_hkb.py --sweep configs/sweeps/ses_sizes_random.py
"""


def get_sweep():
  return {
    "random": {
      "learning_rate": ("log_uniform", 5e-4, 5e-3),
      "model.lstm_ae.encoder_features": ("choice", [64, 128]),
    },
    "count": 8,
    "seed": 0,
  }

"""Base configs that the files in configs/ specialise (one place for the papers' training settings).

Presets: "small" (laptop: the station's small synthetic set, few epochs) and "paper" (709 days x 30 SES,
100 epochs, the paper's batch size, learning rate and decay).
"""

import ml_collections

PRESETS = ("small", "paper")
AMPLITUDE_STUDIES = tuple(f"amp_{a:02d}" for a in (6, 8, 10, 12, 15, 20, 25, 30))
DURATION_STUDIES = tuple(f"dur_{d:02d}" for d in (10, 15, 20, 25, 30, 40, 50))


def ses_config(station: str, preset: str = "small", dataset: str | None = None) -> ml_collections.ConfigDict:
  """The SES training config for `station` (hkb, mts, ota) at a preset; `dataset` overrides the tfds config."""
  if preset not in PRESETS:
    raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
  small = preset == "small"
  c = ml_collections.ConfigDict()
  c.task = "ses"
  c.seed = 0

  c.dataset = ml_collections.ConfigDict()
  c.dataset.config = dataset or (f"{station}_small" if small else station)
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)        # None: tfds default (~/tensorflow_datasets)
  c.dataset.background_dir = ml_collections.config_dict.placeholder(str)  # a directory of real daily records
  c.dataset.day_samples = 8640

  c.model = ml_collections.ConfigDict()
  c.model.name = "lstm_ae"   # lstm_ae | lstm_ae_no_attention | gru_ae | fc_ae | fct_ae
  c.model.scale = 10.0       # mV/km; days are centred on their median and divided by this
  # Sizes per network family (the variants lstm_ae_no_attention and gru_ae use the lstm_ae block).
  c.model.lstm_ae = ml_collections.ConfigDict(dict(
      bidirectional_features=512, encoder_features=256, decoder_features=512,
      attention_output="reweight", unroll=1))
  c.model.fc_ae = ml_collections.ConfigDict(dict(channels=(16, 32, 64, 128), strides=(10, 4, 4, 3)))
  c.model.fct_ae = ml_collections.ConfigDict(dict(hidden=(1024, 256, 1024)))

  # The paper: Adam 1e-3 with inverse-time decay 8e-6 per step, batch 128, 100 epochs, MSE + weight penalty.
  c.batch_size = 128
  c.num_epochs = 12 if small else 100
  c.learning_rate = 1e-3
  c.lr_decay = 8e-6
  c.weight_penalty = 1e-7
  c.bias_penalty = 0.0
  c.adam_eps = 1e-7          # Keras' default, which the paper used

  c.detection = ml_collections.ConfigDict(dict(block=30, window_blocks=25, smooth=5, level=0.5))

  c.eval = ml_collections.ConfigDict()
  c.eval.train_examples = 512           # training days scored after every epoch (paper Fig. 5 curve)
  c.eval.studies = () if small else AMPLITUDE_STUDIES + DURATION_STUDIES
  c.eval.figure_examples = 4

  c.init_from = ml_collections.config_dict.placeholder(str)  # another run's workdir (transfer learning)
  c.num_devices = ml_collections.config_dict.placeholder(int)  # None: every visible device
  c.log_every_steps = 20 if small else 50
  c.checkpoint_every_steps = 200
  c.stop_after_step = ml_collections.config_dict.placeholder(int)  # testing: stop early as if killed
  return c

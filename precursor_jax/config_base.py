"""Base configs that the files in configs/ specialise (one place for the papers' training settings).

Presets: "small" (laptop: the station's small synthetic set of 200 days x 30 SES, a 128-unit network,
~8,000 steps of batch 32; about 10 minutes on 2 CPU cores) and "paper" (709 days x 30 SES, the paper's
network sizes, batch size, learning rate and decay, 100 epochs).
"""

import ml_collections

from precursor_jax.data.synthetic_ses import AMPLITUDE_SWEEP_MV_KM, DURATION_SWEEP_MIN

PRESETS = ("small", "paper")
# The sweep sets of the ses_synthetic builder (one place: the values live beside the SES generator).
AMPLITUDE_STUDIES = tuple(f"amp_{a:02d}" for a in AMPLITUDE_SWEEP_MV_KM)
DURATION_STUDIES = tuple(f"dur_{d:02d}" for d in DURATION_SWEEP_MIN)


def ses_config(
  station: str, preset: str = "small", dataset: str | None = None
) -> ml_collections.ConfigDict:
  """The SES training config for `station` (hkb, mts, ota) at a preset; `dataset` overrides the tfds config."""
  if preset not in PRESETS:
    raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
  small = preset == "small"
  c = ml_collections.ConfigDict()
  c.task = "ses"
  c.seed = 0

  c.dataset = ml_collections.ConfigDict()
  c.dataset.config = dataset or (f"{station}_small" if small else station)
  c.dataset.data_dir = ml_collections.config_dict.placeholder(
    str
  )  # None: tfds default (~/tensorflow_datasets)
  c.dataset.background_dir = ml_collections.config_dict.placeholder(
    str
  )  # a directory of real daily records
  c.dataset.day_samples = 8640
  c.dataset.num_days = ml_collections.config_dict.placeholder(
    int
  )  # None: the named dataset's own size
  c.dataset.repeats = ml_collections.config_dict.placeholder(int)  # SES draws per day (idem)

  c.model = ml_collections.ConfigDict()
  c.model.name = "lstm_ae"  # lstm_ae | lstm_ae_no_attention | gru_ae | fc_ae | fct_ae
  c.model.scale = 10.0  # mV/km; days are centred on their median and divided by this
  # Sizes per network family (the variants lstm_ae_no_attention and gru_ae use the lstm_ae block). The paper
  # preset has the paper's 512-unit bidirectional layer; the laptop preset 128 units everywhere (5x cheaper
  # steps, about the same progress per step; see benchmarks/RESULTS.md). Both decode one hour per decoder
  # step and keep LayerNorm off the recurrent outputs: with the last-state decoder and LayerNorm after each
  # recurrent layer the network stays on the "predict the day's mean" plateau for thousands of steps
  # (tests of this are in the lstm_ae docstring).
  width = 128 if small else 512
  c.model.lstm_ae = ml_collections.ConfigDict(
    dict(
      bidirectional_features=width,
      encoder_features=128 if small else 256,
      decoder_features=width,
      attention_output="reweight",
      decoder_output="per_step",
      step_positions=False,
      recurrent_layer_norm=False,
      unroll=1,
    )
  )
  c.model.fc_ae = ml_collections.ConfigDict(dict(channels=(16, 32, 64, 128), strides=(10, 4, 4, 3)))
  c.model.fct_ae = ml_collections.ConfigDict(dict(hidden=(1024, 256, 1024)))

  # The paper: Adam 1e-3 with inverse-time decay 8e-6 per step, batch 128, 100 epochs, MSE + weight penalty.
  c.batch_size = 32 if small else 128
  c.num_epochs = 48 if small else 100
  c.learning_rate = 2e-3 if small else 1e-3
  c.lr_decay = 8e-6
  c.weight_penalty = 1e-7
  c.bias_penalty = 0.0
  c.adam_eps = 1e-7  # Keras' default, which the paper used

  c.detection = ml_collections.ConfigDict(dict(block=30, window_blocks=25, smooth=5, level=0.5))

  c.eval = ml_collections.ConfigDict()
  c.eval.train_examples = (
    256 if small else 512
  )  # training days scored at each evaluation (paper Fig. 5)
  # The paper's Fig. 8 sweeps (one SES per HKB day); the laptop preset uses their 200-day "_small" sets.
  c.eval.studies = tuple(
    f"{name}_small" if small else name for name in AMPLITUDE_STUDIES + DURATION_STUDIES
  )
  c.eval.figure_examples = 4
  c.eval.embedded_anomalies = (
    3  # Table I: night anomalies cut from test days, embedded at 04, 13, 18 h
  )
  c.eval.embedding_days = 7  # ... into this many other test days
  c.eval.ica_days = 60 if small else 709  # multi-dipole days for the FastICA comparison (0: skip)

  c.init_from = ml_collections.config_dict.placeholder(
    str
  )  # another run's workdir (transfer learning)
  c.num_devices = ml_collections.config_dict.placeholder(int)  # None: every visible device
  c.eval_every_epochs = 10 if small else 1
  c.log_every_steps = 200 if small else 50
  c.checkpoint_every_steps = 1000 if small else 500
  c.stop_after_step = ml_collections.config_dict.placeholder(
    int
  )  # testing: stop early as if killed
  return c


# Official Pyraformer ETTh1 settings per horizon: (history L, inner size A), from scripts/Pyraformer_LR.sh.
ETTH1_SETTINGS = {168: (168, 3), 336: (168, 3), 720: (336, 5)}
FORECASTERS = ("pyraformer", "lstm", "gru", "transformer")


def forecast_config(
  model: str = "pyraformer", horizon: int = 168, path: str = "../shared/data/ett/ETTh1.csv"
) -> ml_collections.ConfigDict:
  """Long-range forecasting on ETT data with the Pyraformer paper's protocol (ETTh1 settings).

  Adam 1e-4 (PyTorch eps 1e-8), learning rate x0.1 after every epoch, 5 epochs, batch 32, MSE on the
  standardised scale, all 7 columns in and out; both the paper's and the honest protocol are reported.
  """
  if model not in FORECASTERS:
    raise ValueError(f"model must be one of {FORECASTERS}, got {model!r}")
  if horizon not in ETTH1_SETTINGS:
    raise ValueError(f"horizon must be one of {sorted(ETTH1_SETTINGS)}, got {horizon}")
  history, inner_size = ETTH1_SETTINGS[horizon]
  c = ml_collections.ConfigDict()
  c.task = "forecast"
  c.seed = 0
  c.repeats = 1  # the paper averages 5 runs
  c.dataset = ml_collections.ConfigDict(dict(path=path, history=history, horizon=horizon))
  c.dataset.borders = ml_collections.config_dict.placeholder(
    tuple
  )  # None: the paper's 12/4/4-month split

  c.model = ml_collections.ConfigDict()
  c.model.name = model
  c.model.pyraformer = ml_collections.ConfigDict(
    dict(
      d_model=512,
      d_inner=512,
      n_heads=6,
      d_k=128,
      d_v=128,
      n_layers=4,
      window_sizes=(4, 4, 4),
      inner_size=inner_size,
      d_bottleneck=128,
      dropout=0.05,
      attention="sparse",
      prune=True,
      remat=False,
    )
  )
  c.model.lstm = ml_collections.ConfigDict(dict(hidden=256, n_layers=2, dropout=0.05))
  c.model.gru = ml_collections.ConfigDict(dict(hidden=256, n_layers=2, dropout=0.05))
  c.model.transformer = ml_collections.ConfigDict(
    dict(d_model=256, n_heads=8, d_ff=512, n_encoder_layers=2, n_decoder_layers=1, dropout=0.05)
  )

  c.batch_size = 32
  c.eval_batch_size = 64
  c.num_epochs = 5
  c.learning_rate = 1e-4
  c.lr_epoch_gamma = 0.1
  c.adam_eps = 1e-8
  c.weight_penalty = 0.0

  c.init_from = ml_collections.config_dict.placeholder(str)
  c.num_devices = ml_collections.config_dict.placeholder(int)
  c.log_every_steps = 20
  c.checkpoint_every_steps = 200
  c.stop_after_step = ml_collections.config_dict.placeholder(int)
  return c

"""Base configs that the files in configs/ specialise: one place for the papers' settings.

Every field any part of the code reads is declared here (and read as `config.x`, never with a
default at the point of use), so `--config.x=...` can set it under `lock_config=True`;
tests/test_configs.py loads every file in configs/ at every preset and checks it.

This module imports nothing heavier than ml_collections: loading a config does not load the models,
the SES generator or scipy.

SES presets: "small" (laptop: the station's small synthetic set of 200 days x 30 SES, a 128-unit
network, ~8,000 steps of batch 32; about 10 minutes on 2 CPU cores) and "paper" (709 days x 30 SES,
the paper's network sizes, batch size, learning rate and decay, 100 epochs).
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

from precursor_jax.core.constants import AMPLITUDE_SWEEP_MV_KM, DURATION_SWEEP_MIN

PRESETS = ("small", "paper")
# The sweep sets of the ses_synthetic builder.
AMPLITUDE_STUDIES = tuple(f"amp_{a:02d}" for a in AMPLITUDE_SWEEP_MV_KM)
DURATION_STUDIES = tuple(f"dur_{d:02d}" for d in DURATION_SWEEP_MIN)


def training_fields(
  c: ml_collections.ConfigDict,
  *,
  batch_size: int,
  num_epochs: int,
  learning_rate: float,
  lr_decay: float = 0.0,
  lr_epoch_gamma: float = 1.0,
  weight_penalty: float = 0.0,
  bias_penalty: float = 0.0,
  adam_eps: float = 1e-8,
  log_every_steps: int = 50,
  checkpoint_every_steps: int = 500,
  eval_every_epochs: int = 1,
) -> None:
  """The fields the shared training wiring reads (training/wiring.py), declared on `c`."""
  c.seed = 0  # initial parameters and dropout
  c.data_seed = config_dict.placeholder(int)  # order of the training examples; None: seed
  c.batch_size = batch_size
  c.eval_batch_size = config_dict.placeholder(int)  # None: batch_size (evaluation and prediction)
  c.num_epochs = num_epochs
  # Adam whose rate lr_t = learning_rate / (1 + lr_decay t) * lr_epoch_gamma ** epoch (state.py).
  c.learning_rate = learning_rate
  c.lr_decay = lr_decay
  c.lr_epoch_gamma = lr_epoch_gamma
  c.adam_eps = adam_eps
  c.weight_penalty = weight_penalty  # L2 on kernels (and norm scales)
  c.bias_penalty = bias_penalty  # L2 on biases
  c.init_from = config_dict.placeholder(str)  # another run's workdir: start from its parameters
  c.num_devices = config_dict.placeholder(int)  # None: every visible device
  c.log_every_steps = log_every_steps
  c.checkpoint_every_steps = checkpoint_every_steps  # besides every epoch end
  c.checkpoints_to_keep = 2
  c.eval_every_epochs = eval_every_epochs  # the last epoch is always evaluated
  c.stop_after_step = config_dict.placeholder(int)  # testing: stop as if killed after this step


def ses_config(
  station: str, preset: str = "small", dataset: str | None = None
) -> ml_collections.ConfigDict:
  """The SES training config for `station` (hkb, mts, ota) at a preset; `dataset` overrides the tfds config."""
  if preset not in PRESETS:
    raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
  small = preset == "small"
  c = ml_collections.ConfigDict()
  c.task = "ses"

  c.dataset = ml_collections.ConfigDict()
  c.dataset.config = dataset or (f"{station}_small" if small else station)
  c.dataset.data_dir = config_dict.placeholder(str)  # None: tfds default (~/tensorflow_datasets)
  c.dataset.background_dir = config_dict.placeholder(str)  # a directory of real daily records
  c.dataset.num_days = config_dict.placeholder(int)  # None: the named dataset's own size
  c.dataset.repeats = config_dict.placeholder(int)  # SES draws per day (idem)
  # SES draws per day of the validation set: the same background days with fresh SES draws,
  # independent of the test split, for choosing among sweep trials (never the test split).
  c.dataset.validation_repeats = 3

  c.model = ml_collections.ConfigDict()
  c.model.name = "lstm_ae"  # lstm_ae | lstm_ae_no_attention | gru_ae | fc_ae | fct_ae
  c.model.scale = 10.0  # mV/km; days are centred on their mean and divided by this
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
  training_fields(
    c,
    batch_size=32 if small else 128,
    num_epochs=48 if small else 100,
    learning_rate=2e-3 if small else 1e-3,
    lr_decay=8e-6,
    weight_penalty=1e-7,
    adam_eps=1e-7,  # Keras' default, which the paper used
    log_every_steps=200 if small else 50,
    checkpoint_every_steps=1000 if small else 500,
    eval_every_epochs=10 if small else 1,
  )

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
  return c


# Official Pyraformer ETTh1 settings per horizon: (history L, inner size A), from scripts/Pyraformer_LR.sh.
ETTH1_SETTINGS = {168: (168, 3), 336: (168, 3), 720: (336, 5)}
FORECASTERS = ("pyraformer", "lstm", "gru", "transformer")


def forecaster_blocks(container: ml_collections.ConfigDict, pyraformer: dict) -> None:
  """The size block of every forecaster (models/registry.py) on `container`, Pyraformer's given."""
  container.pyraformer = ml_collections.ConfigDict(pyraformer)
  container.lstm = ml_collections.ConfigDict(dict(hidden=256, n_layers=2, dropout=0.05))
  container.gru = ml_collections.ConfigDict(dict(hidden=256, n_layers=2, dropout=0.05))
  container.transformer = ml_collections.ConfigDict(
    dict(d_model=256, n_heads=8, d_ff=512, n_encoder_layers=2, n_decoder_layers=1, dropout=0.05)
  )


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
  c.repeats = 1  # the paper averages 5 runs; repeats train together as a vmapped seed axis
  c.dataset = ml_collections.ConfigDict(dict(path=path, history=history, horizon=horizon))
  c.dataset.borders = config_dict.placeholder(tuple)  # None: the paper's 12/4/4-month split

  c.model = ml_collections.ConfigDict()
  c.model.name = model
  forecaster_blocks(
    c.model,
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
    ),
  )
  training_fields(
    c,
    batch_size=32,
    num_epochs=5,
    learning_rate=1e-4,
    lr_epoch_gamma=0.1,
    adam_eps=1e-8,
    log_every_steps=20,
    checkpoint_every_steps=200,
  )
  c.eval_batch_size = 64
  return c


# Method 1 (VMD-Pyraformer anomalies). The paper's day thresholds are 40-50 anomalous points of
# 1440 a day (geomagnetic) and 20-30 (strain); as fractions of the day they work at any rate.
DETECT_PRESETS = ("paper", "fast")


def station_pipeline(c: ml_collections.ConfigDict, fast: bool) -> None:
  """The fields of method 1 up to the daily verdicts, shared by detect and evaluate: stations,
  quality, VMD, forecaster, thresholds, storms (tasks/detect/pipeline.daily_outputs)."""
  # Stations: a JSON file holding a list of station objects, or the same list inline (tasks/detect/
  # stations.py documents the fields: name, kind, format, path, component, latitude, longitude,
  # timezone, interval, metadata_file). Relative paths are relative to the stations file.
  c.stations_file = config_dict.placeholder(str)
  c.stations = ()
  c.on_station_error = "fail"  # fail | skip (the report lists the skipped stations)

  c.days_utc_offset_hours = 0.0  # days are binned in UTC unless this says otherwise

  c.quality = ml_collections.ConfigDict()
  c.quality.max_gap_hours = 3.0  # gaps up to this are filled linearly; longer ones: unknown days
  c.quality.artefacts = "mask"  # mask | correct | off (signal/artefacts.py)
  c.quality.spike_factor = 12.0
  c.quality.step_factor = 15.0
  c.quality.max_spike_samples = 3
  c.quality.artefact_window = 12
  c.quality.stuck_hours = 6.0
  c.quality.strain_k_threshold = 0.95  # four-gauge self-consistency, per month

  c.vmd = ml_collections.ConfigDict()
  c.vmd.mode = (
    "whole"  # whole (the paper) | causal (each day from a trailing window ending with it)
  )
  c.vmd.compare_causal = True  # with mode whole, also run causal and say what survives
  c.vmd.num_modes = 5
  c.vmd.alpha = 5000.0
  c.vmd.tol = 1e-7
  c.vmd.stopping = "absolute"  # absolute (vmdpy) | relative (the paper's Algorithm 2)
  c.vmd.precision = "float64"  # float64 (scoped x64) | float32
  c.vmd.causal_window_days = 30
  c.vmd.select_by = "number"  # number | band
  c.vmd.geomagnetic_modes = (4, 5)  # 1-based, the paper's k4 + k5
  c.vmd.strain_modes = (2, 3, 4, 5)  # the paper's k2..k5
  c.vmd.geomagnetic_band_hours = (0.0, 3.0)  # centre periods kept with select_by=band
  c.vmd.strain_band_hours = (0.0, 30.0)
  c.vmd.bands_of_interest_hours = (24.0, 12.42)  # report which mode holds these lines

  c.forecaster = ml_collections.ConfigDict()
  c.forecaster.name = "pyraformer"  # pyraformer | lstm | gru | transformer
  c.forecaster.history_hours = 48.0 if fast else 168.0
  c.forecaster.horizon_hours = 12.0 if fast else 24.0
  c.forecaster.train_stride_hours = 2.0 if fast else 1.0
  c.forecaster.validation_fraction = 0.2  # the last part of the background: Table 2 metrics
  # Trained beside the forecaster for the seed paper's Table 2 (their residuals are not used).
  c.forecaster.table2_baselines = ("lstm", "gru", "transformer")
  forecaster_blocks(
    c.forecaster,
    dict(
      d_model=32 if fast else 256,
      d_inner=32 if fast else 256,
      n_heads=2 if fast else 4,
      d_k=16 if fast else 64,
      d_v=16 if fast else 64,
      n_layers=2 if fast else 4,
      window_sizes=(4, 4),
      inner_size=3,
      d_bottleneck=16 if fast else 64,
      dropout=0.05,
      attention="sparse",
      prune=True,
      remat=False,
    ),
  )
  c.forecaster.lstm.hidden = 32 if fast else 128
  c.forecaster.gru.hidden = 32 if fast else 128
  c.forecaster.transformer.update(
    dict(d_model=32 if fast else 128, n_heads=2 if fast else 4, d_ff=64 if fast else 256)
  )
  training_fields(
    c.forecaster,
    batch_size=32,
    num_epochs=6 if fast else 30,
    learning_rate=1e-3 if fast else 3e-4,
    log_every_steps=50,
    checkpoint_every_steps=500,
  )

  c.threshold = ml_collections.ConfigDict()
  c.threshold.mode = "mean"  # mean: e_t > k * mean(e) | quantile: a false-alarm rate on background
  c.threshold.k = 2.5  # the paper's [2, 3]
  c.threshold.false_alarm_rate = 0.01  # quantile mode: share of background points above threshold
  c.threshold.geomagnetic_day_fraction = 45 / 1440  # the paper's 40-50 of 1440 1-minute points
  c.threshold.strain_day_fraction = 25 / 1440  # the paper's 20-30 of 1440
  c.threshold.min_valid_fraction = 0.9  # a day with fewer valid residuals is unknown
  # Threshold sweeps choose the setting whose held-back (quiet) background flags this share of its
  # days: a stated false-alarm rate, chosen without looking at the pre-event window.
  c.threshold.sweep_quiet_day_rate = 0.1

  c.storms = ml_collections.ConfigDict()
  c.storms.kp_file = config_dict.placeholder(str)  # CelesTrak SW-All or the Kp CSV
  c.storms.dst_file = config_dict.placeholder(str)  # WDC DSTFILE or the Dst CSV
  c.storms.criterion = "either"  # either | both | dst | kp
  c.storms.dst_threshold = -50.0
  c.storms.kp_threshold = 5.0
  c.storms.recovery_days = 2  # days after a storm day still screened (the recovery phase)
  c.storms.action = "exclude"  # exclude storm days from the counts | flag them only
  c.storms.apply_to = ("geomagnetic",)  # station kinds the screening applies to


def detect_config(preset: str = "paper") -> ml_collections.ConfigDict:
  """Method 1 end to end (precursor_jax/tasks/detect): read, QC, VMD, forecast, residual
  anomalies, storm screening, Boltzmann fits, significance, multi-station report.

  "paper" is the seed paper's settings (VMD K=5, alpha=5000, tol=1e-7; k = 2.5 in its [2, 3]; day
  thresholds at the paper's midpoints; a Pyraformer forecaster); "fast" is a small forecaster and
  few epochs for smoke runs and quick looks on 2 CPU cores. Study files (configs/detect_*.py) set
  the stations, the event and the window.
  """
  if preset not in DETECT_PRESETS:
    raise ValueError(f"preset must be one of {DETECT_PRESETS}, got {preset!r}")
  fast = preset == "fast"
  c = ml_collections.ConfigDict()
  c.task = "detect"
  c.seed = 0
  station_pipeline(c, fast)
  c.event = ml_collections.ConfigDict()
  c.event.name = ""
  c.event.time = config_dict.placeholder(str)  # ISO 8601 UTC, e.g. 2008-05-12T06:28:01Z
  c.event.latitude = config_dict.placeholder(float)
  c.event.longitude = config_dict.placeholder(float)
  c.event.magnitude = config_dict.placeholder(float)
  # Or look the event up: the largest event of the catalogue in the window within max_distance_km
  # of the first station (used when event.time is not given).
  c.event.catalog_path = config_dict.placeholder(str)
  c.event.catalog_format = "cenc_text"  # cenc_text | usgs_csv | comcat_csv
  c.event.min_magnitude = 6.0
  c.event.max_distance_km = 500.0

  c.window = ml_collections.ConfigDict()
  c.window.start = config_dict.placeholder(str)  # YYYY-MM-DD or ISO time, UTC
  c.window.end = config_dict.placeholder(str)
  c.background = ml_collections.ConfigDict()
  c.background.end = config_dict.placeholder(str)  # None: the first `fraction` of the window
  c.background.fraction = 0.4

  c.fit = ml_collections.ConfigDict()
  c.fit.span_start = config_dict.placeholder(str)  # None: the start of the judged period
  c.fit.span_shifts_days = (0, 7, 14, 28)  # how x0 moves when the span's start moves
  c.fit.bootstrap = 50 if fast else 200

  c.significance = ml_collections.ConfigDict()
  c.significance.window_days = 30  # the pre-event window: the days [event - W, event)
  c.significance.block_days = 7  # block bootstrap of the day labels
  c.significance.draws = 199 if fast else 999
  c.significance.surrogate_fits = 49 if fast else 199  # surrogate day labels refitted
  c.significance.settings_tried = 1  # how many settings were tried before this one (reported)

  c.figures = True
  return c


def evaluate_config(preset: str = "paper") -> ml_collections.ConfigDict:
  """Alarm-based evaluation of method 1 over a long record and a catalogue (precursor_jax/tasks/
  evaluate): daily verdicts from rolling forecasters and causal VMD (no look-ahead), an alarm
  function, target earthquakes, the Molchan trajectory, the area skill score and its p-values.

  "paper" keeps detect's paper-size forecaster; "fast" detect's fast one (a few years of hourly
  data in about ten minutes on 2 CPU cores). Study files (configs/evaluate_*.py) set the stations,
  the catalogue and the window.
  """
  if preset not in DETECT_PRESETS:
    raise ValueError(f"preset must be one of {DETECT_PRESETS}, got {preset!r}")
  fast = preset == "fast"
  c = ml_collections.ConfigDict()
  c.task = "evaluate"
  c.seed = 0
  station_pipeline(c, fast)
  c.vmd.mode = "causal"  # no look-ahead: each day from a trailing window that ends with it
  c.vmd.compare_causal = False
  c.forecaster.table2_baselines = ()
  c.window = ml_collections.ConfigDict()
  c.window.start = config_dict.placeholder(str)  # the evaluated period [start, end), UTC
  c.window.end = config_dict.placeholder(str)
  # Rolling forecasters: the period is cut into segments; each segment's forecaster learns on the
  # `training_days` before it (data before window.start for the first one).
  c.segments = ml_collections.ConfigDict()
  c.segments.length_days = 180
  c.segments.training_days = 120

  c.catalog = ml_collections.ConfigDict()
  c.catalog.path = config_dict.placeholder(str)
  c.catalog.format = "cenc_text"  # usgs_csv | cenc_text | comcat_csv
  c.targets = ml_collections.ConfigDict()
  c.targets.min_magnitude = 5.0
  c.targets.max_distance_km = config_dict.placeholder(
    float
  )  # None: each event's Dobrovolsky radius
  c.targets.min_depth_km = config_dict.placeholder(float)
  c.targets.max_depth_km = config_dict.placeholder(float)
  c.targets.decluster = "gardner_knopoff"  # gardner_knopoff | uhrhammer | none

  c.alarm = ml_collections.ConfigDict()
  c.alarm.function = "trailing_count"  # trailing_count | count_increase
  c.alarm.window_days = 30  # the trailing window of the alarm function
  c.alarm.min_usable_fraction = 0.7  # fewer usable days in the window: the function is unknown
  c.alarm.duration_days = 30  # an alarm covers the days after its trigger day
  c.alarm.gain_at = (0.05, 0.1, 0.2, 0.3)  # alarm fractions where the probability gain is reported

  c.evaluation = ml_collections.ConfigDict()
  c.evaluation.draws = 499 if fast else 1999  # Monte Carlo draws of the random-alarm test
  c.evaluation.alpha = 0.05  # random-guess confidence bounds
  c.figures = True
  return c

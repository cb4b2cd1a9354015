"""Start-up checks of config values: one table of allowed ranges for every entry point.

`check_config(config)` raises ConfigError naming the first field whose value is outside its range
(a batch size of 0 or -4, a negative number of epochs, a NaN learning rate, a negative penalty...),
before anything is built or written. The rules a scientist needs:

- Fields are matched by their dotted path; "*" matches one level ("model.*.dropout"). A field that
  a config does not have is skipped, so one table serves every task.
- Numbers must be finite; an "int" field holds an integer value (2.0 passes, 2.5 does not); a
  sequence rule (`each=True`) checks every element of a non-empty tuple (layer sizes, strides).
- The training fields (seed ... stop_after_step) and the forecaster size blocks are checked
  wherever they sit: at the top level of a training config and under `forecaster.` in a detect
  config (the forecaster trained inside method 1).
- A task adds checks that need more than the value itself (does the named dataset exist? can its
  data directory be created?) with `register_task_check(task, check)`; `check_config` runs them
  for `config.task`. `directory_problem(path)` is the filesystem rule they share with the entry
  points: an existing directory, or one that can be created (its nearest existing parent is a
  writable directory), never a file and never an empty string.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


class ConfigError(ValueError):
  """A config value that no run can use; the message names the field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """What a field may hold: `kind` ("int", "float", "str"), bounds, None allowed or not, and with
  `each` a non-empty sequence whose every element obeys the rule."""

  kind: str
  low: float | None = None
  high: float | None = None
  low_open: bool = False  # low itself is not allowed
  high_open: bool = False  # high itself is not allowed
  optional: bool = False  # None is allowed (a placeholder meaning "the default")
  choices: tuple[str, ...] = ()
  each: bool = False

  def problem(self, value: Any) -> str | None:
    """Why `value` breaks the rule (None when it does not)."""
    if value is None:
      return None if self.optional else "a value is required"
    if self.each:
      return self._sequence_problem(value)
    return self._scalar_problem(value)

  def _sequence_problem(self, value: Any) -> str | None:
    if not isinstance(value, tuple | list) or not value:
      return f"expected a non-empty tuple of {self._expected()}, got {value!r}"
    for position, element in enumerate(value):
      problem = self._scalar_problem(element)
      if problem:
        return f"element {position} of {value!r}: {problem}"
    return None

  def _expected(self) -> str:
    kind = {"int": "integers", "float": "numbers", "str": "strings"}[self.kind]
    bounds = []
    if self.low is not None:
      bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
    if self.high is not None:
      bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
    return kind + (f" {' and '.join(bounds)}" if bounds else "")

  def _scalar_problem(self, value: Any) -> str | None:
    if self.kind == "str":
      if not isinstance(value, str):
        return f"expected a string, got {value!r}"
      if self.choices and value not in self.choices:
        return f"expected one of {', '.join(self.choices)}, got {value!r}"
      return None
    if isinstance(value, bool) or not isinstance(value, int | float):
      return f"expected a number, got {value!r}"
    if not math.isfinite(value):
      return f"expected a finite number, got {value!r}"
    if self.kind == "int" and not float(value).is_integer():
      return f"expected an integer, got {value!r}"
    if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
      return f"expected {'>' if self.low_open else '>='} {self.low:g}, got {value!r}"
    if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
      return f"expected {'<' if self.high_open else '<='} {self.high:g}, got {value!r}"
    return None


POSITIVE_INT = Rule("int", 1)
OPTIONAL_POSITIVE_INT = Rule("int", 1, optional=True)
NON_NEGATIVE_INT = Rule("int", 0)
NON_NEGATIVE = Rule("float", 0)
POSITIVE = Rule("float", 0, low_open=True)
FRACTION = Rule("float", 0, 1)
OPEN_FRACTION = Rule("float", 0, 1, low_open=True, high_open=True)
DROPOUT = Rule("float", 0, 1, high_open=True)  # a rate of 1 drops everything


def prefixed(prefix: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
  """`rules` with every field path under `prefix` (e.g. "forecaster.")."""
  return {prefix + name: rule for name, rule in rules.items()}


# The fields of config_base.training_fields: wherever a trained model is configured.
TRAINING_RULES: dict[str, Rule] = {
  "seed": NON_NEGATIVE_INT,
  "data_seed": Rule("int", 0, optional=True),
  "batch_size": POSITIVE_INT,
  "eval_batch_size": OPTIONAL_POSITIVE_INT,
  "num_epochs": POSITIVE_INT,
  "learning_rate": POSITIVE,
  "lr_decay": NON_NEGATIVE,
  "lr_epoch_gamma": Rule("float", 0, 1, low_open=True),
  "adam_eps": POSITIVE,
  "weight_penalty": NON_NEGATIVE,
  "bias_penalty": NON_NEGATIVE,
  "num_devices": OPTIONAL_POSITIVE_INT,
  "log_every_steps": POSITIVE_INT,
  "checkpoint_every_steps": POSITIVE_INT,
  "checkpoints_to_keep": POSITIVE_INT,
  "eval_every_epochs": POSITIVE_INT,
  "stop_after_step": OPTIONAL_POSITIVE_INT,
}

# The size blocks of config_base.forecaster_blocks (one per forecaster of models/registry.py).
FORECASTER_RULES: dict[str, Rule] = {
  "*.dropout": DROPOUT,
  "pyraformer.d_model": POSITIVE_INT,
  "pyraformer.d_inner": POSITIVE_INT,
  "pyraformer.n_heads": POSITIVE_INT,
  "pyraformer.d_k": POSITIVE_INT,
  "pyraformer.d_v": POSITIVE_INT,
  "pyraformer.n_layers": POSITIVE_INT,
  "pyraformer.window_sizes": Rule("int", 1, each=True),
  "pyraformer.inner_size": POSITIVE_INT,
  "pyraformer.d_bottleneck": POSITIVE_INT,
  "lstm.hidden": POSITIVE_INT,
  "lstm.n_layers": POSITIVE_INT,
  "gru.hidden": POSITIVE_INT,
  "gru.n_layers": POSITIVE_INT,
  "transformer.d_model": POSITIVE_INT,
  "transformer.n_heads": POSITIVE_INT,
  "transformer.d_ff": POSITIVE_INT,
  "transformer.n_encoder_layers": POSITIVE_INT,
  "transformer.n_decoder_layers": POSITIVE_INT,
}

# Field path -> rule. One table for every task; configs/ files only set values.
RULES: dict[str, Rule] = {
  **TRAINING_RULES,
  **prefixed("forecaster.", TRAINING_RULES),
  **prefixed("model.", FORECASTER_RULES),
  **prefixed("forecaster.", FORECASTER_RULES),
  "repeats": POSITIVE_INT,
  # SES (config_base.ses_config).
  "dataset.num_days": OPTIONAL_POSITIVE_INT,
  "dataset.repeats": OPTIONAL_POSITIVE_INT,
  "dataset.validation_repeats": POSITIVE_INT,
  "model.scale": POSITIVE,
  "model.lstm_ae.bidirectional_features": POSITIVE_INT,
  "model.lstm_ae.encoder_features": POSITIVE_INT,
  "model.lstm_ae.decoder_features": POSITIVE_INT,
  "model.lstm_ae.unroll": POSITIVE_INT,
  "model.fc_ae.channels": Rule("int", 1, each=True),
  "model.fc_ae.strides": Rule("int", 1, each=True),
  "model.fct_ae.hidden": Rule("int", 1, each=True),
  "eval.train_examples": NON_NEGATIVE_INT,
  "eval.figure_examples": NON_NEGATIVE_INT,
  "eval.embedded_anomalies": NON_NEGATIVE_INT,
  "eval.embedding_days": NON_NEGATIVE_INT,
  "eval.ica_days": NON_NEGATIVE_INT,
  "detection.block": POSITIVE_INT,
  "detection.window_blocks": POSITIVE_INT,
  "detection.smooth": POSITIVE_INT,
  "detection.level": Rule("float", 0, 1, low_open=True),
  # Forecasting (config_base.forecast_config).
  "dataset.history": POSITIVE_INT,
  "dataset.horizon": POSITIVE_INT,
  # Method 1 (config_base.detect_config); its stages check what depends on the data.
  "background.fraction": OPEN_FRACTION,
  "days_utc_offset_hours": Rule("float", -14, 14),
  "event.latitude": Rule("float", -90, 90, optional=True),
  "event.longitude": Rule("float", -180, 360, optional=True),
  "event.magnitude": Rule("float", -3, 10, optional=True),
  "event.min_magnitude": Rule("float", -3, 10),
  "event.max_distance_km": POSITIVE,
  "quality.max_gap_hours": NON_NEGATIVE,
  "quality.spike_factor": POSITIVE,
  "quality.step_factor": POSITIVE,
  "quality.max_spike_samples": POSITIVE_INT,
  "quality.artefact_window": POSITIVE_INT,
  "quality.stuck_hours": POSITIVE,
  "quality.strain_k_threshold": FRACTION,
  "vmd.num_modes": POSITIVE_INT,
  "vmd.alpha": POSITIVE,
  "vmd.tol": POSITIVE,
  "vmd.causal_window_days": POSITIVE_INT,
  "vmd.geomagnetic_modes": Rule("int", 1, each=True),
  "vmd.strain_modes": Rule("int", 1, each=True),
  "vmd.geomagnetic_band_hours": Rule("float", 0, each=True),
  "vmd.strain_band_hours": Rule("float", 0, each=True),
  "vmd.bands_of_interest_hours": Rule("float", 0, low_open=True, each=True),
  "forecaster.history_hours": POSITIVE,
  "forecaster.horizon_hours": POSITIVE,
  "forecaster.train_stride_hours": POSITIVE,
  "forecaster.validation_fraction": OPEN_FRACTION,
  "threshold.k": POSITIVE,
  "threshold.false_alarm_rate": OPEN_FRACTION,
  "threshold.geomagnetic_day_fraction": Rule("float", 0, 1, low_open=True),
  "threshold.strain_day_fraction": Rule("float", 0, 1, low_open=True),
  "threshold.min_valid_fraction": FRACTION,
  "storms.dst_threshold": Rule("float", high=0),  # storms are negative Dst excursions (nT)
  "storms.kp_threshold": Rule("float", 0, 9),
  "storms.recovery_days": NON_NEGATIVE_INT,
  "fit.span_shifts_days": Rule("int", 0, each=True),
  "fit.bootstrap": NON_NEGATIVE_INT,
  "significance.window_days": POSITIVE_INT,
  "significance.block_days": POSITIVE_INT,
  "significance.draws": POSITIVE_INT,
  "significance.surrogate_fits": NON_NEGATIVE_INT,
  "significance.settings_tried": POSITIVE_INT,
  "threshold.sweep_quiet_day_rate": OPEN_FRACTION,
  "on_station_error": Rule("str", choices=("fail", "skip")),
  "quality.artefacts": Rule("str", choices=("mask", "correct", "off")),
  "vmd.mode": Rule("str", choices=("whole", "causal")),
  "vmd.stopping": Rule("str", choices=("absolute", "relative")),
  "vmd.precision": Rule("str", choices=("float64", "float32")),
  "vmd.select_by": Rule("str", choices=("number", "band")),
  "threshold.mode": Rule("str", choices=("mean", "quantile")),
  "storms.criterion": Rule("str", choices=("either", "both", "dst", "kp")),
  "storms.action": Rule("str", choices=("exclude", "flag")),
  "event.catalog_format": Rule("str", choices=("cenc_text", "usgs_csv", "comcat_csv")),
  # Alarm-based evaluation (config_base.evaluate_config).
  "segments.length_days": POSITIVE_INT,
  "segments.training_days": POSITIVE_INT,
  "targets.min_magnitude": Rule("float", -3, 10),
  "targets.decluster": Rule("str", choices=("gardner_knopoff", "uhrhammer", "none")),
  "alarm.function": Rule("str", choices=("trailing_count", "count_increase")),
  "alarm.window_days": POSITIVE_INT,
  "alarm.min_usable_fraction": FRACTION,
  "alarm.duration_days": POSITIVE_INT,
  "alarm.gain_at": Rule("float", 0, 1, low_open=True, each=True),
  "evaluation.draws": POSITIVE_INT,
  "evaluation.alpha": OPEN_FRACTION,
}

# config.task -> the task's own start-up check (see register_task_check).
TASK_CHECKS: dict[str, Callable[[Any], None]] = {}


def register_task_check(task: str, check: Callable[[Any], None]) -> None:
  """Makes `check_config` also run `check(config)` for configs whose `task` is `task`; a task
  module registers its check when it is imported (the entry points import every task)."""
  TASK_CHECKS[task] = check


def nearest_names(name: str, known: Sequence[str], count: int = 4) -> list[str]:
  """The known names closest to a mistyped one (closest first; empty when none is close)."""
  return difflib.get_close_matches(name, list(known), n=count, cutoff=0.5)


def unknown_name(field: str, name: Any, known: Sequence[str], what: str) -> ConfigError:
  """The error for a name that is not among `known`: the nearest names, then the whole list."""
  close = nearest_names(str(name), known)
  hint = f"did you mean {', '.join(close)}? " if close else ""
  return ConfigError(f"{field}: no {what} {name!r}; {hint}expected one of: {', '.join(known)}")


def directory_problem(path: str | os.PathLike) -> str | None:
  """Why `path` cannot serve as a directory to read from and write into (None when it can):
  it must be an existing directory, or creatable (its nearest existing parent a writable
  directory). Nothing is created."""
  if str(path).strip() == "":
    return "the path is empty"
  target = pathlib.Path(path).expanduser().absolute()
  if target.exists():
    return None if target.is_dir() else f"{target} is a file, not a directory"
  parent = target.parent
  while not parent.exists() and parent != parent.parent:
    parent = parent.parent
  if not parent.is_dir():
    return f"{target} cannot be created: {parent} is a file, not a directory"
  if not os.access(parent, os.W_OK | os.X_OK):
    return f"{target} cannot be created: {parent} is not writable"
  return None


def _matches(pattern: str, field: str) -> bool:
  parts, names = pattern.split("."), field.split(".")
  return len(parts) == len(names) and all(p in ("*", n) for p, n in zip(parts, names, strict=True))


def _leaves(config: Any, prefix: str = "") -> dict[str, Any]:
  out = {}
  for key in config.keys():
    value = config[key]
    name = f"{prefix}{key}"
    if hasattr(value, "keys") and hasattr(value, "to_dict"):
      out.update(_leaves(value, name + "."))
    else:
      out[name] = value
  return out


def check_config(
  config: Any, rules: dict[str, Rule] | None = None, *, extra: Callable | None = None
):
  """ConfigError for the first field outside its rule (see the module doc), then the registered
  check of `config.task` (when the config names one) and `extra(config)`, a caller's own."""
  rules = RULES if rules is None else rules
  for field, value in _leaves(config).items():
    for pattern, rule in rules.items():
      if _matches(pattern, field):
        problem = rule.problem(value)
        if problem:
          raise ConfigError(f"config.{field}: {problem}")
  task_check = TASK_CHECKS.get(config["task"]) if "task" in config else None
  if task_check is not None:
    task_check(config)
  if extra is not None:
    extra(config)

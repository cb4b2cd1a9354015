"""Start-up checks of config values: one table of allowed ranges for every entry point.

`check_config(config)` raises ConfigError naming the first field whose value is outside its range
(a batch size of 0 or -4, a negative number of epochs, a NaN learning rate...), before anything is
built or written. Fields are matched by their dotted path; a pattern ending in ".*" covers a
subtree. A field that a config does not have is skipped, so one table serves every task.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
  """A config value that no run can use; the message names the field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """What a field may hold: `kind` ("int", "float", "str"), bounds, None allowed or not."""

  kind: str
  low: float | None = None
  high: float | None = None
  low_open: bool = False  # low itself is not allowed
  optional: bool = False  # None is allowed (a placeholder meaning "the default")
  choices: tuple[str, ...] = ()

  def problem(self, value: Any) -> str | None:
    """Why `value` breaks the rule (None when it does not)."""
    if value is None:
      return None if self.optional else "a value is required"
    if self.kind == "str":
      if not isinstance(value, str):
        return f"expected a string, got {value!r}"
      if self.choices and value not in self.choices:
        return f"expected one of {', '.join(self.choices)}, got {value!r}"
      return None
    if isinstance(value, bool) or not isinstance(value, int | float):
      return f"expected a number, got {value!r}"
    if self.kind == "int" and not float(value).is_integer():
      return f"expected an integer, got {value!r}"
    if not math.isfinite(value):
      return f"expected a finite number, got {value!r}"
    if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
      return f"expected {'>' if self.low_open else '>='} {self.low:g}, got {value!r}"
    if self.high is not None and value > self.high:
      return f"expected <= {self.high:g}, got {value!r}"
    return None


POSITIVE_INT = Rule("int", 1)
OPTIONAL_POSITIVE_INT = Rule("int", 1, optional=True)
NON_NEGATIVE = Rule("float", 0)
POSITIVE = Rule("float", 0, low_open=True)
FRACTION = Rule("float", 0, 1)

# Field path -> rule. One table for every task; configs/ files only set values.
RULES: dict[str, Rule] = {
  "seed": Rule("int", 0),
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
  "repeats": POSITIVE_INT,
  "dataset.num_days": OPTIONAL_POSITIVE_INT,
  "dataset.repeats": OPTIONAL_POSITIVE_INT,
  "dataset.validation_repeats": POSITIVE_INT,
  "dataset.history": POSITIVE_INT,
  "dataset.horizon": POSITIVE_INT,
  "model.scale": POSITIVE,
  "model.*.dropout": Rule("float", 0, 1),
  "eval.train_examples": Rule("int", 0),
  "eval.figure_examples": Rule("int", 0),
  "eval.embedded_anomalies": Rule("int", 0),
  "eval.embedding_days": Rule("int", 0),
  "eval.ica_days": Rule("int", 0),
  "detection.block": POSITIVE_INT,
  "detection.window_blocks": POSITIVE_INT,
  "detection.smooth": POSITIVE_INT,
  "detection.level": Rule("float", 0, 1, low_open=True),
}


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
  """ConfigError for the first field outside its rule (see the module doc); `extra(config)` adds
  checks of a task's own."""
  rules = RULES if rules is None else rules
  for field, value in _leaves(config).items():
    for pattern, rule in rules.items():
      if _matches(pattern, field):
        problem = rule.problem(value)
        if problem:
          raise ConfigError(f"config.{field}: {problem}")
  if extra is not None:
    extra(config)

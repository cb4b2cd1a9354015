"""One registry for both model families, so a config names a model the same way in every task.

  SES networks   raw day (B, 8640) mV/km -> cleaned day (B, 8640)   (the SES task)
  forecasters    history (B, L, C), times -> forecast (B, H, C)       (forecasting, detect)

Each entry names its constructor and the config block its sizes come from, `config.model.<block>`:
the SES variants share their family's block (`lstm_ae_no_attention` and `gru_ae` take
`config.model.lstm_ae`), each forecaster has its own. `build_ses_network` and `build_forecaster`
are the two ways to build one; an unknown name or size is an error that lists the choices.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn

from precursor_jax.models.baselines import RecurrentForecaster, TransformerForecaster
from precursor_jax.models.lstm_ae import LSTMAutoencoder, SesDenoiser
from precursor_jax.models.pyraformer import Pyraformer
from precursor_jax.models.ses_baselines import (
  FullyConnectedAutoencoder,
  FullyConvolutionalAutoencoder,
)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
  """A registered model: how to build it and which config block holds its sizes."""

  constructor: Callable[..., nn.Module]
  config_block: str
  description: str


SES_NETWORKS: dict[str, ModelEntry] = {
  "lstm_ae": ModelEntry(LSTMAutoencoder, "lstm_ae", "the paper's BiLSTM-attention autoencoder"),
  "lstm_ae_no_attention": ModelEntry(
    functools.partial(LSTMAutoencoder, attention=False), "lstm_ae", "without time-step attention"
  ),
  "gru_ae": ModelEntry(functools.partial(LSTMAutoencoder, cell="gru"), "lstm_ae", "GRU cells"),
  "fc_ae": ModelEntry(FullyConvolutionalAutoencoder, "fc_ae", "fully convolutional autoencoder"),
  "fct_ae": ModelEntry(FullyConnectedAutoencoder, "fct_ae", "fully connected autoencoder"),
}

FORECASTERS: dict[str, ModelEntry] = {
  "pyraformer": ModelEntry(Pyraformer, "pyraformer", "Pyraformer (pyramidal attention + CSCM)"),
  "lstm": ModelEntry(functools.partial(RecurrentForecaster, cell="lstm"), "lstm", "LSTM enc-dec"),
  "gru": ModelEntry(functools.partial(RecurrentForecaster, cell="gru"), "gru", "GRU enc-dec"),
  "transformer": ModelEntry(TransformerForecaster, "transformer", "vanilla Transformer"),
}


def entry(registry: Mapping[str, ModelEntry], name: str, what: str, field: str = "") -> ModelEntry:
  """The entry `name`, or a ValueError (naming the config `field` when given) listing the names."""
  if name not in registry:
    where = f"{field}={name!r}: unknown {what}" if field else f"unknown {what} {name!r}"
    raise ValueError(f"{where}; choose one of {', '.join(registry)}")
  return registry[name]


def block_kwargs(model_config: Any, registry: Mapping[str, ModelEntry], name: str) -> dict:
  """The sizes of model `name` from its config block, lists turned into tuples (hashable fields)."""
  block = model_config.get(entry(registry, name, "model").config_block) or {}
  return {k: tuple(v) if isinstance(v, list) else v for k, v in dict(block).items()}


def _build(registry, name: str, what: str, **kwargs) -> nn.Module:
  chosen = entry(registry, name, what)
  try:
    return chosen.constructor(**kwargs)
  except TypeError as error:
    raise TypeError(f"{what} {name!r} (config.model.{chosen.config_block}): {error}") from None


def build_ses_network(name: str, scale: float = 10.0, **kwargs) -> SesDenoiser:
  """The SES network `name` wrapped to work on raw days in mV/km (centred, divided by `scale`)."""
  return SesDenoiser(network=_build(SES_NETWORKS, name, "SES network", **kwargs), scale=scale)


def build_forecaster(name: str, **kwargs) -> nn.Module:
  """The forecaster `name`; every forecaster takes history_len, horizon and channels plus its sizes."""
  return _build(FORECASTERS, name, "forecaster", **kwargs)

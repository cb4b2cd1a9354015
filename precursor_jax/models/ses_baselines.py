"""Baseline SES networks of the paper's Table II, behind the same contract as the LSTM-autoencoder.

Both map a normalised day (B, 8640) to (B, 8640) and are wrapped by `lstm_ae.SesDenoiser`. The paper cites
the architectures (FC: Shelhamer et al. fully convolutional network; FCT: Vincent et al. stacked autoencoder)
without sizes; ours are sized to about the LSTM-autoencoder's parameter count, with LayerNorm between layers
as in the paper's network. The other two baselines of Table II (without attention, GRU) are switches of
`lstm_ae.LSTMAutoencoder`.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES


class FullyConvolutionalAutoencoder(nn.Module):
  """Strided Conv1D encoder (8640 -> 864 -> 216 -> 54 -> 18 steps) and a transposed-conv decoder."""

  channels: Sequence[int] = (16, 32, 64, 128)
  strides: Sequence[int] = (10, 4, 4, 3)
  day_samples: int = GEOELECTRIC_DAY_SAMPLES

  @nn.compact
  def __call__(self, day: jax.Array, train: bool = False) -> jax.Array:
    del train
    x = day[..., None]
    for i, (features, stride) in enumerate(zip(self.channels, self.strides, strict=True)):
      x = nn.Conv(
        features, kernel_size=(stride,), strides=(stride,), padding="VALID", name=f"enc{i}"
      )(x)
      x = nn.LayerNorm(name=f"enc_norm{i}")(nn.relu(x))
    decoder_channels = list(self.channels[-2::-1]) + [8]
    for i, (features, stride) in enumerate(zip(decoder_channels, self.strides[::-1], strict=True)):
      x = nn.ConvTranspose(
        features, kernel_size=(stride,), strides=(stride,), padding="VALID", name=f"dec{i}"
      )(x)
      x = nn.LayerNorm(name=f"dec_norm{i}")(nn.relu(x))
    x = nn.Conv(1, kernel_size=(9,), padding="SAME", name="out")(x)
    return x[..., 0]


class FullyConnectedAutoencoder(nn.Module):
  """Dense 8640 -> 1024 -> 256 -> 1024 -> 8640 with ReLU and LayerNorm between layers."""

  hidden: Sequence[int] = (1024, 256, 1024)
  day_samples: int = GEOELECTRIC_DAY_SAMPLES

  @nn.compact
  def __call__(self, day: jax.Array, train: bool = False) -> jax.Array:
    del train
    x = day
    for i, features in enumerate(self.hidden):
      x = nn.LayerNorm(name=f"norm{i}")(nn.relu(nn.Dense(features, name=f"dense{i}")(x)))
    return nn.Dense(self.day_samples, name="out")(x)

"""The LSTM-autoencoder of Xue et al. (2022, IEEE TGRS) for seismic electric signal (SES) detection.

Input: one day of 0.1 Hz geoelectric field, 8640 samples (mV/km). Output: the same day cleaned of railway and
other noise, with any SES kept, from which `anomaly/ses.py` reads the SES interval.

Architecture (paper Fig. 4, 13, 14; "LayerNorm between adjacent layers"):

  day (8640) -> Conv1D(1 filter, kernel = stride = 10, ReLU) -> LayerNorm over the 864 values
             -> 24 steps x 36
             -> bidirectional LSTM(512), forward and backward outputs averaged       (24 x 512)
             -> time-step attention: max and mean over features (24), a shared 1-D conv pair 24 -> 4 -> 24
                (kernel 1, ReLU between), summed, sigmoid -> one weight per step                  (24)
             -> encoder LSTM(256) over the weighted steps, last hidden state               (256)
             -> decoder LSTM(512) over the code repeated for 24 steps, last hidden state   (512)
             -> Dense(8640)

Choices where the paper is silent (all of them module fields, set from the config):
  * encoder 256 and decoder 512 units (the paper gives 512 for the bidirectional layer only);
  * the decoder unrolls over the code repeated 24 times (Keras RepeatVector) and keeps its last state, like
    the encoder ("the output of the unidirectional LSTM network is the output data at the last time step");
  * the attention weights multiply the 24 steps and the encoder LSTM sums them up over time
    (attention_output="reweight"); the literal weighted sum into one vector, repeated for the encoder, is
    attention_output="weighted_sum";
  * the paper initialises weights "within (0, 1]"; we use Glorot/orthogonal initialisation (Keras defaults),
    which trains reliably;
  * inputs are centred on the day's mean and divided by `scale` (mV/km) inside `SesDenoiser`, so a model
    works on raw days in physical units and outputs physical units; the conv bias starts at 3 (in units of
    `scale`) so that the one-filter ReLU starts linear for SESs of either sign;
  * the LayerNorm after the convolution normalises all 864 values together (one per step would remove each
    hour's level, and the network could not rebuild the day's shape).

Two choices decide whether the network learns at all in a few thousand steps, and the configs take the
working ones (`decoder_output="per_step"`, `recurrent_layer_norm=False`); the module defaults keep the
literal reading of the paper. Measured on 0/1-background days with one rectangle, input = target, 128-unit
layers, batch 32, Adam 1e-3 (the loss of always predicting the mean is 0.031):

  architecture                                           loss after 600 steps
  bidirectional -> per-step Dense, no bottleneck           0.005
  + encoder/decoder bottleneck, decoder per step           0.010
  + LayerNorm after the bidirectional layer                0.032  (learns only after ~1,500 steps)
  + LayerNorm after the encoder, or after the decoder      0.033 / 0.034
  bottleneck with Dense(8640) from the last decoder state  0.027
  + time-step attention (no recurrent LayerNorm)           0.010

  * decoder_output: "last_state" maps the decoder's last hidden state to all 8640 samples with one Dense;
    "per_step" lets decoder step t rebuild hour t (a Dense of 360 shared by the steps, Keras'
    TimeDistributed): the position of an SES is then carried by the step, not by one vector.
  * recurrent_layer_norm: LayerNorm after the bidirectional, encoder and decoder layers ("between adjacent
    layers") holds the network on the predict-the-mean plateau; the LayerNorm after the convolution stays.
  On the HKB laptop set (hkb_small) the paper-literal network had 0-2 % success after 300-500 steps, the
  chosen one climbs past 50 % within 3,000 steps.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from precursor_jax.core.constants import GEOELECTRIC_DAY_SAMPLES
from precursor_jax.models.recurrent import Bidirectional, Recurrent


class TimeStepAttention(nn.Module):
  """CBAM-style attention over time steps: (B, T, H) -> weights (B, T) in (0, 1)."""

  reduced_steps: int = 4

  @nn.compact
  def __call__(self, sequence: jax.Array) -> jax.Array:
    num_steps = sequence.shape[-2]
    # A kernel-1 Conv1D whose channels are the time steps is a Dense over the step axis.
    squeeze = nn.Dense(self.reduced_steps, name="conv_squeeze")
    excite = nn.Dense(num_steps, name="conv_excite")
    shared = lambda pooled: excite(nn.relu(squeeze(pooled)))
    return nn.sigmoid(shared(jnp.max(sequence, axis=-1)) + shared(jnp.mean(sequence, axis=-1)))


class LSTMAutoencoder(nn.Module):
  """The paper's network on a normalised day (B, 8640) -> (B, 8640); see the module docstring."""

  day_samples: int = GEOELECTRIC_DAY_SAMPLES
  conv_stride: int = 10
  num_steps: int = 24
  bidirectional_features: int = 512
  encoder_features: int = 256
  decoder_features: int = 512
  cell: str = "lstm"  # "gru" gives the GRU-autoencoder baseline
  attention: bool = True  # False gives the "without time-step attention" baseline
  attention_reduced_steps: int = 4
  attention_output: str = "reweight"  # or "weighted_sum"
  conv_bias_init: float = 3.0
  decoder_output: str = "last_state"  # or "per_step"
  step_positions: bool = (
    False  # append the one-hot step index to the bidirectional and decoder inputs
  )
  recurrent_layer_norm: bool = (
    True  # LayerNorm after the bidirectional, encoder and decoder layers too
  )
  unroll: int = 1

  def _step_one_hot(self, batch: int, dtype) -> jax.Array:
    """(B, num_steps, num_steps): which hour of the day each step is."""
    return jnp.broadcast_to(
      jnp.eye(self.num_steps, dtype=dtype), (batch, self.num_steps, self.num_steps)
    )

  @nn.compact
  def __call__(self, day: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout or batch statistics in this network
    batch = day.shape[0]
    reduced = self.day_samples // self.conv_stride
    if self.day_samples % self.conv_stride or reduced % self.num_steps:
      raise ValueError(
        f"day_samples={self.day_samples} must split into conv_stride={self.conv_stride} "
        f"and then num_steps={self.num_steps}"
      )
    # Bias starts positive so the single ReLU filter begins in its linear range for both SES polarities
    # (the paper fed raw days far from zero; ours are centred on their median).
    x = nn.Conv(
      1,
      kernel_size=(self.conv_stride,),
      strides=(self.conv_stride,),
      padding="VALID",
      bias_init=nn.initializers.constant(self.conv_bias_init),
      name="conv",
    )(day[..., None])
    # Normalise the 864 values together: a LayerNorm per 36-value step would erase each hour's level.
    x = nn.LayerNorm(name="norm_conv")(nn.relu(x)[..., 0])
    x = x.reshape(batch, self.num_steps, reduced // self.num_steps)
    if self.step_positions:
      x = jnp.concatenate([x, self._step_one_hot(batch, x.dtype)], axis=-1)
    norm = (
      (lambda name: nn.LayerNorm(name=name))
      if self.recurrent_layer_norm
      else (lambda name: lambda v: v)
    )
    x = Bidirectional(
      self.bidirectional_features, self.cell, unroll=self.unroll, name="bidirectional"
    )(x)
    x = norm("norm_bidirectional")(x)
    if self.attention:
      weights = TimeStepAttention(self.attention_reduced_steps, name="attention")(x)
      if self.attention_output == "reweight":
        x = x * weights[..., None]
      elif self.attention_output == "weighted_sum":
        summed = jnp.einsum("bt,bth->bh", weights, x)
        x = jnp.repeat(summed[:, None, :], self.num_steps, axis=1)
      else:
        raise ValueError(
          f"attention_output must be 'reweight' or 'weighted_sum', got {self.attention_output!r}"
        )
    code = Recurrent(self.encoder_features, self.cell, unroll=self.unroll, name="encoder")(x)[:, -1]
    code = norm("norm_encoder")(code)
    repeated = jnp.repeat(code[:, None, :], self.num_steps, axis=1)
    if self.step_positions:
      repeated = jnp.concatenate([repeated, self._step_one_hot(batch, repeated.dtype)], axis=-1)
    decoded = Recurrent(self.decoder_features, self.cell, unroll=self.unroll, name="decoder")(
      repeated
    )
    if self.decoder_output == "last_state":
      return nn.Dense(self.day_samples, name="output")(norm("norm_decoder")(decoded[:, -1]))
    if self.decoder_output == "per_step":
      # Step t rebuilds hour t with one Dense shared by all steps (Keras TimeDistributed(Dense(360))).
      hours = nn.Dense(self.day_samples // self.num_steps, name="output")(
        norm("norm_decoder")(decoded)
      )
      return hours.reshape(batch, self.day_samples)
    raise ValueError(
      f"decoder_output must be 'last_state' or 'per_step', got {self.decoder_output!r}"
    )


class SesDenoiser(nn.Module):
  """Any SES network on raw days in mV/km: centre on the day's mean, divide by `scale`, and back.

  All SES networks (the LSTM-autoencoder and its baselines) are wrapped by this module so that training,
  evaluation and detection see one contract: raw day (B, N) -> cleaned day (B, N), both in mV/km.
  """

  network: nn.Module
  scale: float = 10.0

  def normalise(self, day: jax.Array) -> tuple[jax.Array, jax.Array]:
    # The mean, not the median: a median sorts 8640 values per day, which costs a third of the network's
    # time on CPU, and the network's first LayerNorm absorbs the small shift an SES gives the mean.
    offset = jnp.mean(day, axis=-1, keepdims=True)
    return (day - offset) / self.scale, offset

  @nn.compact
  def __call__(self, day: jax.Array, train: bool = False) -> jax.Array:
    normalised, offset = self.normalise(day)
    return self.network(normalised, train=train) * self.scale + offset

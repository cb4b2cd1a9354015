"""Conversion of the official PyTorch Pyraformer's state dict (ant-research/Pyraformer) to our
parameter tree, for the equivalence tests and for users with official checkpoints.
"""

from __future__ import annotations

import numpy as np


def from_official_state_dict(state: dict[str, np.ndarray], n_heads: int) -> dict:
  """Flax variables {'params', 'batch_stats'} from an official Pyraformer_LR state_dict.

  `state` maps the PyTorch parameter names to NumPy arrays (e.g. {k: v.numpy() for k, v in
  model.state_dict().items()}); both decoders ("FC" and "attention") are recognised. Lets a
  checkpoint trained with the official code run here, and lets the tests compare the two
  implementations on identical weights.
  """

  def get(name):
    if name not in state:
      raise KeyError(f"official state_dict has no entry {name!r}")
    return np.asarray(state[name], dtype=np.float32)

  def linear(prefix, bias=True):
    out = {"kernel": get(prefix + ".weight").T}
    if bias:
      out["bias"] = get(prefix + ".bias")
    return out

  def norm(prefix):
    return {"scale": get(prefix + ".weight"), "bias": get(prefix + ".bias")}

  def heads_out(weight):  # (H * D, d) -> (d, H, D): PyTorch views the projection head-major
    return weight.T.reshape(weight.shape[1], n_heads, -1)

  def embedding(prefix):
    conv = get(f"{prefix}.value_embedding.tokenConv.weight")  # (d_model, C, 3)
    return {
      "token_conv": {
        "kernel": conv.transpose(2, 1, 0),
        "bias": get(f"{prefix}.value_embedding.tokenConv.bias"),
      },
      "time_linear": linear(f"{prefix}.temporal_embedding.embed"),
    }

  def block(prefix):
    attn, ffn = f"{prefix}.slf_attn", f"{prefix}.pos_ffn"
    fc = get(attn + ".fc.weight")  # (d_model, H * Dv)
    attention = {
      "query": {"kernel": heads_out(get(attn + ".w_qs.weight"))},
      "key": {"kernel": heads_out(get(attn + ".w_ks.weight"))},
      "value": {"kernel": heads_out(get(attn + ".w_vs.weight"))},
      "out": {"kernel": fc.T.reshape(n_heads, -1, fc.shape[0]), "bias": get(attn + ".fc.bias")},
      "norm": norm(attn + ".layer_norm"),
    }
    feed_forward = {
      "hidden": linear(ffn + ".w_1"),
      "out": linear(ffn + ".w_2"),
      "norm": norm(ffn + ".layer_norm"),
    }
    return attention, feed_forward

  params = {"embedding": embedding("encoder.enc_embedding")}
  cscm, batch_stats = {}, {}
  index = 0
  while f"encoder.conv_layers.conv_layers.{index}.downConv.weight" in state:
    prefix = f"encoder.conv_layers.conv_layers.{index}"
    cscm[f"conv_{index}"] = {
      "kernel": get(prefix + ".downConv.weight").transpose(2, 1, 0),
      "bias": get(prefix + ".downConv.bias"),
    }
    cscm[f"batch_norm_{index}"] = norm(prefix + ".norm")
    batch_stats[f"batch_norm_{index}"] = {
      "mean": get(prefix + ".norm.running_mean"),
      "var": get(prefix + ".norm.running_var"),
    }
    index += 1
  cscm.update(
    down=linear("encoder.conv_layers.down"),
    up=linear("encoder.conv_layers.up"),
    norm=norm("encoder.conv_layers.norm"),
  )
  params["cscm"] = cscm
  index = 0
  while f"encoder.layers.{index}.slf_attn.w_qs.weight" in state:
    attention, feed_forward = block(f"encoder.layers.{index}")
    params[f"layer_{index}"] = {"attention": attention, "feed_forward": feed_forward}
    index += 1
  if "decoder.layers.0.slf_attn.w_qs.weight" in state:
    params["decoder_embedding"] = embedding("decoder.dec_embedding")
    for index in range(2):
      attention, feed_forward = block(f"decoder.layers.{index}")
      params[f"decoder_{index}"] = {**attention, "feed_forward": feed_forward}
  params["predictor"] = {"kernel": get("predictor.linear.weight").T}
  return {"params": params, "batch_stats": {"cscm": batch_stats}}

"""FastICA (Hyvarinen and Oja 1997) in JAX: the classical SES baseline of Orihara et al. (2009).

Symmetric (parallel) FastICA with the log-cosh contrast (g = tanh), on one multichannel record (C, T). The
fixed-point loop is a `lax.while_loop`, so `jax.vmap(fastica)` separates many days at once.

  1. centre each channel and whiten with the eigendecomposition of the covariance;
  2. W <- E[g(W z) z^T] - diag(E[g'(W z)]) W, then symmetric decorrelation W <- (W W^T)^(-1/2) W;
  3. stop when max_i |1 - |<w_i, w_i_old>|| < tol or after max_iter iterations.
Sources come out with unit variance, in arbitrary order and sign (the ICA ambiguities).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class IcaResult(NamedTuple):
  sources: jax.Array  # (C, T) unit-variance independent components
  unmixing: jax.Array  # (C, C) W such that sources = W @ whitening @ (x - mean)
  mixing: jax.Array  # (C, C) A such that x - mean ~= A @ sources
  num_iterations: jax.Array


def _symmetric_decorrelation(w: jax.Array) -> jax.Array:
  """(W W^T)^(-1/2) W."""
  values, vectors = jnp.linalg.eigh(w @ w.T)
  return (vectors / jnp.sqrt(values)[None, :]) @ vectors.T @ w


def _whitening(centred: jax.Array) -> jax.Array:
  """diag(lambda^-1/2) V^T of the covariance of `centred` (C, T): the matrix that whitens it."""
  covariance = centred @ centred.T / centred.shape[-1]
  values, vectors = jnp.linalg.eigh(covariance)
  return (vectors / jnp.sqrt(jnp.maximum(values, 1e-12))[None, :]).T


def whiten(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(z, whitening, mean): z = whitening @ (x - mean) has identity covariance.

  Whitened twice: with nearly collinear channels (a condition number of the covariance near
  1e5, as dipoles that see the same field give) a float32 eigendecomposition leaves a few percent
  of error in the variances; the second pass works on a covariance close to the identity, where
  float32 is accurate, and removes it.
  """
  mean = jnp.mean(x, axis=-1, keepdims=True)
  centred = x - mean
  first = _whitening(centred)
  second = _whitening(first @ centred)
  whitening = second @ first
  return whitening @ centred, whitening, mean


def fastica(x: jax.Array, key: jax.Array, *, max_iter: int = 200, tol: float = 1e-4) -> IcaResult:
  """Independent components of x (C, T); `key` draws the initial unmixing matrix."""
  channels, length = x.shape
  z, whitening, _ = whiten(x)
  w0 = _symmetric_decorrelation(jax.random.normal(key, (channels, channels), x.dtype))

  def update(w):
    projected = jnp.tanh(w @ z)  # g(W z), (C, T)
    derivative = jnp.mean(1.0 - jnp.square(projected), axis=-1)  # E[g'(W z)], (C,)
    return _symmetric_decorrelation(projected @ z.T / length - derivative[:, None] * w)

  def not_converged(carry):
    _, change, iteration = carry
    return (change > tol) & (iteration < max_iter)

  def body(carry):
    w, _, iteration = carry
    new = update(w)
    change = jnp.max(jnp.abs(jnp.abs(jnp.sum(new * w, axis=-1)) - 1.0))
    return new, change, iteration + 1

  w, _, iterations = jax.lax.while_loop(
    not_converged, body, (w0, jnp.asarray(jnp.inf, x.dtype), jnp.zeros((), jnp.int32))
  )
  unmixing = w @ whitening
  return IcaResult(
    sources=w @ z, unmixing=unmixing, mixing=jnp.linalg.pinv(unmixing), num_iterations=iterations
  )

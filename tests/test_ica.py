"""FastICA recovers known independent sources from their mixtures (up to order, sign and scale)."""

import jax
import jax.numpy as jnp
import numpy as np

from precursor_jax.signal.ica import fastica, whiten


def mixed_sources(seed=0, length=8640):
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  sources = np.stack(
    [
      np.sign(np.sin(2 * np.pi * t / 700.0)),  # square wave (sub-Gaussian)
      rng.laplace(size=length),  # super-Gaussian noise
      np.sin(2 * np.pi * t / 2300.0 + 0.3),  # sinusoid
    ]
  )
  mixing = rng.normal(size=(3, 3))
  return sources, mixing, mixing @ sources


def best_abs_correlation(estimated, truth):
  """For each true source, the largest |correlation| with any estimated component."""
  corr = np.corrcoef(np.vstack([truth, estimated]))[: len(truth), len(truth) :]
  return np.max(np.abs(corr), axis=1)


def test_whitening_gives_identity_covariance():
  _, _, x = mixed_sources()
  z, whitening, mean = whiten(jnp.asarray(x))
  np.testing.assert_allclose(np.cov(np.asarray(z), bias=True), np.eye(3), atol=5e-3)  # float32
  np.testing.assert_allclose(np.asarray(whitening) @ (x - np.asarray(mean)), z, atol=1e-4)


def test_fastica_recovers_the_sources():
  sources, _, x = mixed_sources()
  result = jax.jit(fastica)(jnp.asarray(x, jnp.float32), jax.random.key(0))
  assert np.all(best_abs_correlation(np.asarray(result.sources), sources) > 0.99)
  assert int(result.num_iterations) < 200
  centred = x - x.mean(axis=1, keepdims=True)
  np.testing.assert_allclose(np.asarray(result.mixing @ result.sources), centred, atol=2e-3)


def test_fastica_vmaps_over_days():
  days = [mixed_sources(seed) for seed in range(3)]
  x = jnp.asarray(np.stack([d[2] for d in days]), jnp.float32)
  keys = jax.random.split(jax.random.key(1), 3)
  batched = jax.jit(jax.vmap(fastica))(x, keys)
  for i, (sources, _, _) in enumerate(days):
    assert np.all(best_abs_correlation(np.asarray(batched.sources[i]), sources) > 0.99)
    single = fastica(x[i], keys[i])
    assert int(single.num_iterations) == int(batched.num_iterations[i])

"""Variational Mode Decomposition (Dragomiretskiy and Zosso 2014) as one compiled JAX program.

VMD splits a real series into K band-limited modes u_k with centre frequencies omega_k by ADMM in
the Fourier domain. `vmd` runs the whole ADMM loop inside `jax.jit` (`lax.while_loop`) on the
non-negative half of the spectrum of the mirrored signal, keeping only the current and previous
iterates (O(K T) memory; vmdpy keeps every iterate, O(iterations K T): 47 GiB for one year of
1-minute data). Leading batch dimensions are decomposed independently (`jax.vmap`).

The algorithm, as the field's tools run it (vmdpy 0.2 and the authors' MATLAB code):
  1. Mirror: for an even length N, f_m = [flip(x[:N/2]), x, flip(x[N/2:])], T = 2N; its spectrum
     on the grid freqs_j = j/T - 1/2 (cycles per sample) with the negative half and the Nyquist
     bin set to zero. Those bins stay zero in every update, so this module runs the ADMM on the
     N bins of frequency m/T, m = 0..N-1, which is exact (an rfft of the mirror, Nyquist dropped).
  2. Each update sweeps the modes in Gauss-Seidel order, with the filter centred on the OLD omega:
       u_k <- (f - sum_{j<k} u_j(new) - sum_{j>k} u_j(old) - lambda/2)
              / (1 + alpha (freqs - omega_k)^2)
       omega_k <- sum freqs |u_k|^2 / sum |u_k|^2      (kept at 0 for k = 0 when dc=True)
     then the dual ascent lambda <- lambda + tau (sum_k u_k - f).
  3. Stop when the change of the mode spectra is small (see `stopping`) or after max_iter - 1
     updates; rebuild real modes by an inverse FFT and keep the middle N samples.

Quirks of the reference, and what this module does with each one:
  * Returned iterate. vmdpy (and sktime, fast-vmdpy and vmdrs-py, which follow it) returns the
    PENULTIMATE iterate: the update that passes the stopping test is computed and discarded; its
    omega history also ends one update early. MATLAB's VMD.m returns the last. Default
    `iterate="penultimate"` (vmdpy's numbers); `iterate="last"` returns the final update. On the
    reference signal the two differ by about 1e-5 (absolute, unit-variance-scale data).
  * Stopping test. vmdpy continues while uDiff = 2.2e-16 + sum_k (1/T) sum_bins |du_k|^2 > tol:
    ABSOLUTE, so it scales with amplitude squared and with length (the same 10,080 samples need
    19 / 155 / 475 / 499 updates at amplitude 1e-3 / 1e-2 / 1 / 100; nT-scale months run to the
    cap, strain in units of strain stops after a few updates). Default `stopping="absolute"`
    reproduces it bit for bit in the decision. `stopping="relative"` is the paper's test
    (Algorithm 2): continue while sum_k ||du_k||^2 / ||u_k(previous)||^2 > tol, which is the
    same for any amplitude (the first update always runs).
  * MATLAB's VMD.m computes uDiff as |sum du^2| (conjugating twice) instead of sum |du|^2, so it
    stops at a different update (377 instead of 475 on the reference). Not reproduced.
  * The reconstruction gives each mode's Nyquist bin the value of the bin below it (that bin is
    never updated); reproduced, because it is part of vmdpy's output (a (-1)^n term of amplitude
    |Re u_k(N-1)|/T, negligible for modes away from 0.5 cycles per sample).
  * Odd lengths. vmdpy drops the last sample (returns N-1); sktime 1.2 and vmdrs-py return N
    samples shifted by one. Here the ADMM runs on the first N-1 samples exactly as vmdpy does and
    `modes` has all N samples: the first N-1 equal vmdpy's, and the last is each mode's own
    continuation one sample past the decomposed span (sample 3T/4 of the mirrored mode, which by
    the mirror symmetry is close to sample N-2 when tau = 0). The last input sample is therefore
    NOT decomposed: `reconstruct(result)[..., -1]` follows x[N-2], not x[N-1]. Pass an even length
    to have every sample decomposed.
  * A mode with zero energy (an all-zero input) would give omega = 0/0 = NaN in vmdpy; here its
    omega keeps the previous value.
  * tol >= 2: vmdpy's loop never starts (tol + 2.2e-16 rounds to tol) and it returns zeros; here
    the first update always runs.
  * Mode order. `modes` and `omega` are sorted by ascending final omega (a stable sort), so k_1 is
    always the lowest band, as the papers number them. vmdpy keeps its internal order, which with
    init "uniform" is almost always already ascending.
  * init="random": log-uniform in [1/N, 1/2) and sorted, as vmdpy's init=2, but drawn from a JAX
    key (vmdpy uses NumPy's global generator); every member of a batch starts from the same draw.

Precision and the meaning of `tol`. With `jax.enable_x64` the loop runs in float64/complex128 and
matches vmdpy to ~1e-13 relative with the same number of updates. Otherwise it runs in
float32/complex64, where a bin resolves changes only down to ~6e-8 of its magnitude, so an
absolute uDiff below about (6e-8)^2 * sum_k ||u_k||^2 / T ~ 4e-15 * N * mean(x^2) is not
measurable: for nT-scale data (mean(x^2) ~ 2e9 with the ~47,000 nT offset of Z) that is ~1e-5 * N,
far above tol = 1e-7. Such a test then passes only once the float32 iteration stops changing at
all (it lands on a fixed point of float32 arithmetic), which happens at a different update than
in float64, or never (then the cap). Measured on 1-minute synthetic series plus a 47,000 nT offset:
316 updates in float32 against 356 in float64 for a week, 441 against 427 for a month; six hours
of BOU Z: 246 in both. The relative test divides by ||u_k||^2 and is resolvable at any amplitude
down to ~1e-13: `stopping="relative"` gives 200 against 202 and 189 against 201 on the same
series. float32 modes differ from float64 ones by ~1e-4 of the largest mode amplitude (3e-7 with
the offset, which dominates). For numbers that must equal vmdpy's, enable x64; for float32 runs,
prefer stopping="relative".

Non-finite input. Called with concrete values, `vmd` raises a ValueError naming the first NaN/Inf
(and a value that overflows the working float type, e.g. 1e39 without x64). Under `jax.jit` (or
vmap, grad...) the values are tracers and cannot be checked eagerly, so the check is part of the
program: a series with any NaN or Inf gets NaN modes and NaN omega and num_iterations == 0 (no
update runs; every finite input runs at least one), so no plausible-looking numbers come from a
gap. Members of a batch are judged one by one.

Internal scaling. Each series is divided by a power of two 2^e close to its largest |value|
(from frexp, so |x| / 2^e < 1) before the ADMM and the modes are multiplied back by 2^e at the end.
Multiplying by a power of two is exact in binary floating point, and so is every FFT, sum, product
and quotient of the ADMM on the scaled values (each intermediate is the unscaled one times an exact
power of two), so for ordinary inputs the modes, omega and update counts are bit-for-bit those of
an unscaled run. What changes is the range: sum_k ||u_k||^2 can reach 4 N^3 max|x|^2, which
overflowed float32 (3.4e38) once max|x| passed ~9e18 / N^1.5 (3e14 for N = 1e3, 3e10 for a year of
1-minute samples) and gave NaN omega; scaled it stays below 4 N^3. The absolute stopping test
compares a squared amplitude, so it is applied on the scaled side with tol and vmdpy's 2.2e-16
offset both multiplied by 2^-2e, which makes exactly the decision of the unscaled test (both sides
of the comparison carry the same power of two). Where tol * 2^-2e falls below the smallest normal
number of the working precision (float32: max|x| above ~3e15 for tol = 1e-7) it is flushed to 0,
and the absolute test means "until the iterate stops changing" (or max_iter), which is all an
absolute 1e-7 on a squared 1e15-scale amplitude can mean in float32; the offset is flushed above
~1e11, which matters only for tol < 2.2e-16. Prefer stopping="relative" for such inputs.

Cost: per update one fused Gauss-Seidel pass over K x N bins and one fused reduction pass (omega,
energies, the stopping measure); two updates per loop body so neither iterate is copied. Memory is
a few (K, N) complex arrays: ~0.5 GiB peak RSS for one year of 1-minute data, float64.

Mode numbering: `select_modes` and `reconstruct` take 0-based indices (Python);
`high_frequency_part` takes the 1-based `first_mode` the papers use (k_4 + k_5 for geomagnetic Z:
first_mode=4; k_2..k_5 for borehole strain, i.e. drop the trend k_1: first_mode=2).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# np.spacing(1): vmdpy's offset of uDiff, kept so the absolute test decides as vmdpy's does.
_UDIFF_OFFSET = 2.220446049250313e-16
_INITS = ("zero", "uniform", "random")
_STOPPINGS = ("absolute", "relative")
_ITERATES = ("penultimate", "last")


class VMDResult(NamedTuple):
  """Output of `vmd`.

  Attributes:
    modes: (..., K, T) real modes, same length T as the input, sorted by ascending omega.
    omega: (..., K) centre frequencies of those modes in cycles per sample, ascending.
    num_iterations: (...) int32, ADMM updates run (vmdpy: len(omega history)); with
      iterate="penultimate" the modes are those after num_iterations - 1 updates. 0 marks a
      series with NaN/Inf under tracing, whose modes and omega are then NaN (module docstring).
  """

  modes: jax.Array
  omega: jax.Array
  num_iterations: jax.Array


class _LoopState(NamedTuple):
  """Carry of the ADMM loop: iterates `a` and `b`; `newest_in_b` says which is the latest."""

  a: jax.Array  # (K, N) complex spectra
  b: jax.Array  # (K, N)
  omega_a: jax.Array  # (K,)
  omega_b: jax.Array  # (K,)
  energy_a: jax.Array  # (K,) sum of |u_k|^2, the denominator of the relative test
  energy_b: jax.Array  # (K,)
  dual: jax.Array  # (N,) complex lambda, or (0,) when tau == 0
  count: jax.Array  # () int32 updates run
  change: jax.Array  # () stopping measure of the latest update
  newest_in_b: jax.Array  # () bool


def vmd(
  signal,
  num_modes: int = 5,
  alpha: float = 5000.0,
  tau: float = 0.0,
  tol: float = 1e-7,
  dc: bool = False,
  init: str = "uniform",
  max_iter: int = 500,
  *,
  key: jax.Array | None = None,
  stopping: str = "absolute",
  iterate: str = "penultimate",
) -> VMDResult:
  """Decompose (..., T) real signals into K modes; returns modes (..., K, T) and omega (..., K).

  Args:
    signal: (..., T) real array, T >= 2 * num_modes, finite (checked when concrete; a traced
      non-finite series gives NaN, see the module docstring); leading dimensions are a batch.
    num_modes: K, the number of modes.
    alpha: bandwidth penalty (> 0); larger means narrower modes.
    tau: dual-ascent step (>= 0); 0 means no exact reconstruction constraint (noise slack).
    tol: stopping tolerance, absolute or relative as `stopping` says (module docstring).
    dc: keep the first mode at frequency 0.
    init: initial omegas: "zero" (vmdpy init=0), "uniform" k/(2K) (init=1), "random" (init=2,
      needs `key`).
    max_iter: vmdpy's Niter: at most max_iter - 1 updates run.
    key: PRNG key for init="random".
    stopping: "absolute" (vmdpy) or "relative" (the paper).
    iterate: "penultimate" (vmdpy) or "last" (MATLAB, the paper).

  Returns:
    VMDResult(modes (..., K, T), omega (..., K), num_iterations (...)).
  """
  x = _check_signal(signal, num_modes)
  _check_options(num_modes, alpha, tau, tol, init, max_iter, key, stopping, iterate)
  batch_shape, length = x.shape[:-1], x.shape[-1]
  real_dtype = jnp.result_type(float)  # float64 under x64, else float32
  _check_representable(x, real_dtype)
  flat = jnp.asarray(x, real_dtype).reshape((-1, length))
  even = length - length % 2
  omega0 = _initial_omega(init, num_modes, even, dc, key, real_dtype)
  modes, omega, count = _vmd_batch(
    flat,
    omega0,
    jnp.asarray(alpha, real_dtype),
    jnp.asarray(tau, real_dtype),
    jnp.asarray(tol, real_dtype),
    dc=bool(dc),
    max_iter=int(max_iter),
    use_dual=tau != 0,
    relative=stopping == "relative",
    last=iterate == "last",
  )
  return VMDResult(
    modes.reshape(batch_shape + modes.shape[1:]),
    omega.reshape(batch_shape + omega.shape[1:]),
    count.reshape(batch_shape),
  )


def select_modes(result_or_modes, keep: Sequence[int]) -> jax.Array:
  """Modes at the 0-based indices `keep`: (..., K, T) -> (..., len(keep), T)."""
  modes = _modes_of(result_or_modes)
  keep = _check_indices(keep, modes.shape[-2])
  return modes[..., np.asarray(keep, dtype=np.int32), :]


def reconstruct(result_or_modes, keep: Sequence[int] | None = None) -> jax.Array:
  """Sum of the modes at 0-based indices `keep` (all when None): (..., K, T) -> (..., T)."""
  modes = _modes_of(result_or_modes)
  if keep is None:
    return jnp.sum(modes, axis=-2)
  return jnp.sum(select_modes(modes, keep), axis=-2)


def high_frequency_part(result_or_modes, first_mode: int) -> jax.Array:
  """Sum of modes k_first_mode..k_K, 1-based as in the papers: (..., K, T) -> (..., T).

  first_mode=4 with K=5 is the geomagnetic k_4 + k_5; first_mode=2 is the strain k_2..k_5.
  """
  modes = _modes_of(result_or_modes)
  num_modes = modes.shape[-2]
  if not 1 <= first_mode <= num_modes:
    raise ValueError(f"first_mode is 1-based and must be in [1, {num_modes}], got {first_mode}")
  return jnp.sum(modes[..., first_mode - 1 :, :], axis=-2)


def half_spectrum(x: jax.Array) -> jax.Array:
  """Non-negative half spectrum of the mirrored even-length signal: (N,) -> (N,) complex.

  Bin m is frequency m / (2N) cycles per sample; the Nyquist bin is dropped (vmdpy zeroes it).
  """
  length = x.shape[-1]
  quarter = length // 2
  mirrored = jnp.concatenate([x[:quarter][::-1], x, x[quarter:][::-1]])
  return jnp.fft.rfft(mirrored)[:length]


def modes_from_half_spectrum(spectra: jax.Array, length: int) -> jax.Array:
  """Real modes from (K, N) half spectra, un-mirrored: -> (K, length), length in {N, N + 1}.

  As vmdpy: the DC bin keeps its real part, the Nyquist bin takes the real part of bin N - 1.
  Sample `length - 1 = N` (odd inputs) is the mirrored continuation just past the span.
  """
  num_bins = spectra.shape[-1]
  full = jnp.concatenate(
    [
      spectra[:, :1].real.astype(spectra.dtype),
      spectra[:, 1:],
      spectra[:, -1:].real.astype(spectra.dtype),
    ],
    axis=1,
  )
  mirrored_modes = jnp.fft.irfft(full, n=2 * num_bins, axis=1)
  start = num_bins // 2
  return mirrored_modes[:, start : start + length]


def _check_signal(signal, num_modes) -> jax.Array | np.ndarray:
  """Real (..., T) array with T >= 2K; NaN/Inf raise (checked when the values are concrete)."""
  if isinstance(signal, jax.core.Tracer):
    x = signal
  else:
    x = np.asarray(signal)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
      raise TypeError(f"vmd: signal must be a real numeric array, got dtype {x.dtype}")
  if x.ndim < 1:
    raise ValueError("vmd: signal must have a time axis (shape (..., T)), got a scalar")
  if jnp.iscomplexobj(x):
    raise TypeError(f"vmd: signal must be real, got dtype {x.dtype}")
  if isinstance(num_modes, (int, np.integer)) and x.shape[-1] < 2 * num_modes:
    raise ValueError(
      f"vmd: signal of length {x.shape[-1]} is shorter than 2 * num_modes = {2 * num_modes}"
    )
  if isinstance(x, np.ndarray):
    bad = ~np.isfinite(x)
    if bad.any():
      where = tuple(int(i[0]) for i in np.nonzero(bad))
      raise ValueError(
        f"vmd: signal has {int(bad.sum())} NaN/Inf value(s), the first at index "
        f"{where}; fill or cut gaps before decomposing"
      )
  return x


def _check_representable(x, real_dtype) -> None:
  """A concrete input whose values overflow the working float type raises (an inf otherwise)."""
  if isinstance(x, np.ndarray) and x.size:
    peak = float(np.max(np.abs(x)))
    limit = float(jnp.finfo(real_dtype).max)
    if peak > limit:
      raise ValueError(
        f"vmd: signal reaches |x| = {peak:.3g}, beyond the largest {jnp.dtype(real_dtype).name} "
        f"({limit:.3g}); enable x64 (jax.enable_x64) or rescale the input"
      )


def _power_of_two(exponent: jax.Array, dtype) -> jax.Array:
  """2.0**exponent, exactly, built from its bits; exponent must give a normal number."""
  info = jnp.finfo(dtype)
  int_dtype = jnp.int64 if info.bits == 64 else jnp.int32
  bits = (exponent.astype(int_dtype) + (1 - info.minexp)) << info.nmant
  return lax.bitcast_convert_type(bits, dtype)


def _scale_exponent(x: jax.Array) -> jax.Array:
  """e with max|x| / 2^e in [0.5, 1) (0 for an all-zero or non-finite x), clipped so that both
  2^e and 2^-e are normal numbers of x's type."""
  info = jnp.finfo(x.dtype)
  peak = jnp.max(jnp.abs(x))
  _, exponent = jnp.frexp(jnp.where(jnp.isfinite(peak), peak, 0.0))
  return jnp.clip(exponent, info.minexp, -info.minexp)


def _check_options(num_modes, alpha, tau, tol, init, max_iter, key, stopping, iterate):
  """Raise ValueError naming the first invalid option."""
  if not isinstance(num_modes, (int, np.integer)) or isinstance(num_modes, bool) or num_modes < 1:
    raise ValueError(f"vmd: num_modes must be an integer >= 1, got {num_modes!r}")
  if not np.isfinite(alpha) or alpha <= 0:
    raise ValueError(f"vmd: alpha must be finite and > 0, got {alpha!r}")
  if not np.isfinite(tau) or tau < 0:
    raise ValueError(f"vmd: tau must be finite and >= 0, got {tau!r}")
  if not np.isfinite(tol) or tol < 0:
    raise ValueError(f"vmd: tol must be finite and >= 0, got {tol!r}")
  if not isinstance(max_iter, (int, np.integer)) or max_iter < 2:
    raise ValueError(
      f"vmd: max_iter must be an integer >= 2 (it allows max_iter - 1 updates), got {max_iter!r}"
    )
  if init not in _INITS:
    raise ValueError(f"vmd: init must be one of {_INITS}, got {init!r}")
  if init == "random" and key is None:
    raise ValueError('vmd: init="random" needs a PRNG key (key=jax.random.key(seed))')
  if stopping not in _STOPPINGS:
    raise ValueError(f"vmd: stopping must be one of {_STOPPINGS}, got {stopping!r}")
  if iterate not in _ITERATES:
    raise ValueError(f"vmd: iterate must be one of {_ITERATES}, got {iterate!r}")


def _initial_omega(init, num_modes, even_length, dc, key, dtype) -> jax.Array:
  """(K,) starting centre frequencies, as vmdpy's init 0 / 1 / 2."""
  if init == "uniform":
    omega = jnp.arange(num_modes, dtype=dtype) * (0.5 / num_modes)
  elif init == "random":
    lowest = np.log(1.0 / even_length)
    draw = jax.random.uniform(key, (num_modes,), dtype=dtype)
    omega = jnp.sort(jnp.exp(lowest + (np.log(0.5) - lowest) * draw))
  else:
    omega = jnp.zeros((num_modes,), dtype)
  if dc:
    omega = omega.at[0].set(0.0)
  return omega


@functools.partial(jax.jit, static_argnames=("dc", "max_iter", "use_dual", "relative", "last"))
def _vmd_batch(signals, omega0, alpha, tau, tol, *, dc, max_iter, use_dual, relative, last):
  """(B, T) signals -> modes (B, K, T), omega (B, K), counts (B,); members run independently.

  Under vmap the while loop runs until every member has stopped and a stopped member's state is
  held (lax.while_loop's batching rule selects the old carry), so each row equals its single run.
  """
  single = functools.partial(
    _vmd_single,
    omega0=omega0,
    alpha=alpha,
    tau=tau,
    tol=tol,
    dc=dc,
    max_iter=max_iter,
    use_dual=use_dual,
    relative=relative,
    last=last,
  )
  if signals.shape[0] == 1:
    # vmap's masked loop costs ~40% per update on CPU; one series needs no mask.
    return jax.tree.map(lambda a: a[None], single(signals[0]))
  return jax.vmap(single)(signals)


def _vmd_single(x, *, omega0, alpha, tau, tol, dc, max_iter, use_dual, relative, last):
  """(T,) -> modes (K, T), omega (K,), count (); the ADMM on the half spectrum.

  The series is scaled by an exact power of two and a non-finite series gives NaN (module
  docstring, "Non-finite input" and "Internal scaling").
  """
  length = x.shape[0]
  even = length - length % 2
  finite = jnp.all(jnp.isfinite(x))
  exponent = _scale_exponent(x)
  down = _power_of_two(-exponent, x.dtype)
  f_hat = half_spectrum(x[:even] * down)
  # The absolute test compares squared amplitudes: scale its tolerance and offset by down^2.
  offset = jnp.asarray(0.0 if relative else _UDIFF_OFFSET, x.dtype) * down * down
  spectra, omega, count = _admm(
    f_hat,
    omega0,
    alpha,
    tau,
    tol if relative else tol * down * down,
    offset,
    finite,
    dc=dc,
    max_iter=max_iter,
    use_dual=use_dual,
    relative=relative,
    last=last,
  )
  modes = modes_from_half_spectrum(spectra, length) * _power_of_two(exponent, x.dtype)
  order = jnp.argsort(omega, stable=True)
  nan = jnp.asarray(jnp.nan, x.dtype)
  return jnp.where(finite, modes[order], nan), jnp.where(finite, omega[order], nan), count


def _sweep(u, omega, dual, f_hat, freqs, alpha, use_dual):
  """One Gauss-Seidel pass over the modes: (K, N) -> new (K, N) and their sum (N,).

  The sum of the other modes is a running total (vmdpy's accumulator), so the pass is O(K N).
  """
  num_modes = u.shape[0]
  target = f_hat - 0.5 * dual if use_dual else f_hat
  others = jnp.zeros_like(f_hat) if num_modes == 1 else u[1]
  for j in range(2, num_modes):
    others = others + u[j]
  new = []
  for k in range(num_modes):
    if k > 0:
      others = new[k - 1] + others - u[k]
    gain = 1.0 / (1.0 + alpha * (freqs - omega[k]) ** 2)
    new.append((target - others) * gain.astype(u.dtype))
  return jnp.stack(new), others + new[-1]


def _measure(new, old, omega_old, energy_old, freqs, offset, dc, relative, num_samples):
  """Reductions of one update in a single pass: new omega, energies and the stopping measure.

  offset: vmdpy's 2.2e-16 added to the absolute measure, already scaled like the spectra.
  """
  power = new.real**2 + new.imag**2
  step = new - old
  step_power = step.real**2 + step.imag**2
  zero = jnp.zeros((), power.dtype)
  weighted = power * jnp.broadcast_to(freqs[None, :], power.shape)
  energy, moment, change = lax.reduce(
    (power, weighted, step_power),
    (zero, zero, zero),
    lambda p, q: (p[0] + q[0], p[1] + q[1], p[2] + q[2]),
    (1,),
  )
  # vmdpy would give 0/0 = NaN for a mode with no energy; keep its previous omega instead.
  omega = jnp.where(energy > 0, moment / jnp.where(energy > 0, energy, 1.0), omega_old)
  if dc:
    omega = omega.at[0].set(omega_old[0])
  if relative:
    ratio = jnp.where(
      energy_old > 0,
      change / jnp.where(energy_old > 0, energy_old, 1.0),
      jnp.where(change > 0, jnp.inf, 0.0),
    )
    measure = jnp.sum(ratio)
  else:
    measure = offset + jnp.sum(change) / num_samples
  return omega, energy, measure


def _admm(
  f_hat, omega0, alpha, tau, tol, offset, finite, *, dc, max_iter, use_dual, relative, last
):
  """ADMM on the half spectrum (N,) -> spectra (K, N), omega (K,), updates run ().

  Each loop body runs up to two updates, a -> b then b -> a, so neither iterate is ever copied;
  the second is masked out when the first passes the stopping test. finite: () bool, False for a
  non-finite input, which runs no update (the first test sees NaN).
  """
  num_bins = f_hat.shape[0]
  num_samples = 2 * num_bins  # T of the mirrored signal: vmdpy's 1/T in uDiff
  real_dtype = f_hat.real.dtype
  freqs = jnp.arange(num_bins, dtype=real_dtype) / num_samples
  num_modes = omega0.shape[0]

  def keep_going(change, count):
    return (change > tol) & (count < max_iter - 1)

  def update(u, omega, dual):
    new, total = _sweep(u, omega, dual, f_hat, freqs, alpha, use_dual)
    dual_new = dual + tau * (total - f_hat) if use_dual else dual
    return new, dual_new

  def body(s: _LoopState) -> _LoopState:
    b, dual_b = update(s.a, s.omega_a, s.dual)
    omega_b, energy_b, change_b = _measure(
      b, s.a, s.omega_a, s.energy_a, freqs, offset, dc, relative, num_samples
    )
    count_b = s.count + 1
    second = keep_going(change_b, count_b)
    a, dual_a = update(b, omega_b, dual_b)
    a = jnp.where(second, a, s.a)
    omega_a, energy_a, change_a = _measure(
      a, b, omega_b, energy_b, freqs, offset, dc, relative, num_samples
    )
    return _LoopState(
      a=a,
      b=b,
      omega_a=jnp.where(second, omega_a, s.omega_a),
      omega_b=omega_b,
      energy_a=jnp.where(second, energy_a, s.energy_a),
      energy_b=energy_b,
      dual=jnp.where(second, dual_a, dual_b) if use_dual else s.dual,
      count=jnp.where(second, count_b + 1, count_b),
      change=jnp.where(second, change_a, change_b),
      newest_in_b=~second,
    )

  zeros = jnp.zeros((num_modes, num_bins), f_hat.dtype)
  no_energy = jnp.zeros((num_modes,), real_dtype)
  state = _LoopState(
    a=zeros,
    b=zeros,
    omega_a=omega0,
    omega_b=omega0,
    energy_a=no_energy,
    energy_b=no_energy,
    dual=jnp.zeros((num_bins,) if use_dual else (0,), f_hat.dtype),
    count=jnp.zeros((), jnp.int32),
    change=jnp.where(finite, jnp.inf, jnp.nan).astype(real_dtype),
    newest_in_b=jnp.asarray(False),
  )
  state = lax.while_loop(lambda s: keep_going(s.change, s.count), body, state)
  take_b = state.newest_in_b == last
  spectra = jnp.where(take_b, state.b, state.a)
  omega = jnp.where(take_b, state.omega_b, state.omega_a)
  return spectra, omega, state.count


def _modes_of(result_or_modes) -> jax.Array:
  """The (..., K, T) modes of a VMDResult or of a modes array."""
  modes = result_or_modes.modes if isinstance(result_or_modes, VMDResult) else result_or_modes
  modes = jnp.asarray(modes)
  if modes.ndim < 2:
    raise ValueError(f"expected modes of shape (..., K, T), got shape {modes.shape}")
  return modes


def _check_indices(keep, num_modes) -> list[int]:
  """0-based mode indices in [0, K), at least one, no repeats."""
  keep = [int(k) for k in keep]
  if not keep:
    raise ValueError("keep must name at least one mode")
  bad = [k for k in keep if not 0 <= k < num_modes]
  if bad:
    raise ValueError(
      f"mode indices are 0-based and must be in [0, {num_modes}), got {bad} "
      f"(use high_frequency_part for the papers' 1-based k_i)"
    )
  if len(set(keep)) != len(keep):
    raise ValueError(f"repeated mode index in keep={keep}")
  return keep

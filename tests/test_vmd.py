"""JAX VMD against vmdpy 0.2 (the field's reference) and a slow NumPy oracle of the paper's updates.

x64 is switched on only inside these tests (the `x64` fixture), so other test files keep float32.
"""

import itertools
import json

import jax
import numpy as np
import pytest

from precursor_jax.signal import vmd as vmd_lib
from precursor_jax.signal.vmd import VMDResult, high_frequency_part, reconstruct, select_modes, vmd

_INIT_CODES = {"zero": 0, "uniform": 1, "random": 2}


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


@pytest.fixture(scope="module")
def vmdpy():
  return pytest.importorskip("vmdpy", reason="vmdpy 0.2 is the test-only reference")


def make_signal(length, seed=0, scale=1.0):
  """Trend + two lines + noise, the kind of series the papers decompose."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  x = (
    np.sin(2 * np.pi * t / 50)
    + 0.5 * np.sin(2 * np.pi * t / 7)
    + 0.3 * np.sin(0.9 * t)
    + 0.2 * rng.normal(size=length)
    + 1e-3 * t
  )
  return scale * x


def run_vmdpy(vmdpy, x, num_modes, alpha, tau, dc, init, tol):
  """vmdpy's modes sorted by its final omega (the order this module returns), omega, count."""
  u, _, omega_history = vmdpy.VMD(x, alpha, tau, num_modes, int(dc), _INIT_CODES[init], tol)
  final = omega_history[-1]
  order = np.argsort(final, kind="stable")
  return u[order], final[order], len(omega_history)


def numpy_vmd_history(x, num_modes, alpha, tau, omega0, dc, num_updates):
  """Slow oracle: the paper's updates on the full two-sided spectrum, every iterate kept.

  Written from Dragomiretskiy and Zosso (2014), Algorithm 2, with vmdpy's mirror and one-sided
  spectrum; other modes are summed directly (no running total). Returns the list of
  (spectra (K, T), omega (K,)) from iterate 0 to `num_updates`, and the frequency grid.
  """
  half = len(x) // 2
  mirrored = np.concatenate([x[:half][::-1], x, x[half:][::-1]])
  freqs = np.fft.fftfreq(len(mirrored))  # bin T/2 is -0.5 (Nyquist), zeroed with the negatives
  positive = freqs >= 0
  f_plus = np.where(positive, np.fft.fft(mirrored), 0)
  spectra = np.zeros((num_modes, len(mirrored)), complex)
  omega = np.array(omega0, float)
  dual = np.zeros(len(mirrored), complex)
  history = [(spectra, omega)]
  for _ in range(num_updates):
    new = spectra.copy()
    for k in range(num_modes):
      others = new[:k].sum(axis=0) + spectra[k + 1 :].sum(axis=0)
      new[k] = (f_plus - others - dual / 2) / (1 + alpha * (freqs - omega[k]) ** 2)
    power = np.abs(new[:, positive]) ** 2
    new_omega = power @ freqs[positive] / power.sum(axis=1)
    if dc:
      new_omega[0] = omega[0]
    dual = dual + tau * (new.sum(axis=0) - f_plus)
    spectra, omega = new, new_omega
    history.append((spectra, omega))
  return history, freqs


def oracle_modes(spectra, length):
  """Real modes of (K, T) one-sided spectra with vmdpy's DC and Nyquist handling, un-mirrored."""
  num_samples = spectra.shape[1]
  full = spectra.copy()
  full[:, num_samples // 2 + 1 :] = np.conj(spectra[:, 1 : num_samples // 2][:, ::-1])
  full[:, num_samples // 2] = np.conj(spectra[:, num_samples // 2 - 1])
  full[:, 0] = np.conj(spectra[:, 0])
  modes = np.real(np.fft.ifft(full, axis=1))
  return modes[:, num_samples // 4 : num_samples // 4 + length]


def sorted_by_omega(modes, omega):
  order = np.argsort(omega, kind="stable")
  return modes[order], omega[order]


def rel_err(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def test_matches_vmdpy_reference_arrays(x64, test_data_dir):
  """The committed vmdpy 0.2 output on one week of 1-minute samples (475 updates)."""
  folder = test_data_dir / "vmd_reference"
  params = json.loads((folder / "params_10080.json").read_text())
  x = np.load(folder / "input_f_10080.npy")
  u_ref = np.load(folder / "vmdpy_u_10080.npy")
  omega_history = np.load(folder / "vmdpy_omega_10080.npy")
  assert params["init"] == 1 and params["DC"] == 0
  result = vmd(
    x,
    num_modes=params["K"],
    alpha=params["alpha"],
    tau=params["tau"],
    tol=params["tol"],
    dc=False,
    init="uniform",
  )
  assert result.modes.dtype == np.float64 and result.modes.shape == (5, 10080)
  assert int(result.num_iterations) == len(omega_history) == 475
  # vmdpy's order is already ascending here, so no permutation hides a mismatch.
  assert np.all(np.diff(omega_history[-1]) > 0)
  assert rel_err(result.modes, u_ref) < 1e-8
  np.testing.assert_allclose(result.omega, omega_history[-1], rtol=1e-8, atol=1e-12)


# (name, length, scale, options): each case checks modes, omega and the update count vs vmdpy.
VMDPY_CASES = [
  ("odd_length", 1201, 1.0, {}),
  ("tau", 1200, 1e-3, {"tau": 0.3}),
  ("tau_small_step", 1200, 1e-2, {"tau": 0.01}),
  ("dc", 1200, 1.0, {"dc": True}),
  ("init_zero", 1200, 1.0, {"init": "zero"}),
  ("large_amplitude", 1200, 1e4, {}),
  ("tiny_amplitude", 1200, 1e-3, {}),
  ("k3_alpha500", 800, 1.0, {"num_modes": 3, "alpha": 500.0, "tol": 1e-6}),
]


@pytest.mark.parametrize("name,length,scale,options", VMDPY_CASES, ids=[c[0] for c in VMDPY_CASES])
def test_matches_vmdpy(x64, vmdpy, name, length, scale, options):
  opts = {
    "num_modes": 4,
    "alpha": 2000.0,
    "tau": 0.0,
    "dc": False,
    "init": "uniform",
    "tol": 1e-7,
  } | options
  x = make_signal(length, seed=len(name), scale=scale)
  u_ref, omega_ref, count_ref = run_vmdpy(
    vmdpy, x, opts["num_modes"], opts["alpha"], opts["tau"], opts["dc"], opts["init"], opts["tol"]
  )
  result = vmd(x, **opts)
  assert result.modes.shape == (opts["num_modes"], length)
  assert int(result.num_iterations) == count_ref
  # vmdpy drops the last sample of an odd length: compare the first N - 1.
  assert rel_err(result.modes[:, : u_ref.shape[1]], u_ref) < 1e-8
  np.testing.assert_allclose(result.omega, omega_ref, rtol=1e-8, atol=1e-12)


def test_update_counts_follow_the_absolute_test(x64, vmdpy):
  """vmdpy's absolute test: the same series stops at very different updates by amplitude."""
  x = make_signal(1000, seed=3)
  counts = [int(vmd(scale * x, num_modes=4).num_iterations) for scale in (1e-3, 1.0, 1e3)]
  counts_ref = [
    run_vmdpy(vmdpy, scale * x, 4, 5000.0, 0.0, False, "uniform", 1e-7)[2]
    for scale in (1e-3, 1.0, 1e3)
  ]
  assert counts == counts_ref
  assert counts[0] < counts[1] < counts[2]


def test_random_init_matches_vmdpy_with_the_same_draws(x64, vmdpy, monkeypatch):
  """init="random" maps uniform draws of `key` to vmdpy's init=2 omegas; feed vmdpy the draws."""
  key = jax.random.key(7)
  draws = np.asarray(jax.random.uniform(key, (4,), dtype=np.float64))
  monkeypatch.setattr(vmdpy.vmdpy.np.random, "rand", lambda *shape: draws.reshape(shape))
  x = make_signal(1000, seed=5)
  u_ref, omega_ref, count_ref = run_vmdpy(vmdpy, x, 4, 2000.0, 0.0, False, "random", 1e-7)
  result = vmd(x, num_modes=4, alpha=2000.0, init="random", key=key)
  assert int(result.num_iterations) == count_ref
  assert rel_err(result.modes, u_ref) < 1e-8
  np.testing.assert_allclose(result.omega, omega_ref, rtol=1e-8, atol=1e-12)


def test_random_init_omegas_are_log_uniform_and_sorted(x64):
  omega0 = np.asarray(
    vmd_lib._initial_omega("random", 6, 1000, False, jax.random.key(1), np.float64)
  )
  assert np.all(np.diff(omega0) >= 0) and omega0[0] >= 1e-3 and omega0[-1] < 0.5
  with pytest.raises(ValueError, match="needs a PRNG key"):
    vmd(make_signal(100), num_modes=3, init="random")


@pytest.mark.parametrize("tau,dc", [(0.0, False), (0.2, True)])
def test_last_iterate_and_odd_tail_match_numpy_oracle(x64, tau, dc):
  """iterate="last" and the odd-length last sample against the slow full-spectrum oracle.

  tol=0 never stops, so max_iter=12 runs exactly 11 updates.
  """
  x = make_signal(401, seed=11)  # odd: the ADMM sees x[:400]
  omega0 = np.arange(3) * 0.5 / 3
  history, _ = numpy_vmd_history(x[:400], 3, 1000.0, tau, omega0, dc, 11)
  for iterate, index in (("last", 11), ("penultimate", 10)):
    result = vmd(
      x, num_modes=3, alpha=1000.0, tau=tau, dc=dc, tol=0.0, max_iter=12, iterate=iterate
    )
    assert int(result.num_iterations) == 11
    spectra, omega = history[index]
    modes, omega = sorted_by_omega(oracle_modes(spectra, 401), omega)
    assert result.modes.shape == (3, 401)
    # All 401 samples, the last being the mirrored continuation at 3T/4.
    assert rel_err(result.modes, modes) < 1e-10
    np.testing.assert_allclose(result.omega, omega, rtol=1e-10, atol=1e-14)


def test_relative_stopping_matches_oracle_and_ignores_amplitude(x64):
  """The paper's test: stop at the first n with sum_k |du_k|^2 / |u_k(n-1)|^2 <= tol."""
  x = make_signal(300, seed=2)
  tol = 1e-5
  history, _ = numpy_vmd_history(x, 3, 2000.0, 0.0, np.arange(3) / 6, False, 120)
  measures = [
    np.sum(np.sum(np.abs(new - old) ** 2, axis=1) / np.sum(np.abs(old) ** 2, axis=1))
    for (old, _), (new, _) in itertools.pairwise(history[1:])
  ]
  expected = 2 + int(np.argmax(np.array(measures) <= tol))  # update 1 always continues
  assert expected < 120
  counts = []
  for scale in (1e-4, 1.0, 1e5):
    result = vmd(scale * x, num_modes=3, alpha=2000.0, tol=tol, stopping="relative")
    counts.append(int(result.num_iterations))
    modes, _ = sorted_by_omega(
      oracle_modes(history[counts[-1] - 1][0], 300), history[counts[-1] - 1][1]
    )
    assert rel_err(result.modes, scale * modes) < 1e-9
  assert counts == [expected] * 3


def test_batch_equals_single_runs_with_different_stopping_updates(x64):
  """A vmapped batch freezes each member when its own test passes."""
  x = make_signal(600, seed=4)
  batch = np.stack([1e-3 * x, x, 30.0 * x[::-1], 1e-2 * x])
  result = vmd(batch, num_modes=3, alpha=3000.0)
  singles = [vmd(row, num_modes=3, alpha=3000.0) for row in batch]
  counts = [int(s.num_iterations) for s in singles]
  assert len(set(counts)) >= 3, counts  # the members really stop at different updates
  np.testing.assert_array_equal(result.num_iterations, counts)
  for row, single in zip(range(len(batch)), singles, strict=True):
    np.testing.assert_allclose(
      result.modes[row], single.modes, rtol=0, atol=1e-12 * float(np.abs(single.modes).max())
    )
    np.testing.assert_allclose(result.omega[row], single.omega, rtol=1e-12)
  nested = vmd(batch.reshape(2, 2, 600), num_modes=3, alpha=3000.0)
  assert nested.modes.shape == (2, 2, 3, 600) and nested.num_iterations.shape == (2, 2)
  np.testing.assert_array_equal(nested.num_iterations.reshape(-1), counts)


def test_real_geomagnetic_z_units_change_the_absolute_test_only(x64, vmdpy, test_data_dir):
  """Six hours of BOU Z: in nT (~47,370) and in uT the absolute test stops at different updates
  (as vmdpy's does), the paper's relative test at the same one."""
  from precursor_jax.data.iaga2002 import read_iaga2002_file

  series = read_iaga2002_file(test_data_dir / "geomag" / "BOU201601vmin_first6h.min")
  z = series.values[:, series.channels.index("Z")]
  assert np.isfinite(z).all() and 4e4 < z.mean() < 6e4
  absolute_counts, relative_counts, relative_omegas = [], [], []
  for scale in (1.0, 1e-3):  # nT, uT
    u_ref, _, count_ref = run_vmdpy(vmdpy, scale * z, 5, 5000.0, 0.0, False, "uniform", 1e-7)
    result = vmd(scale * z)
    assert int(result.num_iterations) == count_ref
    assert rel_err(result.modes, u_ref) < 1e-8
    absolute_counts.append(count_ref)
    relative = vmd(scale * z, stopping="relative")
    relative_counts.append(int(relative.num_iterations))
    relative_omegas.append(np.asarray(relative.omega))
  assert absolute_counts[0] > 2 * absolute_counts[1]
  assert relative_counts[0] == relative_counts[1] < 499
  np.testing.assert_allclose(relative_omegas[0], relative_omegas[1], rtol=1e-9)


def test_float32_without_x64():
  """Without x64 the loop runs in float32; results stay close to the float64 ones."""
  x = make_signal(1000, seed=8)
  result = vmd(x, num_modes=4, stopping="relative", tol=1e-6)
  assert result.modes.dtype == np.float32 and result.omega.dtype == np.float32
  with jax.enable_x64(True):
    reference = vmd(x, num_modes=4, stopping="relative", tol=1e-6)
  assert abs(int(result.num_iterations) - int(reference.num_iterations)) <= 10
  assert rel_err(result.modes, reference.modes) < 1e-3
  np.testing.assert_allclose(result.omega, reference.omega, atol=1e-5)


def test_runs_under_jit(x64):
  x = make_signal(200, seed=9)
  jitted = jax.jit(lambda s: vmd(s, num_modes=3).modes)
  np.testing.assert_allclose(jitted(x), vmd(x, num_modes=3).modes, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
  "kwargs,signal,error,match",
  [
    ({"num_modes": 0}, make_signal(50), ValueError, "num_modes must be an integer >= 1"),
    ({"alpha": 0.0}, make_signal(50), ValueError, "alpha must be finite and > 0"),
    ({"alpha": -1.0}, make_signal(50), ValueError, "alpha must be finite and > 0"),
    ({"tau": -0.1}, make_signal(50), ValueError, "tau must be finite and >= 0"),
    ({"max_iter": 1}, make_signal(50), ValueError, "max_iter must be an integer >= 2"),
    ({"init": "linear"}, make_signal(50), ValueError, "init must be one of"),
    ({"stopping": "paper"}, make_signal(50), ValueError, "stopping must be one of"),
    ({"iterate": "final"}, make_signal(50), ValueError, "iterate must be one of"),
    ({"num_modes": 5}, make_signal(9), ValueError, "shorter than 2 \\* num_modes = 10"),
    (
      {},
      np.where(np.arange(50) == 17, np.nan, make_signal(50)),
      ValueError,
      r"1 NaN/Inf value\(s\), the first at index \(17,\)",
    ),
    ({}, make_signal(50) + 1j, TypeError, "must be a real numeric array"),
  ],
)
def test_invalid_arguments_raise_clear_errors(kwargs, signal, error, match):
  with pytest.raises(error, match=match):
    vmd(signal, **kwargs)


def test_mode_helpers(x64):
  x = make_signal(400, seed=6)
  result = vmd(x, num_modes=5)
  modes = np.asarray(result.modes)
  np.testing.assert_array_equal(select_modes(result, (3, 4)), modes[[3, 4]])
  np.testing.assert_allclose(reconstruct(result), modes.sum(axis=0), rtol=1e-12)
  np.testing.assert_allclose(
    reconstruct(result.modes, keep=[0, 2]), modes[0] + modes[2], rtol=1e-12
  )
  # The papers' 1-based k_4 + k_5 (geomagnetic) and k_2..k_5 (strain, trend k_1 dropped).
  np.testing.assert_allclose(high_frequency_part(result, 4), modes[3] + modes[4], rtol=1e-12)
  np.testing.assert_allclose(high_frequency_part(result, 2), modes[1:].sum(axis=0), rtol=1e-12)
  batched = VMDResult(np.stack([modes, 2 * modes]), None, None)
  assert high_frequency_part(batched, 4).shape == (2, 400)
  with pytest.raises(ValueError, match="0-based"):
    select_modes(result, (4, 5))
  with pytest.raises(ValueError, match="1-based"):
    high_frequency_part(result, 0)
  with pytest.raises(ValueError, match="repeated"):
    reconstruct(result, keep=(1, 1))

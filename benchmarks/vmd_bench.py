"""Wall time and peak memory of VMD: precursor_jax against vmdpy, fast-vmdpy and vmdrs-py.

COMMAND (the table in benchmarks/RESULTS.md; about 17 minutes on 2 busy CPU cores, 16 GiB free RAM
for vmdpy at 172,800 samples):
  python benchmarks/vmd_bench.py --sizes 10080,43200,172800,525600 \
      --peers vmdpy,fast-vmdpy,vmdrs-py --batch 5

Every measurement runs in its own subprocess, which reports its own peak RSS (ru_maxrss) and CPU
time. Signals are 1-minute synthetic series like the shared reference input (daily, semidiurnal
and M2 tidal lines, a slow drift, unit white noise); K=5, alpha=5000, tau=0, DC=0, init=1,
tol=1e-7 for everyone, float64 (x64) for precursor_jax. Wall time is the median of --repeats runs
after a warm-up (JAX: one full call, which compiles; fast-vmdpy: a small call, which compiles the
numba kernel); peers above 43,200 samples run once (--peer-repeats-large), they take minutes.
Peers run with one BLAS / numba / rayon thread (--peer-threads; vmdpy's many tiny complex dot
products run about 3x slower with two OpenBLAS threads on this machine); precursor_jax runs with
XLA's defaults (its loop uses one core: see the CPU-seconds column).
vmdpy allocates its whole iteration history up front (about 0.9 GiB per 10,080 samples) and is
skipped where that exceeds the memory available. The peers are imported from --peer-python (a
separate virtualenv, e.g. `python -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install
fast-vmdpy vmdrs-py`); a peer that does not import there is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PEERS = ("vmdpy", "fast-vmdpy", "vmdrs-py")
PEER_MODULES = {"vmdpy": "vmdpy", "fast-vmdpy": "fast_vmdpy", "vmdrs-py": "vmdrs_py"}
PARAMS = {"K": 5, "alpha": 5000.0, "tau": 0.0, "DC": 0, "init": 1, "tol": 1e-7}
VMDPY_GIB_PER_10080 = 0.9  # measured peak of vmdpy's preallocated history at 499 updates
# Thread pools of NumPy's BLAS (vmdpy's complex dot products), numba and Rust's rayon.
THREAD_VARIABLES = (
  "OPENBLAS_NUM_THREADS",
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "NUMBA_NUM_THREADS",
  "RAYON_NUM_THREADS",
)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_signal(length: int, seed: int = 0):
  """(length,) float64 1-minute series shaped like the shared VMD reference input."""
  import numpy as np

  rng = np.random.default_rng(seed)
  minutes = np.arange(length, dtype=np.float64)
  lines = (
    20.0 * np.sin(2 * np.pi * minutes / 1440.0 + rng.uniform(0, 2 * np.pi))
    + 3.0 * np.sin(2 * np.pi * minutes / 720.0 + rng.uniform(0, 2 * np.pi))
    + 3.0 * np.sin(2 * np.pi * minutes / 745.2 + rng.uniform(0, 2 * np.pi))
  )
  drift = np.cumsum(rng.normal(scale=0.01, size=length))
  return 3.0 + lines + drift + rng.normal(size=length)


def _peak_rss_mib() -> float:
  import resource

  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
  import resource

  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _worker(impl: str, size: int, batch: int, repeats: int) -> dict:
  """Runs in the subprocess: warm up, time `repeats` calls, report JSON."""
  import numpy as np

  signals = [make_signal(size, seed) for seed in range(batch)]
  if impl == "precursor_jax":
    import jax

    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, REPO_ROOT)
    from precursor_jax.signal.vmd import vmd

    x = np.stack(signals) if batch > 1 else signals[0]

    def run():
      result = vmd(
        x,
        num_modes=PARAMS["K"],
        alpha=PARAMS["alpha"],
        tau=PARAMS["tau"],
        tol=PARAMS["tol"],
        dc=False,
        init="uniform",
      )
      jax.block_until_ready(result)
      return np.asarray(result.num_iterations).reshape(-1).tolist()

    run()  # compiles
  else:
    module = __import__(PEER_MODULES[impl])
    if impl == "fast-vmdpy":
      module.VMD(
        signals[0][:1000],
        PARAMS["alpha"],
        PARAMS["tau"],
        PARAMS["K"],
        PARAMS["DC"],
        PARAMS["init"],
        PARAMS["tol"],
      )  # compiles the numba kernel

    def run():
      counts = []
      for x in signals:
        _, _, omega = module.VMD(
          x,
          PARAMS["alpha"],
          PARAMS["tau"],
          PARAMS["K"],
          PARAMS["DC"],
          PARAMS["init"],
          PARAMS["tol"],
        )
        counts.append(int(np.asarray(omega).shape[0]))
      return counts

  cpu_before = _cpu_seconds()
  times, counts = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    counts = run()
    times.append(time.perf_counter() - start)
  return {
    "impl": impl,
    "size": size,
    "batch": batch,
    "times": times,
    "updates": counts,
    "cpu_per_run": (_cpu_seconds() - cpu_before) / repeats,
    "peak_rss_mib": _peak_rss_mib(),
  }


def _importable(python: str, module: str) -> bool:
  probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
  return probe.returncode == 0


def _available_gib() -> float:
  try:
    import psutil

    return psutil.virtual_memory().available / 2**30
  except ImportError:
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) / 2**30


def _measure(
  python: str, impl: str, size: int, batch: int, repeats: int, threads: int | None = None
) -> dict:
  command = [
    python,
    os.path.abspath(__file__),
    "--worker",
    impl,
    "--sizes",
    str(size),
    "--batch",
    str(batch),
    "--repeats",
    str(repeats),
  ]
  env = dict(os.environ)
  if threads:
    env.update({name: str(threads) for name in THREAD_VARIABLES})
  done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
  if done.returncode != 0:
    return {
      "impl": impl,
      "size": size,
      "batch": batch,
      "note": f"failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}",
    }
  return json.loads(done.stdout.strip().splitlines()[-1])


def _row(m: dict) -> str:
  if "note" in m:
    return f"| {m['impl']} | {m['size']:,} | {m['batch']} | | | | | | {m['note']} |"
  times = m["times"]
  updates = sorted(set(m["updates"]))
  return (
    f"| {m['impl']} | {m['size']:,} | {m['batch']} | {len(times)} | "
    f"{statistics.median(times):.3f} | {min(times):.3f} | "
    f"{'/'.join(str(u) for u in updates)} | {m['peak_rss_mib']:,.0f} | "
    f"{m['cpu_per_run']:.2f} | |"
  )


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="10080,43200,172800,525600")
  parser.add_argument(
    "--peers", default=",".join(PEERS), help="comma list from vmdpy,fast-vmdpy,vmdrs-py, or 'none'"
  )
  parser.add_argument(
    "--batch",
    type=int,
    default=5,
    help="also time precursor_jax on this many series of the largest size, "
    "vmapped in one call (0 to skip)",
  )
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument(
    "--peer-threads",
    type=int,
    default=1,
    help="threads for the peers' BLAS / numba / rayon pools (0: their default); "
    "1 because vmdpy's many tiny BLAS calls run ~3x slower with 2 threads",
  )
  parser.add_argument(
    "--peer-repeats-large", type=int, default=1, help="runs of a peer above 43,200 samples"
  )
  default_peer_python = "/tmp/peers-venv/bin/python"
  parser.add_argument(
    "--peer-python",
    default=default_peer_python if os.path.exists(default_peer_python) else sys.executable,
    help="python of the virtualenv holding fast-vmdpy and vmdrs-py",
  )
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  sizes = [int(s) for s in args.sizes.split(",") if s]

  if args.worker:
    print(json.dumps(_worker(args.worker, sizes[0], max(args.batch, 1), args.repeats)))
    return

  peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
  unknown = sorted(set(peers) - set(PEERS))
  if unknown:
    parser.error(f"unknown peers {unknown}; choose from {PEERS}")
  notes, rows = [], []
  pythons = {}
  for peer in peers:
    module = PEER_MODULES[peer]
    for python in (sys.executable, args.peer_python):
      if _importable(python, module):
        pythons[peer] = python
        break
    else:
      notes.append(
        f"{peer}: skipped, `import {module}` fails in {sys.executable} and "
        f"{args.peer_python} (install it into a separate virtualenv, see the docstring)"
      )

  def record(m):
    rows.append(_row(m))
    print(rows[-1], file=sys.stderr, flush=True)

  for size in sizes:
    record(_measure(sys.executable, "precursor_jax", size, 1, args.repeats))
    for peer in peers:
      if peer not in pythons:
        continue
      if peer == "vmdpy":
        need = VMDPY_GIB_PER_10080 * size / 10080
        have = _available_gib()
        if need > 0.85 * have:
          notes.append(
            f"vmdpy at {size:,} samples: skipped, its preallocated iteration history "
            f"needs about {need:.1f} GiB and {have:.1f} GiB is available"
          )
          continue
      repeats = args.repeats if size <= 43200 else args.peer_repeats_large
      record(_measure(pythons[peer], peer, size, 1, repeats, args.peer_threads))
  if args.batch > 1:
    record(_measure(sys.executable, "precursor_jax", max(sizes), args.batch, args.repeats))

  load = os.getloadavg()
  print(
    f"\nVMD benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
    f"{os.cpu_count()} CPUs, load average before the end {load[0]:.2f} / {load[1]:.2f} / "
    f"{load[2]:.2f}; K=5, alpha=5000, tol=1e-7, float64; peers with "
    f"{args.peer_threads or 'default'} BLAS/numba/rayon thread(s), precursor_jax with XLA's "
    f"defaults.\n"
  )
  print(
    "| implementation | samples | batch | runs | wall median (s) | wall min (s) | updates | "
    "peak RSS (MiB) | CPU s per run | note |"
  )
  print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
  print("\n".join(rows))
  for note in notes:
    print(f"\n- {note}")


if __name__ == "__main__":
  main()

"""Deterministic batching of in-memory arrays: the batch of step s is a pure function of (seed, s).

That is what lets a killed run resume with exactly the batches it would have seen: no iterator state needs
checkpointing. Training drops the last partial batch of an epoch (every batch has the global batch size, which
the device mesh needs); evaluation pads the last batch and returns a validity mask instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

Batch = dict[str, np.ndarray]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full batches per epoch (the last partial batch is dropped)."""
  if num_examples < batch_size:
    raise ValueError(
      f"the training split has {num_examples} examples, fewer than one batch of "
      f"{batch_size}; lower config.batch_size or build a larger dataset"
    )
  return num_examples // batch_size


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of one epoch (a fresh shuffle per epoch, reproducible from seed and epoch)."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def train_batch_indices(step: int, *, num_examples: int, batch_size: int, seed: int) -> np.ndarray:
  """Indices of the global batch used by update number `step` (0-based)."""
  per_epoch = steps_per_epoch(num_examples, batch_size)
  epoch, position = divmod(step, per_epoch)
  order = epoch_permutation(num_examples, seed, epoch)
  return order[position * batch_size : (position + 1) * batch_size]


def take(arrays: Mapping[str, np.ndarray], indices: np.ndarray) -> Batch:
  """Rows `indices` of every array."""
  return {name: np.asarray(values)[indices] for name, values in arrays.items()}


def eval_batches(
  arrays: Mapping[str, np.ndarray], batch_size: int
) -> Iterator[tuple[Batch, np.ndarray]]:
  """All examples in order, in batches of exactly `batch_size`; the last is padded and masked."""
  num_examples = len(next(iter(arrays.values())))
  for start in range(0, num_examples, batch_size):
    indices = np.arange(start, start + batch_size)
    valid = indices < num_examples
    yield take(arrays, np.where(valid, indices, num_examples - 1)), valid


def prefetch(
  produce: Callable[[int], Any], steps: range, depth: int = 2
) -> Iterator[tuple[int, Any]]:
  """Yields (step, produce(step)) for `steps`, computing up to `depth` ahead in a background thread."""
  buffer: queue.Queue = queue.Queue(maxsize=depth)
  stop = threading.Event()

  def worker():
    try:
      for step in steps:
        if stop.is_set():
          return
        buffer.put((step, produce(step)))
    except BaseException as error:  # surfaced in the consumer
      buffer.put(error)
      return
    buffer.put(StopIteration())

  thread = threading.Thread(target=worker, daemon=True)
  thread.start()
  try:
    while True:
      item = buffer.get()
      if isinstance(item, StopIteration):
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stop.set()
    while thread.is_alive():  # unblock a worker waiting on a full queue
      try:
        buffer.get_nowait()
      except queue.Empty:
        thread.join(timeout=0.05)

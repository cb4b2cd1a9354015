"""Test-session settings: 8 fake CPU devices for the mesh tests, strict rank promotion.

Must run before JAX creates its backends, so it sits at the top of conftest.
"""

import os
import pathlib

os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")

import jax
import pytest
import tiny_ses

jax.config.update("jax_num_cpu_devices", 8)

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
TEST_DATA = TESTS_DIR / "data"
# Present beside a development checkout, absent in a user's clone.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def test_data_dir() -> pathlib.Path:
  return TEST_DATA


@pytest.fixture(scope="session")
def shared_data_dir() -> pathlib.Path:
  if not SHARED_DATA.is_dir():
    pytest.skip(f"needs the shared data folder {SHARED_DATA} (not part of a user's clone)")
  return SHARED_DATA


# A 16-unit LSTM-AE: small enough that an SES run takes seconds, the same layers as the real one.
TINY_SES_NETWORK = tiny_ses.NETWORK


@pytest.fixture(scope="session")
def ses_data_dir(tmp_path_factory) -> pathlib.Path:
  """One tfds data directory for every SES test of the session (datasets are built once)."""
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def tiny_ses_network() -> dict:
  return dict(TINY_SES_NETWORK)


@pytest.fixture(scope="session")
def tiny_ses_config():
  """make(data_dir, **top_level_changes): 4 HKB days x 8 SES (29 train / 3 test), batch 8, 2 epochs."""
  from precursor_jax import config_base

  def make(data_dir, **changes):
    config = config_base.ses_config("hkb", "small")
    config.dataset.data_dir = str(data_dir)
    config.dataset.num_days, config.dataset.repeats = 4, 8
    config.model.lstm_ae.update(TINY_SES_NETWORK)
    config.batch_size = 8
    config.num_epochs = 2
    config.eval_every_epochs = 1
    config.log_every_steps = 2
    config.eval.train_examples = 8
    config.eval.figure_examples = 2
    config.eval.ica_days = 0
    config.eval.embedded_anomalies = 0
    for key, value in changes.items():
      config[key] = value
    return config

  return make

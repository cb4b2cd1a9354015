"""Test-session settings: 8 fake CPU devices for the mesh tests, strict rank promotion.

Must run before JAX creates its backends, so it sits at the top of conftest.
"""
import os
import pathlib

os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")

import jax  # noqa: E402
import pytest  # noqa: E402

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

"""benchmarks/accelerator_suite.py keeps working: its --smoke mode runs every measurement on the
CPU at tiny sizes and writes one JSON and one Markdown table, each measurement with its device,
date and command (the full sizes are for the day a GPU is lent; they are not run here)."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SUITE = REPO / "benchmarks" / "accelerator_suite.py"
NAMES = (
  "ses_train",
  "ses_inference",
  "vmd_year",
  "pyraformer_step",
  "attention_memory",
  "vmapped_trials",
)


def run_suite(*arguments):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(
    [sys.executable, str(SUITE), *arguments],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )


@pytest.mark.slow
def test_the_smoke_suite_measures_everything_and_writes_json_and_markdown(tmp_path):
  result = run_suite("--smoke", "--out", str(tmp_path))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  report = json.loads((tmp_path / "accelerator_suite.json").read_text())
  assert report["mode"] == "smoke" and "cpu" in report["device"]
  assert [m["name"] for m in report["measurements"]] == list(NAMES)
  for m in report["measurements"]:
    assert "error" not in m, m
    assert m["device"] == report["device"] and m["date"] and "--smoke" in m["command"]
    assert math.isfinite(m["value"]) and m["value"] > 0, m
  by_name = {m["name"]: m for m in report["measurements"]}
  train = by_name["ses_train"]["details"]
  assert by_name["ses_train"]["value"] == pytest.approx(1 / train["step_seconds"])
  # 100 epochs of the paper's 19,143 days at batch 128, the step time scaled from batch 8.
  expected = 100 * (19_143 // 128) * train["step_seconds"] * 128 / 8 / 60
  assert train["paper_100_epochs_minutes"] == pytest.approx(expected)
  vmd = by_name["vmd_year"]["details"]
  assert vmd["finite"] and len(vmd["updates"]) == 5 and all(1 <= u <= 499 for u in vmd["updates"])
  attention = by_name["attention_memory"]["details"]
  assert attention["nodes"] == 257 + 64 + 16 + 4  # L + 1 finest nodes, then // 4 per scale
  activations = 2 * attention["nodes"] * 32 * 4 / 2**30  # batch x nodes x d_model float32
  assert by_name["attention_memory"]["value"] > activations
  trials = by_name["vmapped_trials"]["details"]
  assert by_name["vmapped_trials"]["value"] == pytest.approx(
    trials["vmapped_step_seconds"] / trials["one_trial_step_seconds"]
  )
  table = (tmp_path / "accelerator_suite.md").read_text()
  assert table == result.stdout[result.stdout.index("## Accelerator suite") :]
  rows = [line for line in table.splitlines() if line.startswith("| ") and ": " in line]
  assert [row.split(":")[0][2:] for row in rows] == list(NAMES)
  assert report["device"] in table and report["command"] in table


def test_an_unknown_measurement_is_refused(tmp_path):
  result = run_suite("--smoke", "--only", "vmd_year,warp_drive", "--out", str(tmp_path))
  assert result.returncode == 2 and "warp_drive" in result.stdout
  assert not (tmp_path / "accelerator_suite.json").exists()

"""The launch table: one row per run of a manifest, as `launch_summary.md` and `launch_summary.csv`.

  python -m launch.summary /shared/launches/lr/runs.jsonl      # any time, from any host

Columns: run id, its own overrides (those every run shares are listed once above the table), its state (done, running, failed, stopped, interrupted, pending;
launch/manifest.py), the task's headline metric read from the run's summary.json (the path the
manifest names, e.g. test success for SES, the honest protocol's test MSE for forecasting), the wall
time of its last attempt as the launcher measured it (start-up, data, training and report), and the
number of attempts. Every launcher writes it at the end, and `launch.run` refreshes it after every
run, so a half-finished launch shows where it stands.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from launch import manifest

MARKDOWN = "launch_summary.md"
CSV = "launch_summary.csv"
COLUMNS = ("id", "overrides", "status", "metric", "value", "wall_s", "attempts")


def headline(run: manifest.Run) -> tuple[str, float | None]:
  """(metric name, value) from the run's summary.json; value None when absent."""
  if not run.metric:
    return "", None
  name = "/".join(run.metric)
  try:
    node: Any = json.loads((pathlib.Path(run.workdir) / manifest.SUMMARY_FILE).read_text())
    for key in run.metric:
      node = node[key]
    return name, float(node)
  except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
    return name, None


def common_overrides(runs: Sequence[manifest.Run]) -> dict[str, Any]:
  """The overrides every run shares (same field, same value): shown once, not in every row."""
  first, *rest = [dict(run.overrides) for run in runs]
  return {k: v for k, v in first.items() if all(k in o and o[k] == v for o in rest)}


def overrides_text(overrides: Mapping[str, Any]) -> str:
  return " ".join(f"{k}={v}" for k, v in overrides.items())


def rows(manifest_path: str | os.PathLike) -> list[dict[str, Any]]:
  """One dict per run with the COLUMNS; `overrides` holds what tells the run from the others."""
  root = manifest.root_of(manifest_path)
  runs = manifest.read(manifest_path)
  common = common_overrides(runs)
  out = []
  for run in runs:
    status = manifest.read_status(root, run)
    name, value = headline(run)
    own = {k: v for k, v in run.overrides.items() if k not in common}
    out.append(
      {
        "id": run.id,
        "overrides": overrides_text(own),
        "status": manifest.state(root, run),
        "metric": name,
        "value": value,
        "wall_s": status.get("wall_seconds"),
        "attempts": status.get("attempts", 0),
      }
    )
  return out


def _number(value: float | None, digits: int = 4) -> str:
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return "-"
  return f"{value:.{digits}g}"


def markdown(
  table: Sequence[dict[str, Any]], manifest_path: str | os.PathLike, common: Mapping[str, Any]
) -> str:
  """The table as Markdown, with a count of runs per state and the overrides all runs share."""
  counts: dict[str, int] = {}
  for row in table:
    counts[row["status"]] = counts.get(row["status"], 0) + 1
  tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
  lines = [f"Launch of {len(table)} run(s) from {manifest_path}: {tally}.", ""]
  if common:
    lines += [f"Every run: {overrides_text(common)}", ""]
  lines += [
    "| run | overrides | status | metric | value | wall s | attempts |",
    "|---|---|---|---|---:|---:|---:|",
  ]
  for row in table:
    wall = "-" if row["wall_s"] is None else f"{row['wall_s']:.1f}"
    lines.append(
      f"| {row['id']} | {row['overrides'] or '-'} | {row['status']} | {row['metric'] or '-'} "
      f"| {_number(row['value'])} | {wall} | {row['attempts']} |"
    )
  return "\n".join(lines) + "\n"


def write(manifest_path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
  """Writes launch_summary.md and .csv beside the manifest; returns their paths."""
  root = manifest.root_of(manifest_path)
  table = rows(manifest_path)
  text = io.StringIO()
  writer = csv.DictWriter(text, COLUMNS)
  writer.writeheader()
  writer.writerows(table)
  md_path, csv_path = root / MARKDOWN, root / CSV
  manifest.write_atomically(csv_path, text.getvalue())
  common = common_overrides(manifest.read(manifest_path))
  manifest.write_atomically(md_path, markdown(table, manifest_path, common))
  return md_path, csv_path


def refresh(manifest_path: str | os.PathLike) -> None:
  """write(), where a failure to write the table must not fail the run that called it."""
  try:
    write(manifest_path)
  except (OSError, manifest.ManifestError) as error:
    print(f"[launch] could not refresh the launch table: {error}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: see the module doc."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.summary", description=__doc__.split("\n")[0]
  )
  parser.add_argument("manifest", help="runs.jsonl")
  args = parser.parse_args(argv)
  try:
    md_path, _ = write(args.manifest)
  except manifest.ManifestError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  print(md_path.read_text(), end="")
  return 0


if __name__ == "__main__":
  sys.exit(main())

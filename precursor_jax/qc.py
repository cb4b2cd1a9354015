"""Entry point: quality reports of raw records, before any analysis.

  python -m precursor_jax.qc --four_gauge tests/data/strain/guzan_2007_03_05 \
      --metadata tests/data/strain/guzan_2007_03_05/batch_guide_template_station_metadata.utf8.txt
  python -m precursor_jax.qc --iaga2002 tests/data/geomag/BOU201601vmin_first6h.min

Four-gauge strain: the self-consistency coefficient k per month and day, the shares that pass,
the ranges of Sa, S13 and S24 (signal/strain.py). Any record: its gaps, and what the reader assumed
about odd header values (metadata["assumptions"]).
"""

from __future__ import annotations

import os

from absl import flags

from precursor_jax import cli
from precursor_jax.core.timeseries import gap_report
from precursor_jax.data.iaga2002 import read_iaga2002
from precursor_jax.data.point_series import read_four_gauge
from precursor_jax.signal.strain import monthly_report

_FOUR_GAUGE = flags.DEFINE_string("four_gauge", None, "Directory holding the gauge files h1..h4.")
_METADATA = flags.DEFINE_string("metadata", None, "Station metadata table of the four gauges.")
_IAGA = flags.DEFINE_string("iaga2002", None, "An IAGA-2002 file or a directory of them.")


def gap_lines(ts, limit: int = 20) -> list[str]:
  """The gaps of a series, then what the reader assumed about odd header values (if anything)."""
  gaps = gap_report(ts)
  lines = [f"{len(gaps)} gap(s) in {ts.channels}:"]
  lines += [f"  {g.channel}: {g.start} .. {g.end} ({g.n_samples} samples)" for g in gaps[:limit]]
  if len(gaps) > limit:
    lines.append(f"  ... and {len(gaps) - limit} more")
  assumptions = ts.metadata.get("assumptions") or []
  lines += [f"{len(assumptions)} assumption(s) about the header:"] if assumptions else []
  lines += [f"  {a}" for a in assumptions]
  return lines


def main(argv) -> None:
  del argv
  if not (_FOUR_GAUGE.value or _IAGA.value):
    raise ValueError("give --four_gauge DIR [--metadata FILE] or --iaga2002 PATH")
  if _FOUR_GAUGE.value:
    name = os.path.basename(os.path.normpath(_FOUR_GAUGE.value))
    ts = read_four_gauge(
      _FOUR_GAUGE.value, metadata_file=_METADATA.value, metadata={"station_name": name}
    )
    print(monthly_report(ts))
    print("\n".join(gap_lines(ts)))
  if _IAGA.value:
    ts = read_iaga2002(_IAGA.value)
    print(repr(ts))
    print("\n".join(gap_lines(ts)))


if __name__ == "__main__":
  cli.main(main)

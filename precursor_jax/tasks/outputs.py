"""Reports that appear whole or not at all.

`publish(workdir, folder, write, top_level)` lets `write(staging)` put every file of a report into
<workdir>/<folder>.partial/, then replaces <workdir>/<folder>/ with it in one rename, and only then
copies the files named in `top_level` to the workdir itself (each by an atomic replace, the last
one last: its presence means the rest is there). A run killed half way leaves the previous report
untouched and a .partial folder that the next run clears.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Callable, Sequence


def publish(
  workdir: pathlib.Path,
  folder: str,
  write: Callable[[pathlib.Path], None],
  top_level: Sequence[str],
) -> pathlib.Path:
  """Writes a report folder atomically (module doc); returns the final folder."""
  staging = workdir / f"{folder}.partial"
  if staging.exists():
    shutil.rmtree(staging)
  staging.mkdir(parents=True)
  write(staging)
  final = workdir / folder
  if final.exists():
    old = workdir / f"{folder}.old"
    if old.exists():
      shutil.rmtree(old)
    os.rename(final, old)
    os.rename(staging, final)
    shutil.rmtree(old)
  else:
    os.rename(staging, final)
  for name in top_level:
    temporary = workdir / f".{name}.tmp"
    shutil.copyfile(final / name, temporary)
    os.replace(temporary, workdir / name)
  return final

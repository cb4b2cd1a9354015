"""Entry point: python -m precursor_jax.detect --config configs/detect_<study>.py[:fast] [--workdir DIR].

Method 1 (VMD-Pyraformer anomalies) from raw observatory files to report.json, report.md and the
figures (precursor_jax/tasks/detect/). Every study setting is a config field:
--config.stations_file=my_stations.json --config.event.time=2008-05-12T06:28:01Z
--config.window.start=2008-01-01 --config.vmd.mode=causal --config.threshold.k=2.8 ...
The default workdir is ~/.cache/precursor_jax/detect/<config>[_<arg>][-<hash of the overrides>];
a rerun resumes (VMD and forecasters are cached there).
"""

from __future__ import annotations

from precursor_jax import cli
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import detect

_CONFIG, _WORKDIR, _FORCE = cli.define_config_flags(
  "Study config file (configs/detect_*.py[:arg]).",
  "Study directory (stages, forecasters, report). Default: "
  "~/.cache/precursor_jax/detect/<config name>[_<arg>][-<hash of the overrides>].",
)


def headline(document: dict) -> str:
  """One line per station and VMD mode: anomalous days, the fit's x0 and the p-value."""
  lines = []
  for name, station in document["stations"].items():
    for mode, m in station["modes"].items():
      fit, test = m["fit"], m["significance"]
      x0 = fit.get("x0_date") if fit.get("usable_result") else "no usable fit"
      lines.append(
        f"{name} ({mode} VMD): {m['days']['anomalous']} anomalous of {m['days']['usable']} usable judged "
        f"days; x0 {x0}; pre-event p = {test.get('p_value')}"
      )
  return "\n".join(lines)


def main(argv) -> None:
  del argv
  config = cli.checked(_CONFIG.value)
  if config.task != "detect":
    raise ConfigError(
      f"config.task={config.task!r}: python -m precursor_jax.detect runs detect configs"
    )
  workdir = cli.workdir_for(_WORKDIR.value, "detect")
  print(f"workdir: {workdir}", flush=True)
  document = detect.train_and_evaluate(config, workdir, force_resume=_FORCE.value)
  print(headline(document), flush=True)
  print(f"report: {workdir}/report.md", flush=True)


if __name__ == "__main__":
  cli.main(main)

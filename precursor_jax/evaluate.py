"""Entry point: python -m precursor_jax.evaluate --config configs/evaluate_<study>.py[:fast] [--workdir DIR].

Alarm-based skill of method 1 over a long record and an earthquake catalogue
(precursor_jax/tasks/evaluate/): rolling forecasters and causal VMD (no look-ahead), an alarm
function, declustered target events, the Molchan trajectory, the area skill score with its
p-values, the probability gain. Every setting is a config field: --config.catalog.path=...
--config.targets.min_magnitude=5.5 --config.alarm.duration_days=30 --config.stations_file=...
The default workdir is ~/.cache/precursor_jax/evaluate/<config>[_<arg>][-<hash of the overrides>].
"""

from __future__ import annotations

from precursor_jax import cli
from precursor_jax.config_checks import ConfigError
from precursor_jax.tasks import evaluate

_CONFIG, _WORKDIR, _FORCE = cli.define_config_flags(
  "Evaluation config file (configs/evaluate_*.py[:arg]).",
  "Evaluation directory. Default: "
  "~/.cache/precursor_jax/evaluate/<config name>[_<arg>][-<hash of the overrides>].",
)


def headline(document: dict) -> str:
  rows = [("pooled", document)] + list(document["stations"].items())
  return "\n".join(
    f"{name}: {s['n_targets']} target(s), ASS {s.get('area_skill_score')}, p = {s.get('p_value')}"
    for name, s in rows
  )


def main(argv) -> None:
  del argv
  config = cli.checked(_CONFIG.value)
  if config.task != "evaluate":
    raise ConfigError(
      f"config.task={config.task!r}: python -m precursor_jax.evaluate runs evaluate configs"
    )
  workdir = cli.workdir_for(_WORKDIR.value, "evaluate")
  print(f"workdir: {workdir}", flush=True)
  document = evaluate.train_and_evaluate(config, workdir, force_resume=_FORCE.value)
  print(headline(document), flush=True)
  print(f"report: {workdir}/report.md", flush=True)


if __name__ == "__main__":
  cli.main(main)

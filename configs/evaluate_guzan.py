"""Alarm-based skill of method 1 on the Guzan four-gauge record 2007-03 .. 2010-09 (CENC catalogue).

COMMAND (the contract's quick evaluation: detect's fast forecaster, ~10-20 min on 2 CPU cores):
  python -m precursor_jax.evaluate --config configs/evaluate_guzan.py:fast
COMMAND (detect's paper-size forecaster; long on a CPU):
  python -m precursor_jax.evaluate --config configs/evaluate_guzan.py
Overrides: --config.targets.min_magnitude=6.0 --config.targets.max_distance_km=500
  --config.alarm.duration_days=60 --config.alarm.function=count_increase

Station: the shipped Guzan record (configs/detect_wenchuan.py: areal strain Sa, Beijing-time stamps
assumed), evaluated from 2007-03-01 (the first 120 days train the first segment's forecaster) to
2010-09-30 in segments of 180 days, VMD causal. Catalogue: the CENC-style list shipped in
tests/data/catalogs (Beijing time, 1999-2013; its completeness is unknown). Targets: M >= 5.0 within
each event's Dobrovolsky radius of the station, declustered with Gardner-Knopoff windows. Results,
whatever they show, in benchmarks/RESULTS.md and the README.
"""

import pathlib

from precursor_jax import config_base

PRESETS = config_base.DETECT_PRESETS
DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
GUZAN = DATA / "strain" / "guzan_4gauge_hourly_2006_2010"


def get_config(arg: str = "paper"):
  config = config_base.evaluate_config(arg)
  config.stations = (
    {
      "name": "Guzan",
      "kind": "strain",
      "format": "four_gauge",
      "path": str(GUZAN),
      "metadata_file": str(GUZAN / "batch_guide_template_station_metadata.utf8.txt"),
      "component": "Sa",
      "timezone": "+08:00",
      "interval": "1h",
    },
  )
  config.window.start, config.window.end = "2007-03-01", "2010-09-30"
  config.catalog.path = str(DATA / "catalogs" / "cenc_style_catalog_1999-2013_beijing_time.txt")
  config.catalog.format = "cenc_text"
  config.storms.kp_file = str(DATA / "spaceweather" / "SW-All_2006-2010.txt.gz")
  config.storms.dst_file = str(DATA / "spaceweather" / "DSTFILE_2006-2010.TXT.gz")
  return config

"""Method 1 on the Guzan four-gauge borehole strainmeter before the 2008-05-12 Wenchuan Ms 8.0.

COMMAND (quick look, ~5 min on 2 CPU cores: Jan-May 2008 hourly, small forecasters, few epochs):
  python -m precursor_jax.detect --config configs/detect_wenchuan.py:fast
COMMAND (the seed paper's settings: a year of strain before the event, paper-size Pyraformer):
  python -m precursor_jax.detect --config configs/detect_wenchuan.py
Overrides: --config.vmd.mode=causal --config.threshold.k=2.8 --config.forecaster.name=lstm
  --config.window.start=2007-11-01 --config.stations_file=my_stations.json

Station: the YRY-4 four-gauge strainmeter at 30.12 N 102.18 E (Guza, Kangding area; gauges at
51/96/141/6 degrees), hourly, 2006-11 .. 2010-09, shipped compressed in
tests/data/strain/guzan_4gauge_hourly_2006_2010 (provenance there). Areal strain Sa is analysed.
The files do not state their time zone; Chinese precursor data are normally Beijing time, which is
assumed here (timezone +08:00) and stated in the report. Event: Wenchuan, CENC 31.0 N 103.4 E,
Ms 8.0, 2008-05-12 06:28:01 UTC, 150 km from the station (Dobrovolsky radius 2,754 km). Storm
screening applies to geomagnetic stations only; the Kp/Dst files are read so the report can show
the storm days. Results, found as they are, in benchmarks/RESULTS.md and the README.
"""

import pathlib

from precursor_jax import config_base

PRESETS = config_base.DETECT_PRESETS
DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
GUZAN = DATA / "strain" / "guzan_4gauge_hourly_2006_2010"


def get_config(arg: str = "paper"):
  config = config_base.detect_config(arg)
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
  config.event.name = "Wenchuan"
  config.event.time = "2008-05-12T06:28:01Z"
  config.event.latitude, config.event.longitude, config.event.magnitude = 31.0, 103.4, 8.0
  if arg == "fast":
    config.window.start, config.window.end = "2008-01-01", "2008-05-31"
  else:
    config.window.start, config.window.end = "2007-05-01", "2008-05-31"
  config.storms.kp_file = str(DATA / "spaceweather" / "SW-All_2006-2010.txt.gz")
  config.storms.dst_file = str(DATA / "spaceweather" / "DSTFILE_2006-2010.TXT.gz")
  return config

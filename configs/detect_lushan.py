"""Method 1 in the seed paper's layout: the 2013-04-20 Lushan Ms 7.0 (Zhang et al.).

COMMAND (for users who hold the records; paths in the stations file are relative to it):
  python -m precursor_jax.detect --config configs/detect_lushan.py \
      --config.stations_file=/data/lushan/stations.json
COMMAND (quick look): python -m precursor_jax.detect --config configs/detect_lushan.py:fast ...

The paper's Table 1 stations at its coordinates (configs/stations/lushan_2013.json, a template:
copy it beside your files and edit the paths): geomagnetic Z at Chengdu, Xichang and Muli (1-minute,
1 Jan - 30 Apr 2013) and four-gauge borehole strain (areal strain Sa) at Kangding and Xiaomiao
(1-minute, 1 May 2012 - 30 Apr 2013). The records are not public and not shipped: a missing file
is an error that names it (or, with --config.on_station_error=skip, a skipped station). The event:
CENC lists Lushan at 30.3 N 103.0 E; the paper's Table 1 distances are reproduced within 1.6 km by
30.285 N 103.0 E (a grid search, tests/test_detect.py), used here; with the rounded CENC epicentre
they differ by up to 3.1 km. Storm screening: give --config.storms.kp_file / dst_file for 2012-2013
(the shipped Kp/Dst cover 2006-2010 and 2016; ../shared/data/spaceweather holds 1957-2025).
"""

import pathlib

from precursor_jax import config_base

PRESETS = config_base.DETECT_PRESETS
STATIONS = pathlib.Path(__file__).resolve().parent / "stations" / "lushan_2013.json"


def get_config(arg: str = "paper"):
  config = config_base.detect_config(arg)
  config.stations_file = str(STATIONS)
  config.event.name = "Lushan"
  config.event.time = "2013-04-20T00:02:46Z"
  config.event.latitude, config.event.longitude, config.event.magnitude = 30.285, 103.0, 7.0
  config.window.start, config.window.end = "2012-05-01", "2013-04-30"
  if arg == "fast":
    config.forecaster.history_hours, config.forecaster.horizon_hours = 6.0, 1.0
  else:
    config.forecaster.history_hours, config.forecaster.horizon_hours = 12.0, 1.0
  return config

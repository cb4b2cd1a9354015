"""Method 1 on a quiet-region control: USGS Boulder (BOU) 1-minute Z, January 2016.

COMMAND (quick look, ~5 min on 2 CPU cores):
  python -m precursor_jax.detect --config configs/detect_boulder.py:fast
COMMAND (paper settings; 1-minute data make this an accelerator run):
  python -m precursor_jax.detect --config configs/detect_boulder.py

No earthquake of note happened near Boulder in January 2016, so the "event" here is a placebo
date (2016-01-26 00:00 UTC at the observatory, M 5.0: Dobrovolsky radius 141 km) chosen before
looking at the results: a small p-value here is a false alarm of the method, which is what a
control is for. Data: tests/data/geomag/bou_2016_01 (IAGA-2002 variation data, 2016-01-01 ..
01-29, provenance there); Kp/Dst for January-February 2016 screen the storm days (2016-01-01 had
Dst -110 nT). The record is short (29 days): a 3-day causal VMD window, a 7-day pre-event window.
"""

import pathlib

from precursor_jax import config_base

PRESETS = config_base.DETECT_PRESETS
DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def get_config(arg: str = "paper"):
  config = config_base.detect_config(arg)
  config.stations = (
    {
      "name": "BOU",
      "kind": "geomagnetic",
      "format": "iaga2002",
      "path": str(DATA / "geomag" / "bou_2016_01" / "BOU201601vmin.min.gz"),
      "component": "Z",
      "interval": "1min",
    },
  )
  config.event.name = "placebo (no event)"
  config.event.time = "2016-01-26T00:00:00Z"
  config.event.latitude, config.event.longitude, config.event.magnitude = 40.137, -105.236, 5.0
  config.window.start, config.window.end = "2016-01-04", "2016-01-29T21:00"
  config.vmd.causal_window_days = 3
  config.significance.window_days = 7
  config.significance.block_days = 2
  config.fit.span_shifts_days = (0, 2, 4)
  config.forecaster.history_hours = 6.0
  config.forecaster.horizon_hours = 1.0
  config.forecaster.train_stride_hours = 0.5 if arg == "fast" else 1 / 6
  config.storms.kp_file = str(DATA / "spaceweather" / "SW-All_2016-01-02.txt.gz")
  config.storms.dst_file = str(DATA / "spaceweather" / "DSTFILE_2016-01-02.TXT.gz")
  return config

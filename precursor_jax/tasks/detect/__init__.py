"""Method 1 end to end: VMD-Pyraformer pre-earthquake anomalies from raw records to a report.

`python -m precursor_jax.detect --config configs/detect_*.py[:fast]` runs `train_and_evaluate`
(pipeline.py). The stages, each a module of small functions tested alone: stations (describe and
read), quality (grid, artefacts, gaps), decompose (VMD whole / causal, mode choice), forecasting
(one forecaster per station, stacked), statistics (days, storms, fits, significance, lags), report
and figures.
"""

from precursor_jax.tasks.detect.pipeline import train_and_evaluate
from precursor_jax.tasks.detect.sweep import run_sweep

SELECTION_METRIC = None  # not ranked by a training metric: sweep.py ranks detect's own way

__all__ = ["SELECTION_METRIC", "run_sweep", "train_and_evaluate"]

"""Method 1 end to end: VMD-Pyraformer pre-earthquake anomalies from raw records to a report.

`python -m precursor_jax.detect --config configs/detect_*.py[:fast]` runs `train_and_evaluate`
(pipeline.py). The stages, each a module of small functions tested alone: stations (describe and
read), quality (grid, artefacts, gaps), decompose (VMD whole / causal, mode choice), forecasting
(one forecaster per station, stacked), statistics (days, storms, fits, significance, lags), report
and figures.
"""

from precursor_jax.tasks.detect.pipeline import train_and_evaluate

SELECTION_METRIC = None  # not a trainable task of the sweeps: its settings are swept in stats

__all__ = ["SELECTION_METRIC", "train_and_evaluate"]

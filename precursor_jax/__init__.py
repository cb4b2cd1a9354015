"""precursor_jax: pre-earthquake anomaly detection in geophysical time series with JAX/Flax.

Two published methods share this package:
  * VMD-Pyraformer anomaly extraction (geomagnetic Z, four-gauge borehole strain);
  * LSTM-autoencoder detection of seismic electric signals (SES) in 0.1 Hz geoelectric data.
"""

__version__ = "0.1.0"

"""Leaf modules every layer may use: the time-series type, errors, geodesy, metrics, constants.

Nothing here imports another part of precursor_jax (tests/test_layers.py keeps it so).
"""

"""Alarm-based evaluation of method 1 over whole records and catalogues (pipeline.py): the Molchan
diagram, the area skill score and its p-values, the probability gain."""

from precursor_jax.tasks.evaluate.pipeline import train_and_evaluate

__all__ = ["train_and_evaluate"]

"""Evaluation: predictions (refined or not) for whole files, each with its estimate η."""

from .predict import predict_file

__all__ = ["predict_file"]

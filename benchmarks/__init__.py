"""Benchmarks (see README.md). Importing the package first makes the OpenMP runtime that torch
loads wait passively (spectral_refiner.threads), whatever a script imports next."""

import spectral_refiner  # noqa: F401

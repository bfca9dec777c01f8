"""spectral-refiner: neural surrogates of 2-D turbulence with label-free spectral refinement."""

from .errors import SpectralRefinerError

__version__ = "0.1.0"

__all__ = ["SpectralRefinerError", "__version__"]

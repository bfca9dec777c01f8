"""spectral-refiner: neural surrogates of 2-D turbulence with label-free spectral refinement."""

from .errors import SpectralRefinerError
from .threads import prefer_passive_wait

# Idle OpenMP threads sleep instead of spinning on cores other processes need; this must
# happen before torch is first imported (see spectral_refiner.threads).
prefer_passive_wait()

__version__ = "0.1.0"

__all__ = ["SpectralRefinerError", "__version__"]

"""spectral-refiner: neural surrogates of 2-D turbulence with label-free spectral refinement."""

from .allocator import keep_freed_memory
from .errors import SpectralRefinerError
from .threads import prefer_passive_wait

# Idle OpenMP threads sleep instead of spinning on cores other processes need; this must
# happen before torch is first imported (see spectral_refiner.threads).
prefer_passive_wait()
# Freed tensors' memory stays in the heap, so the next tensor is not faulted in page by page
# (see spectral_refiner.allocator).
keep_freed_memory()

__version__ = "0.1.0"

__all__ = ["SpectralRefinerError", "__version__"]

"""``python -m spectral_refiner.cli``."""

import sys

from .main import main

sys.exit(main())

import sys
from pathlib import Path

# The benchmarks package (peer wrappers) lives beside the tests, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

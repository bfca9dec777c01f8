"""What the commands print in common: the metrics' names in tables, and the line of an
interrupted command."""

from __future__ import annotations

import sys

__all__ = ["LABELS", "interrupted"]

LABELS = {
    "rel_l2": "rel L2",
    "rel_h1": "rel H1",
    "rel_h-1": "rel H^-1",
    "eta": "η",
    "floor": "floor (η of the inputs)",
    "estimate": "estimate max(η, floor)",
    "floor_error": "floor's error (rel L2)",
    "error_estimate": "error estimate (rel L2)",
    "correlation": "correlation",
}


def interrupted(how_to_continue: str) -> int:
    """Print the one line of a command stopped by Ctrl-C (saying how to continue); returns
    its exit status, 130."""
    print(f"\ninterrupted: {how_to_continue}", file=sys.stderr)
    return 130

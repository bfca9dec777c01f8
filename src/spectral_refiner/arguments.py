"""Command-line argument types and the parser class of the ``spectral-refiner`` command.

Every number a command takes is checked where it is parsed (a count >= 1, a seed >= 0, an
even resolution >= 4, a finite tolerance >= 0) and every ``--device`` is resolved by
:func:`~spectral_refiner.data.local_device`, so a bad value is one line and exit status 2
before anything runs. :class:`OneLineParser` prints argparse's own errors as one line too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from .data import local_device
from .errors import SpectralRefinerError

__all__ = [
    "CLOSURE_NAMES",
    "OneLineParser",
    "closure_spec",
    "device",
    "even_resolution",
    "exit_status",
    "integer",
    "tolerance",
]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``PROG: error: ...``, status 2), without
    the usage block; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def integer(minimum: int) -> Callable[[str], int]:
    """An argument type: an integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def even_resolution(text: str) -> int:
    """An argument type: a grid size, an even integer ``>= 4``."""
    value = integer(4)(text)
    if value % 2:
        raise argparse.ArgumentTypeError(f"must be an even integer >= 4, got {value}")
    return value


def tolerance(text: str) -> float:
    """An argument type: a finite number ``>= 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def device(text: str) -> str:
    """An argument type: a torch device that exists here (kept as given)."""
    try:
        local_device(text)
    except SpectralRefinerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


CLOSURE_NAMES: dict[str, tuple[str, str | None]] = {
    "none": ("none", None),
    "smagorinsky": ("smagorinsky", "coefficient"),
    "leith": ("leith", "coefficient"),
    "dynamic": ("dynamic-smagorinsky", "test_ratio"),
    "dynamic-smagorinsky": ("dynamic-smagorinsky", "test_ratio"),
    "learned": ("learned", "path"),
}
"""``--closure`` names: the spec name each stands for and the key of its ``:VALUE``."""


def closure_spec(text: str) -> dict:
    """An argument type: a closure spec (:func:`~spectral_refiner.physics.make_closure`) from
    ``NAME[:VALUE]``: ``none``, ``smagorinsky[:C_s]``, ``leith[:C_L]``,
    ``dynamic[:TEST_RATIO]`` and ``learned:CLOSURE.pt``, or a JSON spec ``{"name": ...}``."""
    if text.lstrip().startswith("{"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"bad JSON closure spec ({exc.msg})") from None
        if not isinstance(spec, dict) or "name" not in spec:
            raise argparse.ArgumentTypeError(f'a JSON closure spec needs a "name", got {text}')
        return spec
    name, sep, value = text.partition(":")
    if name not in CLOSURE_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown closure {name!r}: choose one of {', '.join(CLOSURE_NAMES)} "
            "(e.g. smagorinsky:0.1, learned:CLOSURE.pt)"
        )
    spec_name, key = CLOSURE_NAMES[name]
    if not sep:
        if spec_name == "learned":
            raise argparse.ArgumentTypeError("a learned closure needs its file: learned:PATH")
        return {"name": spec_name}
    if key is None or not value:
        raise argparse.ArgumentTypeError(f"closure {name!r} takes no value after ':'")
    if key == "path":
        return {"name": spec_name, "path": value}
    try:
        return {"name": spec_name, key: tolerance(value)}
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"closure {name}: {key} {exc}") from None


def exit_status(error: SystemExit) -> int:
    """The status of a ``SystemExit`` argparse raised (``--help``: 0, an error: 2)."""
    code = error.code
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1

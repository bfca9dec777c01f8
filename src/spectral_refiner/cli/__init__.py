"""The ``spectral-refiner`` command: :func:`main` (the console entry point) and its parser.

One module per command family, each adding its subcommands with one ``add_*`` function:
:mod:`.data` (presets, generate, info), :mod:`.training` (configs, train), :mod:`.prediction`
(predict, refine), :mod:`.evaluation` (evaluate, compare-solver, report, runs), :mod:`.demo`;
the options they share (``--run``, ``--data``, ``--out``, ``--device``, ``--threads``,
``--quiet``, ``--overwrite``, ...) are built once each in :mod:`.options`.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]

"""The project's one exception type for errors a user can cause."""

from __future__ import annotations


class SpectralRefinerError(Exception):
    """A problem the user can fix: bad input, missing or corrupt file, solver blow-up.

    The message is one line that names the problem and says what to change. The command
    line prints it without a traceback and exits with status 2.
    """

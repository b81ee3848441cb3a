"""The one exception type user-facing stages raise for bad input.

Every stage reports bad input as a single actionable line naming the file and the
problem; :func:`mpsomics.cli.main` turns :class:`InputError` into that line and a
non-zero exit code, so library code never prints or exits itself.
"""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad user input: a file that cannot be used as given.

    Parameters
    ----------
    path
        The offending file (shown first in the message) or ``None``.
    message
        What is wrong and, where possible, how to fix it. One line.
    """

    def __init__(self, path: str | os.PathLike | None, message: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(self.message if self.path is None else f"{self.path}: {self.message}")

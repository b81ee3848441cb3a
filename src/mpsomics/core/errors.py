"""The two exception types user-facing stages raise.

Every stage reports a failure as a single actionable line naming the file (where
there is one) and the problem; :func:`mpsomics.cli.main` turns the exception into
that line and an exit code, so library code never prints or exits itself:

* :class:`InputError` -- bad input (a file or option that cannot be used as given):
  exit code 2, :data:`EXIT_INPUT`;
* :class:`NumericalError` -- valid input on which a computation failed (training
  diverged to NaN/inf): exit code 3, :data:`EXIT_NUMERICAL`. Rerunning with other
  numerical settings (smaller learning rate, float64) may succeed.
"""

from __future__ import annotations

import os

EXIT_INPUT = 2
EXIT_NUMERICAL = 3


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


class NumericalError(Exception):
    """A computation on valid input failed numerically (NaN/inf, divergence).

    Parameters
    ----------
    path
        The file involved (shown first in the message) or ``None``.
    message
        What failed and what to try instead. One line.
    """

    def __init__(self, path: str | os.PathLike | None, message: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.message = " ".join(str(message).split())
        super().__init__(self.message if self.path is None else f"{self.path}: {self.message}")

"""One check of a command's output paths, made by ``mpsomics.cli.main`` before any work.

Every stage writes ``--out FILE`` or ``--out-dir DIR`` (created if missing). Before the stage
reads anything, the output must be creatable: not an existing path of the other kind, no file
among its ancestors, a writable ancestor, and not the same path as one of the stage's input
files (which the write would replace). Each problem is one :class:`InputError` naming the
option and the path.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mpsomics.core.errors import InputError

#: argparse destinations of outputs -> what they name
OUTPUT_DESTS = {"out": "file", "out_dir": "directory"}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing path among ``path``'s parents (itself excluded)."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _input_files(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """``(option, path)`` of every other string option naming an existing regular file."""
    found = []
    for dest, value in vars(args).items():
        if dest in OUTPUT_DESTS or dest == "stage":
            continue
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str | os.PathLike) and str(v) and Path(v).is_file():
                found.append((_flag(dest), Path(v)))
    return found


def check_outputs(args: argparse.Namespace) -> None:
    """Raise :class:`InputError` when an output of ``args`` cannot be written as given (module docstring)."""
    for dest, kind in OUTPUT_DESTS.items():
        value = getattr(args, dest, None)
        if not isinstance(value, str | os.PathLike):
            continue
        if not str(value).strip():
            raise InputError(None, f"{_flag(dest)}: empty path; give the output {kind}")
        path, flag = Path(value), _flag(dest)
        if kind == "file" and path.is_dir():
            raise InputError(path, f"{flag}: is a directory; give the path of the output file")
        if kind == "directory" and path.exists() and not path.is_dir():
            raise InputError(path, f"{flag}: is a file; give a directory (it is created if missing)")
        ancestor = _existing_ancestor(path)
        if not ancestor.is_dir():
            raise InputError(path, f"{flag}: {ancestor} is a file, not a directory, so the output cannot be "
                                   "created there")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise InputError(path, f"{flag}: the directory {ancestor} is not writable")
        if kind == "file":
            for opt, source in _input_files(args):
                if source.resolve() == path.resolve():
                    raise InputError(path, f"{flag}: is also the input of {opt}; writing the output would "
                                           "replace it: choose another output path")


__all__ = ["OUTPUT_DESTS", "check_outputs"]

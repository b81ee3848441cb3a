"""Output helpers: a stage either writes all of its outputs or none.

Outputs are written to temporary siblings and renamed into place only when the
whole stage succeeded, so an error (or a killed job) never leaves a partial file
that Snakemake or a user could mistake for a result:

* :func:`atomic_path` - one file; :func:`atomic_dir` - one directory replaced as a
  whole; :func:`atomic_files` - several files (of a shared directory whose other
  files must survive) renamed into place only after all of them were written;
* :func:`check_outputs` - the one output-path check ``mpsomics.cli.main`` runs for
  every stage before any work (:func:`outputs_of_args` / :func:`inputs_of_args`
  find a stage's outputs and inputs in its parsed options);
* :func:`signals_as_exceptions` - SIGTERM/SIGINT become :class:`Interrupted`, so
  the context managers above remove their temporary files on the way out (installed
  by ``mpsomics.cli.main``; exit code ``128 + signal number``).

The renames that publish finished outputs run with SIGTERM/SIGINT held back, so a
signal never lands between the renames of one multi-file output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from mpsomics.core.errors import InputError

#: the kinds of output :func:`check_outputs` knows
OUTPUT_KINDS = ("file", "directory")
#: signals :func:`signals_as_exceptions` turns into :class:`Interrupted`
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------ signals

class Interrupted(BaseException):  # noqa: N818 - not an error of the input: a request to stop
    """A handled signal (SIGTERM, SIGINT) arrived; raised by :func:`signals_as_exceptions`.

    A :class:`BaseException`, so ``except Exception`` in a stage does not swallow it,
    while every ``atomic_*`` context manager removes its temporary files.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell convention for a death by signal: ``128 + signum`` (143 SIGTERM, 130 SIGINT)."""
        return 128 + self.signum


@contextlib.contextmanager
def signals_as_exceptions(signums: Sequence[int] = HANDLED_SIGNALS) -> Iterator[None]:
    """Within the block, a signal of ``signums`` raises :class:`Interrupted` in the main thread.

    After the first signal the others are ignored until the block ends, so a second
    SIGTERM cannot cut the clean-up short (SIGKILL still can). A process forked inside
    the block (a worker pool) dies of the signal as it would have without the handler.
    The previous handlers are restored on exit. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pid = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != pid:  # a forked worker: the default action (terminate)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.getsignal(s) for s in signums}
    for s in signums:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM/SIGINT back (delivered at the end of the block): renames are not cut in two."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(HANDLED_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# -------------------------------------------------------------------------- atomic writes

def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path, f"cannot create its directory {path.parent}: {exc.strerror or exc}") from None


def _temp_file(path: Path) -> Path:
    """An empty temporary sibling of ``path`` with the same suffixes (writers dispatch on them)."""
    _make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix="".join(path.suffixes), dir=path.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    The temporary file keeps the suffix of ``path`` (``.h5ad``, ``.npz`` ...) so
    writers that dispatch on the extension keep working. On any exception (an
    :class:`Interrupted` signal included) the temporary file is removed and
    ``path`` is left untouched.
    """
    with atomic_files([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_files(
    paths: Iterable[str | os.PathLike], directories: Iterable[str | os.PathLike] = ()
) -> Iterator[list[Path]]:
    """Yield one temporary path per entry of ``paths`` and ``directories``; publish them together.

    For the several outputs a stage writes into a shared directory whose other files
    must survive (an :func:`atomic_dir` of the whole folder would replace them):
    temporary files for ``paths``, then temporary directories for ``directories``
    (each replaces its target as a whole). Nothing is moved when the block raises
    (any exception or :class:`Interrupted`); then every temporary is removed and the
    previous outputs are left untouched. The renames run with SIGTERM/SIGINT held
    back; a rename that fails (a target turned into a directory meanwhile) removes
    the temporaries not yet moved.
    """
    files = [Path(p) for p in paths]
    dirs = [Path(p) for p in directories]
    targets = files + dirs
    if len({os.path.abspath(p) for p in targets}) != len(targets):
        raise ValueError(f"atomic_files: a path is given twice: {[str(p) for p in targets]}")
    temps: list[Path] = []
    try:
        for p in files:
            temps.append(_temp_file(p))
        for p in dirs:
            temps.append(_temp_dir(p))
        yield list(temps)
        for t in temps:  # mkstemp/mkdtemp create 0600/0700: results get the usual permissions
            os.chmod(t, (0o777 if t.is_dir() else 0o666) & ~_umask())
    except BaseException:
        _remove(temps)
        raise
    with _signals_held():
        done = 0
        try:
            for t, p in zip(temps, targets, strict=True):
                if t.is_dir():
                    _swap_dir(t, p)
                else:
                    os.replace(t, p)
                done += 1
        finally:
            _remove(temps[done:])


def _temp_dir(path: Path) -> Path:
    _make_parent(path)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise InputError(path, f"cannot write in {path.parent}: {exc.strerror or exc}") from None


def _remove(temps: Iterable[Path]) -> None:
    for t in temps:
        if t.is_dir():
            shutil.rmtree(t, ignore_errors=True)
        else:
            t.unlink(missing_ok=True)


def _swap_dir(tmp: Path, path: Path) -> None:
    """Replace the directory ``path`` by ``tmp``; a failed second rename puts the old one back."""
    if not path.exists():
        os.replace(tmp, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
    os.replace(path, old / "content")
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old / "content", path)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole on success.

    An existing ``path`` is only removed once the new content is complete; the two
    renames that swap the directories run with SIGTERM/SIGINT held back, and a failed
    second rename puts the previous directory back.
    """
    with atomic_files([], directories=[path]) as (tmp,):
        yield tmp


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# -------------------------------------------------------------------------- output check

#: ``(option, path, kind)``: an output of a stage, ``kind`` one of :data:`OUTPUT_KINDS`
Output = tuple[str, "str | os.PathLike", str]


def option_flag(dest: str) -> str:
    """``out_dir`` -> ``--out-dir``."""
    return "--" + dest.replace("_", "-")


def is_output_dest(dest: str) -> bool:
    """Output options by name: ``out``, ``out_dir`` and every ``*_out``."""
    return dest in ("out", "out_dir") or dest.endswith("_out")


def _values(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def outputs_of_args(args: argparse.Namespace) -> list[Output]:
    """The outputs named by parsed options: ``--out`` and ``--*-out`` files, the ``--out-dir`` directory.

    Options left at ``None`` (optional outputs not asked for) are skipped.
    """
    found: list[Output] = []
    for dest, value in vars(args).items():
        if not is_output_dest(dest):
            continue
        kind = "directory" if dest == "out_dir" else "file"
        for v in _values(value):
            if isinstance(v, str | os.PathLike):
                found.append((option_flag(dest), v, kind))
    return found


def inputs_of_args(args: argparse.Namespace, outputs: Iterable[Output] = ()) -> list[tuple[str, Path]]:
    """``(option, path)`` of every other string option (or list entry) naming an existing regular file.

    ``outputs``: their options are not inputs (defaults to the ``is_output_dest`` options).
    """
    skip = {o for o, _p, _k in outputs}
    found = []
    for dest, value in vars(args).items():
        flag = option_flag(dest)
        if dest == "stage" or is_output_dest(dest) or flag in skip:
            continue
        for v in _values(value):
            if isinstance(v, str | os.PathLike) and str(v) and os.path.isfile(v):
                found.append((flag, Path(v)))
    return found


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing path among ``path``'s parents (itself excluded)."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not provably the same
        return False


def check_outputs(outputs: Iterable[Output], inputs: Iterable[tuple[str, str | os.PathLike]] = ()) -> None:
    """Raise :class:`InputError` naming the option and path of the first output that cannot be written.

    ``outputs``: ``(option, path, kind)`` with ``kind`` ``"file"`` or ``"directory"``;
    ``inputs``: ``(option, path)`` of the stage's input files. An output must not be

    * empty, or an existing path of the other kind (a directory as ``--out``, a file as ``--out-dir``);
    * below a file (a missing parent directory is fine: it is created);
    * in a directory that is not writable (an existing output directory must be writable itself);
    * the same path as an input (the write would replace it) or as another output
      (exact equality of the resolved paths: symlinks followed).
    """
    inputs = [(opt, Path(p)) for opt, p in inputs]
    checked: list[tuple[str, Path]] = []
    for flag, value, kind in outputs:
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"check_outputs: unknown kind {kind!r} of {flag}")
        if not str(value).strip():
            raise InputError(None, f"{flag}: empty path; give the output {kind}")
        path = Path(value)
        if kind == "file" and path.is_dir():
            raise InputError(path, f"{flag}: is a directory; give the path of the output file")
        if kind == "directory" and path.exists() and not path.is_dir():
            raise InputError(path, f"{flag}: is a file; give a directory (it is created if missing)")
        ancestor = _existing_ancestor(path)
        if not ancestor.is_dir():
            raise InputError(path, f"{flag}: {ancestor} is a file, not a directory, so the output cannot be "
                                   "created there")
        where = path if kind == "directory" and path.is_dir() else ancestor
        if not os.access(where, os.W_OK | os.X_OK):
            raise InputError(path, f"{flag}: the directory {where} is not writable")
        if kind == "file":
            for opt, source in inputs:
                if _same(source, path):
                    raise InputError(path, f"{flag}: is also the input of {opt}; writing the output would "
                                           "replace it: choose another output path")
        for other, earlier in checked:
            if _same(earlier, path):
                raise InputError(path, f"{flag}: is also the output of {other}; one would overwrite the other: "
                                       "give them different paths")
        checked.append((flag, path))


def check_stage_outputs(args: argparse.Namespace, module: object = None) -> None:
    """:func:`check_outputs` for a parsed stage command line.

    A stage module may name its outputs itself with ``output_checks(args) ->
    [(option, path, kind), ...]`` (e.g. files derived from an option); otherwise
    :func:`outputs_of_args` finds them. Inputs are :func:`inputs_of_args`.
    """
    locate: Callable[[argparse.Namespace], Iterable[Output]] | None = getattr(module, "output_checks", None)
    outputs = list(locate(args)) if locate is not None else outputs_of_args(args)
    check_outputs(outputs, inputs_of_args(args, outputs))


__all__ = [
    "HANDLED_SIGNALS", "OUTPUT_KINDS", "Interrupted", "Output", "atomic_dir", "atomic_files", "atomic_path",
    "check_outputs", "check_stage_outputs", "inputs_of_args", "is_output_dest", "option_flag",
    "outputs_of_args", "signals_as_exceptions", "write_json",
]

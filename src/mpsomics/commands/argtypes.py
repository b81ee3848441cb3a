"""argparse ``type=`` validators shared by the stage commands.

A bad value becomes argparse's usual one-line usage error (exit 2) naming the option.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Callable


def integer(minimum: int) -> Callable[[str], int]:
    """An integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


#: the largest seed: scikit-learn's ``random_state`` and igraph/leidenalg take 0 .. 2**32 - 1
SEED_MAX = 2**32 - 1


def random_seed(text: str) -> int:
    """A random seed: an integer in 0 .. :data:`SEED_MAX` (the config schema's bounds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed in 0 .. 2**32 - 1, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed in 0 .. 2**32 - 1, got {value}")
    return value


def number(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> Callable[[str], float]:
    """A finite number in the interval from ``lo`` to ``hi`` (closed unless ``*_open``)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    if lo is not None and hi is not None:
        wanted = f"a number in {left}{lo:g}, {hi:g}{right}"
    elif lo is not None:
        wanted = f"a number {'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        wanted = f"a number {'<' if hi_open else '<='} {hi:g}"
    else:
        wanted = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value)
        if lo is not None:
            ok = ok and (value > lo if lo_open else value >= lo)
        if hi is not None:
            ok = ok and (value < hi if hi_open else value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value

    return parse


def field_choices(cls: type, name: str) -> tuple[str, ...]:
    """The allowed values of dataclass field ``name``, from its ``Literal`` annotation.

    argparse ``choices`` derived this way cannot drift from the dataclass.
    """
    hint = typing.get_type_hints(cls)[name]
    if typing.get_origin(hint) is not typing.Literal:
        raise TypeError(f"{cls.__name__}.{name} is not annotated with a Literal")
    return typing.get_args(hint)


def field_default(cls: type, name: str):
    """The default of dataclass field ``name`` (as declared, not retyped)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name} has no default")
            return f.default
    raise KeyError(name)

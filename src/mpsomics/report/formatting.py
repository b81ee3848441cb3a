"""Number formatting shared by the report's pages and sections (``html``, ``beyond``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def is_missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def fmt(x: object, digits: int = 3) -> str:
    """Human formatting: empty for missing, integers without decimals."""
    if is_missing(x):
        return "–"
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if float(x).is_integer() and abs(x) < 1e6:
            return str(int(x))
        return f"{x:.{digits}g}" if abs(x) < 1e-2 else f"{x:.{digits}f}"
    return str(x)

"""The local feature map of Stoudenmire & Schwab (2016) used by Pomarico et al. (2025).

Convention: x in [0, 1] -> phi(x) = (cos(pi x / 2), sin(pi x / 2)); basis state |0>
is the cos component (low expression), |1> the sin component (high expression).
With sigma^z = diag(1, -1), <sigma^z> = +1 means "low", -1 means "high".
"""

from __future__ import annotations

import numpy as np

FEATURE_MAP_NAME = "cos_sin_half_pi"


def feature_map(x: np.ndarray) -> np.ndarray:
    """Map an array of values in [0, 1] to local states, adding a trailing axis of size 2.

    Parameters
    ----------
    x
        Array of any shape, typically (n_samples, n_sites).

    Returns
    -------
    Array of shape ``x.shape + (2,)`` with unit-norm local vectors.
    """
    x = np.asarray(x)
    angle = 0.5 * np.pi * x
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)

"""Brute-force dense-state-vector references for MPS observables (tests only, N <= ~14).

Import from tests as ``from helpers.dense import ...`` (pytest puts ``tests/`` on the
path). Conventions match :mod:`mpsomics.mps.observables`: site 0 is the most
significant index of the flattened 2^N vector, |0> = cos (low), sigma^z = diag(1, -1),
bond ``b`` separates sites ``0..b`` from ``b+1..N-1``, natural logarithms.

API
---
``random_state(n_sites, bond_dim, ...)`` -> MPSState;
``dense_state(state)`` -> amplitudes of shape (2,)*N + (C,);
``dense_class_state(state, label)`` -> normalised (2**N,) vector;
``dense_schmidt(psi, n_sites, bond)``, ``dense_entropy``, ``dense_renyi2``;
``dense_magnetization(psi, n)``, ``dense_correlation(psi, n, connected=True)``;
``dense_label_density(state)``; ``ghz_state(n_sites, ...)``, ``product_state(angles, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpsomics.mps.state import MPSState


def random_state(
    n_sites: int,
    bond_dim: int,
    n_classes: int = 2,
    label_site: int | None = None,
    seed: int = 0,
    dtype: type | np.dtype = np.float64,
    scales: Sequence[float] | float | None = None,
) -> MPSState:
    """A random open-boundary MPS with Gaussian entries.

    Parameters
    ----------
    n_sites, bond_dim
        Chain length and every internal bond dimension (not truncated to the rank a
        bond can carry, so small chains have non-saturated bonds).
    n_classes
        Size of the label index.
    label_site
        Site carrying the label; default ``n_sites // 2``.
    seed
        Seed of :func:`numpy.random.default_rng`.
    dtype
        Any float or complex dtype (complex: independent real and imaginary parts).
    scales
        Factor multiplying each site tensor (a float applies to all sites).
    """
    rng = np.random.default_rng(seed)
    label_site = n_sites // 2 if label_site is None else label_site
    if scales is None:
        scales = [1.0] * n_sites
    elif np.isscalar(scales):
        scales = [float(scales)] * n_sites
    complex_ = np.issubdtype(np.dtype(dtype), np.complexfloating)
    sites = []
    for i in range(n_sites):
        chi_l = 1 if i == 0 else bond_dim
        chi_r = 1 if i == n_sites - 1 else bond_dim
        shape = (chi_l, 2, n_classes, chi_r) if i == label_site else (chi_l, 2, chi_r)
        t = rng.standard_normal(shape)
        if complex_:
            t = t + 1j * rng.standard_normal(shape)
        sites.append((scales[i] * t).astype(dtype))
    return MPSState(
        sites=sites,
        label_site=label_site,
        genes=[f"g{i}" for i in range(n_sites)],
        classes=[f"class{c}" for c in range(n_classes)],
    )


def ghz_state(n_sites: int, amplitudes: Sequence[Sequence[float]] = ((1.0, 1.0), (1.0, -2.0)), label_site: int = 0) -> MPSState:
    """``a_l |0...0> + b_l |1...1>`` for class ``l`` with ``(a_l, b_l) = amplitudes[l]`` (chi = 2)."""
    amps = np.asarray(amplitudes, dtype=np.float64)
    n_classes = len(amps)
    sites = []
    for i in range(n_sites):
        chi_l = 1 if i == 0 else 2
        chi_r = 1 if i == n_sites - 1 else 2
        t = np.zeros((chi_l, 2, chi_r))
        for s in range(2):
            t[0 if chi_l == 1 else s, s, 0 if chi_r == 1 else s] = 1.0
        if i == label_site:
            t = t[:, :, None, :] * np.ones((1, 1, n_classes, 1))
            for s in range(2):
                t[:, s, :, :] *= amps[:, s][None, :, None]
        sites.append(t)
    return MPSState(sites, label_site, [f"g{i}" for i in range(n_sites)], [f"class{c}" for c in range(n_classes)])


def product_state(angles: Sequence[float], n_classes: int = 2, label_site: int = 0, class_scales: Sequence[float] | None = None) -> MPSState:
    """chi = 1 state ``prod_i (cos a_i |0> + sin a_i |1>)``, the same for every class up to a scale."""
    n = len(angles)
    scales = np.arange(1.0, n_classes + 1.0) if class_scales is None else np.asarray(class_scales, dtype=float)
    sites = []
    for i, a in enumerate(angles):
        t = np.array([np.cos(a), np.sin(a)]).reshape(1, 2, 1)
        if i == label_site:
            t = t[:, :, None, :] * scales[None, None, :, None]
        sites.append(t)
    return MPSState(sites, label_site, [f"g{i}" for i in range(n)], [f"class{c}" for c in range(n_classes)])


def dense_state(state: MPSState) -> np.ndarray:
    """All amplitudes, shape ``(2,) * N + (C,)`` (label axis last), unnormalised."""
    dtype = np.complex128 if any(np.iscomplexobj(t) for t in state.sites) else np.float64
    psi = np.ones(1, dtype=dtype)
    for t in state.sites:
        psi = np.tensordot(psi, np.asarray(t, dtype=dtype), axes=(psi.ndim - 1, 0))
    psi = psi[..., 0]
    return np.moveaxis(psi, state.label_site + 1, -1)


def dense_class_state(state: MPSState, label: int) -> np.ndarray:
    """Normalised state vector of class ``label``, shape (2**N,)."""
    v = dense_state(state)[..., label].reshape(-1)
    return v / np.linalg.norm(v)


def _normalised(psi: np.ndarray) -> np.ndarray:
    psi = np.asarray(psi).reshape(-1)
    return psi / np.linalg.norm(psi)


def dense_schmidt(psi: np.ndarray, n_sites: int, bond: int) -> np.ndarray:
    """Schmidt values across ``bond`` (descending, sum of squares 1)."""
    m = _normalised(psi).reshape(2 ** (bond + 1), 2 ** (n_sites - bond - 1))
    return np.linalg.svd(m, compute_uv=False)


def dense_entropy(psi: np.ndarray, n_sites: int, bond: int) -> float:
    """Von Neumann entropy (natural log) across ``bond``."""
    p = dense_schmidt(psi, n_sites, bond) ** 2
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def dense_renyi2(psi: np.ndarray, n_sites: int, bond: int) -> float:
    """Renyi-2 entropy ``-ln sum lambda^4`` across ``bond``."""
    return float(-np.log(np.sum(dense_schmidt(psi, n_sites, bond) ** 4)))


def _z_signs(n: int) -> np.ndarray:
    """(2**n, n) matrix of sigma^z eigenvalues, site 0 most significant."""
    idx = np.arange(2**n)[:, None]
    bits = (idx >> np.arange(n - 1, -1, -1)[None, :]) & 1
    return 1.0 - 2.0 * bits


def dense_magnetization(psi: np.ndarray, n: int) -> np.ndarray:
    """<sigma^z_i> for every site, shape (n,)."""
    p = np.abs(_normalised(psi)) ** 2
    return p @ _z_signs(n)


def dense_correlation(psi: np.ndarray, n: int, connected: bool = True) -> np.ndarray:
    """<Z_i Z_j> (minus <Z_i><Z_j> if ``connected``), shape (n, n)."""
    p = np.abs(_normalised(psi)) ** 2
    z = _z_signs(n)
    zz = z.T @ (p[:, None] * z)
    if connected:
        m = p @ z
        zz = zz - np.outer(m, m)
    return zz


def dense_label_density(state: MPSState) -> np.ndarray:
    """``rho[l, l'] = sum_x Psi[x, l] conj(Psi[x, l'])``, trace-normalised, shape (C, C)."""
    psi = dense_state(state)
    m = psi.reshape(-1, psi.shape[-1])
    rho = m.T @ m.conj()
    return rho / np.trace(rho).real

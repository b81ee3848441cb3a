"""An MPS classifier as a :class:`torch.nn.Module` (used by the ``gradient`` trainer).

Model
-----
N sites, physical dimension 2, bond dimension chi, open boundaries, one label index of
dimension C on site ``label_site`` (default: the middle, ``N // 2``)::

    f^l(x) = <Phi(x)|W^l> = v_L^T M_0(x) ... M_{L-1}(x) T^l(x) M_{L+1}(x) ... M_{N-1}(x) v_R

with M_i(x) = sum_s phi_s(x_i) A_i[:, s, :] (chi x chi), T^l(x) = sum_s phi_s(x_L) T[:, s, l, :]
and fixed boundary vectors v_L = v_R = e_0. The boundary vectors cost no expressivity
(any (1, 2, chi) end tensor equals e_0^T A_0 for some A_0) and let every bulk tensor have
the same shape, so all bulk tensors live in ONE stacked parameter of shape
(N - 1, chi, 2, chi).

Batched contraction
-------------------
The bulk sites left of the label site (traversed from site 0 inwards) and right of it
(traversed from site N - 1 inwards, bond legs transposed) are padded with identity
sites to a common length n and cut into blocks of k sites (``block``, default 4):

1. each block's k tensors are merged into one data-independent tensor K (chi, 2^k, chi)
   by k - 1 batched matmuls with no sample dimension (cheap);
2. the samples' block features Psi (2^k) are outer products of phi; they do not depend
   on the parameters, so a trainer computes them once (:meth:`MPSClassifier.features`);
3. one batched matmul Psi @ K gives all per-sample block matrices (n/k, 2, B, chi, chi);
4. ``contraction="sweep"`` (default): the environment vectors e_0^T M_1 M_2 ... of both
   halves take n/k batched vector-matrix steps with a hand-written backward
   (:class:`_VectorChain`: one kernel per step, all matrix gradients in one op);
   ``contraction="tree"``: a log-depth tree reduction of the block matrices in
   bit-reversed order (:class:`_TreeProduct`; each level one matmul of two contiguous
   halves). Both give the same f to rounding; the sweep needs ~chi^2 (2^k / k + 1)
   flops per site and sample against ~chi^3 / k for the tree, and was faster here.

Both halves then reduce to vectors l, r and f^l = sum l_a phi_s(x_L) T[a, s, l, c] r_c.

Initialisation and scale (why f stays O(1) for N = 500)
-------------------------------------------------------
With phi(x) = (cos, sin)(pi x / 2), a random Gaussian MPS gives a product of N random
transfer matrices whose norm vanishes or explodes exponentially in N (the known
failure of generic initialisations at N ~ 100). Here every bulk tensor starts as a
noisy *identity channel*::

    A_i[:, 0, :] = A_i[:, 1, :] = s_i * (I / sqrt(2) + noise),   noise ~ N(0, init_std^2 / chi)

so M_i(x) = s_i * (cos + sin)(pi x_i / 2) / sqrt(2) * (I + O(noise)). The factor
(cos + sin)/sqrt(2) = cos(pi x / 2 - pi / 4) lies in [1/sqrt(2), 1]; its mean log over
x ~ U[0, 1] is -(log 2 - 2 G / pi) = -0.1100 (G = Catalan's constant). The fixed
per-site scale s_i cancels that mean log: by default it is fitted to the training data
(s_i = exp(-mean_n log cos(pi x_ni / 2 - pi / 4)), a data-dependent, LSUV-like
initialisation that also works for skewed expression data with many zeros), or
exp(0.1100) when no data are given. The product of N transfer matrices then has
log-norm with mean 0 and fluctuations ~ 0.1 sqrt(N), so f is O(1) at initialisation
for every N, and the matrices are near-isometries, so gradients neither vanish nor
explode through the chain. The noise is scaled by 1/sqrt(chi) so that the spectral
norm of the perturbation, and hence its accumulated effect over N sites, does not grow
with chi. The label tensor starts as T[:, s, l, :] = s_L * (I / sqrt(2) + noise_L) / C with a
larger noise (``label_init_std`` = 0.5 / sqrt(chi)), so all bond channels are read out
from the start and f^l ~ 1/C at initialisation.

What cannot be removed: no linear function of (cos, sin) is constant on [0, 1], so each
site multiplies f by an input-dependent factor; for the identity channel it is
cos(pi x / 2 - pi / 4) / exp(-0.11), whose log has standard deviation ~0.09. The typical
|f| is O(1) for every N, but its spread across samples grows like exp(+-0.09 sqrt(N))
(about x/÷ 7 at N = 500). Both labels share that factor, so the prediction
argmax_l |f^l| is unaffected; the ``cross_entropy`` loss (Born probabilities, see
:func:`mpsomics.mps.gradient.sample_losses`) is exactly invariant to it, while the
paper's ``mse`` loss is dominated by it at large N.

The scales s_i are buffers (not trained); :meth:`MPSClassifier.site_tensors` folds each
s_i into its own site tensor, so every exported tensor has entries of order one and
nothing under- or overflows even for N = 500 (the scale is spread evenly over the sites
by construction).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: mean of log cos(pi x / 2 - pi / 4) for x ~ U[0, 1] is -LOG_SCALE_UNIFORM
LOG_SCALE_UNIFORM = math.log(2.0) - 2.0 * 0.915965594177219015054603514932384110774 / math.pi

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def as_torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Map ``"float64"``/``"float32"`` (or a torch dtype) to a torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype)]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}") from None


def embed(x: np.ndarray | torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Feature map phi(x) = (cos(pi x / 2), sin(pi x / 2)) as a torch tensor (..., 2).

    Computed in float64 and then cast, so float32 and float64 runs see the same inputs
    up to rounding.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    angle = 0.5 * math.pi * x
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1).to(dtype)


def site_log_scales(X: np.ndarray | None, n_sites: int) -> np.ndarray:
    """Per-site log scale log s_i that makes the identity-channel transfer matrix norm-1 on average.

    ``X`` (n_samples, n_sites) in [0, 1]; ``None`` assumes x ~ U[0, 1].
    """
    if X is None or len(X) == 0:
        return np.full(n_sites, LOG_SCALE_UNIFORM)
    angle = 0.5 * np.pi * np.asarray(X, dtype=np.float64)
    # cos(a - pi/4) >= 1/sqrt(2) for a in [0, pi/2]; clip guards values slightly outside [0, 1]
    g = np.clip(np.cos(angle - 0.25 * np.pi), 1e-3, None)
    return -np.log(g).mean(axis=0)


def chain_product(mats: torch.Tensor) -> torch.Tensor:  # reference implementation (tests)
    """Ordered product M_0 M_1 ... M_{n-1} over axis -3 by tree (pairwise) reduction.

    ``mats`` has shape (..., n, chi, chi) with n >= 1; returns (..., chi, chi) after
    ceil(log2 n) batched matmuls. Odd lengths carry their last matrix to the next level.
    """
    while mats.shape[-3] > 1:
        n = mats.shape[-3]
        k = n // 2
        pairs = mats[..., : 2 * k, :, :].unflatten(-3, (k, 2))
        prod = torch.matmul(pairs[..., 0, :, :], pairs[..., 1, :, :])
        if n % 2:
            prod = torch.cat([prod, mats[..., -1:, :, :]], dim=-3)
        mats = prod
    return mats[..., 0, :, :]


class _TreeProduct(torch.autograd.Function):
    """Ordered product of the 2^m matrices along axis 0, stored in bit-reversed order.

    Each level multiplies the two contiguous halves. A hand-written backward (two
    matmuls per level, written straight into one gradient buffer) replaces the generic
    autograd graph of slices, matmuls and concatenations.
    """

    @staticmethod
    def forward(ctx, mats: torch.Tensor) -> torch.Tensor:
        levels = []
        while mats.shape[0] > 1:
            levels.append(mats)
            h = mats.shape[0] // 2
            mats = torch.matmul(mats[:h], mats[h:])
        ctx.save_for_backward(*levels)
        return mats[0]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.unsqueeze(0)
        for level in reversed(ctx.saved_tensors):
            h = level.shape[0] // 2
            out = torch.empty_like(level)
            torch.matmul(g, level[h:].transpose(-1, -2), out=out[:h])
            torch.matmul(level[:h].transpose(-1, -2), g, out=out[h:])
            g = out
        return g


class _VectorChain(torch.autograd.Function):
    """v = e_0^T M_0 M_1 ... M_{nb-1} for a stack of matrices (nb, ..., chi, chi).

    Forward: nb - 1 batched vector-matrix products written in place into one buffer.
    Backward: nb - 1 vector-matrix products for the incoming gradients, then all the
    matrix gradients (outer products) in one op. One kernel per step either way.
    """

    @staticmethod
    def forward(ctx, mats: torch.Tensor) -> torch.Tensor:
        nb, chi = mats.shape[0], mats.shape[-1]
        batch_shape = mats.shape[1:-2]
        m = mats.reshape(nb, -1, chi, chi)
        vs = torch.empty(
            nb, m.shape[1], 1, chi, dtype=mats.dtype
        )  # vs[b]: input of step b (b >= 1), output
        vs[0] = m[0, :, :1, :]
        for b in range(1, nb):
            torch.bmm(vs[b - 1], m[b], out=vs[b])
        ctx.save_for_backward(m, vs)
        ctx.batch_shape = batch_shape
        return vs[nb - 1].reshape(*batch_shape, chi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        m, vs = ctx.saved_tensors
        nb, chi = m.shape[0], m.shape[-1]
        gs = torch.empty_like(vs)  # gs[b]: gradient wrt the output of step b
        gs[nb - 1] = grad.reshape(-1, 1, chi)
        for b in range(nb - 1, 0, -1):
            torch.bmm(gs[b], m[b].transpose(-1, -2), out=gs[b - 1])
        d = torch.empty_like(m)
        if nb > 1:
            torch.mul(
                vs[: nb - 1].transpose(-1, -2), gs[1:], out=d[1:]
            )  # outer products v_{b-1}^T g_b
        d[0] = 0.0
        d[0, :, :1, :] = gs[0]  # step 0 is e_0^T M_0: only row 0 of M_0 is used
        return d.reshape(nb, *ctx.batch_shape, chi, chi)


class MPSClassifier(nn.Module):
    """MPS classifier f^l(x) = <Phi(x)|W^l> with a stacked bulk parameter.

    Parameters
    ----------
    n_sites
        Number of sites N (>= 1).
    n_classes
        Label dimension C.
    bond_dim
        Bond dimension chi.
    label_site
        Site carrying the label index; default ``n_sites // 2``.
    dtype
        ``torch.float64`` or ``torch.float32`` (or their names).
    init_std
        Relative noise added to the identity-channel initialisation of the bulk.
    label_init_std
        Relative noise of the label tensor. It is large on purpose: a random label tensor
        reads every bond channel from the start, so a signal routed into any channel at
        any site reaches the output (with a pure identity label tensor only channel 0 is
        read and learning first has to escape a symmetric saddle).
    X_init
        Training inputs (n, N) used to fit the fixed per-site scales (see module doc);
        ``None`` assumes uniform inputs.
    generator
        ``torch.Generator`` for the initial noise (seeded by the caller).

    Attributes
    ----------
    cores
        Parameter (N - 1, chi, 2, chi): the bulk tensors of sites != label_site, in
        chain order, *before* their fixed scale ``exp(log_scale[j])`` is applied.
    label_core
        Parameter (chi, 2, C, chi), before its scale ``exp(label_log_scale)``.
    """

    def __init__(
        self,
        n_sites: int,
        n_classes: int = 2,
        bond_dim: int = 10,
        *,
        label_site: int | None = None,
        dtype: str | torch.dtype = torch.float64,
        init_std: float = 1e-2,
        label_init_std: float = 0.5,
        X_init: np.ndarray | None = None,
        generator: torch.Generator | None = None,
        contraction: str = "sweep",
        block: int = 4,
    ) -> None:
        super().__init__()
        if n_sites < 1:
            raise ValueError("n_sites must be >= 1")
        if bond_dim < 1:
            raise ValueError("bond_dim must be >= 1")
        if n_classes < 1:
            raise ValueError("n_classes must be >= 1")
        label_site = n_sites // 2 if label_site is None else int(label_site)
        if not 0 <= label_site < n_sites:
            raise ValueError(f"label_site {label_site} outside 0..{n_sites - 1}")
        dtype = as_torch_dtype(dtype)
        self.n_sites = n_sites
        self.n_classes = n_classes
        self.bond_dim = bond_dim
        self.label_site = label_site
        if contraction not in ("sweep", "tree"):
            raise ValueError(f"contraction must be 'tree' or 'sweep', got {contraction!r}")
        self.contraction = contraction
        self.block = max(1, int(block))
        chi = bond_dim

        log_s = site_log_scales(X_init, n_sites)
        bulk_idx = [i for i in range(n_sites) if i != label_site]
        eye = torch.eye(chi, dtype=torch.float64) / math.sqrt(2.0)
        noise_std = init_std / math.sqrt(chi)

        def noise(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64) * noise_std

        cores = eye[None, :, None, :].expand(n_sites - 1, chi, 2, chi) + noise(
            n_sites - 1, chi, 2, chi
        )
        label_noise = torch.randn(chi, 2, n_classes, chi, generator=generator, dtype=torch.float64)
        label = (
            eye[:, None, None, :].expand(chi, 2, n_classes, chi)
            + label_noise * label_init_std / math.sqrt(chi)
        ) / n_classes
        self.cores = nn.Parameter(cores.to(dtype))
        self.label_core = nn.Parameter(label.to(dtype))
        self.register_buffer("log_scale", torch.as_tensor(log_s[bulk_idx], dtype=torch.float64))
        self.register_buffer(
            "label_log_scale", torch.as_tensor(float(log_s[label_site]), dtype=torch.float64)
        )
        self.label_scale = math.exp(float(log_s[label_site]))
        # exp(log_scale) in the model dtype, kept in sync by _apply (dtype changes)
        self.register_buffer("scale", torch.exp(self.log_scale).to(dtype), persistent=False)
        ident = torch.zeros(1, chi, 2, chi, dtype=dtype)
        ident[0, :, 0, :] = torch.eye(chi, dtype=dtype)
        self.register_buffer("ident_core", ident, persistent=False)
        self.register_buffer("boundary", torch.zeros(chi, dtype=dtype))
        self.boundary[0] = 1.0

    @property
    def dtype(self) -> torch.dtype:
        return self.cores.dtype

    # ------------------------------------------------------------------ forward
    def _bulk_with_identity(self) -> torch.Tensor:
        """Scaled bulk tensors plus one identity core at index N - 1: (N, chi, 2, chi)."""
        scale = self.scale.to(self.dtype)
        return torch.cat([self.cores * scale[:, None, None, None], self.ident_core.to(self.dtype)])

    @staticmethod
    def _phi_with_pad(phi: torch.Tensor) -> torch.Tensor:
        """Inputs plus one padding site (1, 0) at index N, which selects ident[:, 0] = I."""
        pad_in = torch.zeros(phi.shape[0], 1, 2, dtype=phi.dtype)
        pad_in[:, :, 0] = 1.0
        return torch.cat([phi, pad_in], dim=1)

    def _tree_layout(self) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """Gather indices for the blocked tree (cached).

        Each half (sites left of the label, identity-padded in front; sites right of it,
        identity-padded at the end) is cut into nb = 2^m blocks of k sites. Returns
        ``(site_idx, core_idx, nb, k)``; both index tensors have shape (nb, 2, k): block
        position in bit-reversed order, half, site within block. ``site_idx`` indexes the
        inputs (N = padding, input (1, 0)); ``core_idx`` indexes the bulk tensors (N - 1 =
        identity core).
        """
        cached = getattr(self, "_tree_cache", None)
        if cached is not None:
            return cached
        L, N = self.label_site, self.n_sites
        n = max(L, N - 1 - L)
        m = max(0, math.ceil(math.log2(max(1.0, n / self.block))))
        nb = 1 << m
        k = -(-n // nb)
        n_pad = nb * k
        pad_site, pad_core = N, N - 1
        nr = N - 1 - L
        left = (
            [pad_site] * (n_pad - L) + list(range(L)),
            [pad_core] * (n_pad - L) + list(range(L)),
        )
        right = (
            list(range(L + 1, N)) + [pad_site] * (n_pad - nr),
            list(range(L, N - 1)) + [pad_core] * (n_pad - nr),
        )
        site_idx, core_idx = [], []
        for p in range(nb):
            q = int(format(p, f"0{m}b")[::-1], 2) if m > 0 else 0  # bit reversal
            site_idx.append([half[0][q * k : (q + 1) * k] for half in (left, right)])
            core_idx.append([half[1][q * k : (q + 1) * k] for half in (left, right)])
        cached = (torch.tensor(site_idx), torch.tensor(core_idx), nb, k)
        self._tree_cache = cached
        return cached

    def tree_features(self, phi: torch.Tensor) -> torch.Tensor:
        """Block features Psi (nb, 2, B, 2^k) of inputs ``phi`` (B, N, 2) for the blocked tree.

        They do not depend on the parameters, so a trainer can compute them once for the
        whole training set and pass minibatches of them to :meth:`forward_features`.
        """
        site_idx, _, nb, k = self._tree_layout()
        P = self._phi_with_pad(phi.to(self.dtype))[:, site_idx]  # (B, nb, 2, k, 2)
        P = P.permute(1, 2, 3, 0, 4).unbind(2)  # k x (nb, 2, B, 2)
        Psi = P[0]
        for j in range(1, k):
            Psi = (Psi[..., :, None] * P[j][..., None, :]).flatten(-2)  # (nb, 2, B, 2^(j+1))
        return Psi.contiguous()

    def _envs_tree(self, Psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left/right environments by a blocked tree reduction (a handful of batched ops).

        1. Blocks of k consecutive sites are merged into data-independent tensors
           K (chi, 2^k, chi) by k - 1 batched matmuls without a batch dimension.
        2. With the samples' block features Psi (2^k; outer products of phi, see
           :meth:`tree_features`), one batched matmul gives every per-sample block
           transfer matrix, (nb, 2, B, chi, chi).
        3. The nb = 2^m block matrices of each half are multiplied by a tree reduction
           (m levels, blocks stored in bit-reversed order so that every level is one
           matmul of two contiguous halves).
        """
        B, chi = Psi.shape[2], self.bond_dim
        _, core_idx, nb, k = self._tree_layout()
        G = self._bulk_with_identity()[core_idx].unbind(2)  # k x (nb, 2, chi, 2, chi)
        K = G[0].reshape(nb * 2, chi * 2, chi)  # [a, S, c]
        for j in range(1, k):
            K = torch.bmm(K, G[j].reshape(nb * 2, chi, 2 * chi)).view(nb * 2, -1, chi)
        K = K.view(nb, 2, chi, 2**k, chi).transpose(2, 3).reshape(nb, 2, 2**k, chi * chi)
        mats = torch.matmul(Psi, K).view(nb, 2, B, chi, chi)
        prod = _TreeProduct.apply(mats) if nb > 1 else mats[0]
        return prod[0, :, 0, :], prod[1, :, :, 0]  # e_0^T P_left, P_right e_0

    def _block_layout(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Indices for the blocked sweep: (half, position) in sweep order, padded to a multiple of k.

        Half 0 runs from site 0 towards the label site, half 1 from site N - 1 towards it;
        identity padding sits at the outer ends.
        """
        cached = getattr(self, "_block_cache", None)
        if cached is not None:
            return cached
        L, N, k = self.label_site, self.n_sites, self.block
        n = max(L, N - 1 - L)
        n_pad = -(-n // k) * k
        pad_site, pad_core = N, N - 1
        left_sites = [pad_site] * (n_pad - L) + list(range(L))
        left_cores = [pad_core] * (n_pad - L) + list(range(L))
        nr = N - 1 - L
        right_sites = [pad_site] * (n_pad - nr) + list(range(N - 1, L, -1))
        right_cores = [pad_core] * (n_pad - nr) + list(range(N - 2, L - 1, -1))
        cached = (
            torch.tensor([left_sites, right_sites]),
            torch.tensor([left_cores, right_cores]),
            n_pad,
        )
        self._block_cache = cached
        return cached

    def _sweep_features(self, phi: torch.Tensor) -> torch.Tensor:
        """Block features Psi (nb, 2, B, 2^k) in sweep order (see :meth:`_block_layout`)."""
        k = self.block
        site_idx, _, n_pad = self._block_layout()
        nb = n_pad // k
        P = self._phi_with_pad(phi.to(self.dtype))[:, site_idx]  # (B, 2, n_pad, 2)
        P = P.view(-1, 2, nb, k, 2).permute(2, 1, 3, 0, 4).unbind(2)  # k x (nb, 2, B, 2)
        Psi = P[0]
        for j in range(1, k):
            Psi = (Psi[..., :, None] * P[j][..., None, :]).flatten(-2)
        return Psi.contiguous()

    def _envs_sweep(self, Psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left/right environments by a blocked vector sweep from both ends at once.

        Blocks of k sites are merged into data-independent tensors K (chi, 2^k, chi) in
        sweep orientation (the right half is traversed from site N - 1 inwards with
        transposed bond legs); one batched matmul with the block features gives the
        per-sample block matrices (nb, 2, B, chi, chi); the environment vectors then
        take nb sequential vector-matrix steps (:class:`_VectorChain`, hand-written
        backward). About chi^2 (2^k / k + 1) flops per site and sample.
        """
        B, chi, k = Psi.shape[2], self.bond_dim, self.block
        _, core_idx, n_pad = self._block_layout()
        nb = n_pad // k
        G = self._bulk_with_identity()[core_idx]  # (2, n_pad, chi, 2, chi)
        G = torch.stack([G[0], G[1].permute(0, 3, 2, 1)])  # right half: transpose bond legs
        G = G.view(2, nb, k, chi, 2, chi).transpose(0, 1).unbind(2)  # k x (nb, 2, chi, 2, chi)
        K = G[0].reshape(nb * 2, chi * 2, chi)  # [a, S, c]
        for j in range(1, k):
            K = torch.bmm(K, G[j].reshape(nb * 2, chi, 2 * chi)).view(nb * 2, -1, chi)
        K = K.view(nb, 2, chi, 2**k, chi).transpose(2, 3).reshape(nb, 2, 2**k, chi * chi)
        mats = torch.matmul(Psi, K).view(nb, 2, B, chi, chi)
        v = _VectorChain.apply(mats)
        return v[0], v[1]

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        """Scores f (B, C) for feature-mapped inputs ``phi`` (B, N, 2) (see :func:`embed`)."""
        if phi.ndim != 3 or phi.shape[1] != self.n_sites or phi.shape[2] != 2:
            raise ValueError(
                f"phi must have shape (batch, {self.n_sites}, 2), got {tuple(phi.shape)}"
            )
        phi = phi.to(self.dtype)
        Psi = self.features(phi) if self.n_sites > 1 else None
        return self.forward_features(phi[:, self.label_site, :], Psi)

    def features(self, phi: torch.Tensor) -> torch.Tensor:
        """Block features Psi (nb, 2, B, 2^k) of inputs ``phi`` (B, N, 2).

        They do not depend on the parameters, so a trainer computes them once for the
        whole training set and passes minibatches ``Psi[:, :, idx]`` to
        :meth:`forward_features`.
        """
        return self.tree_features(phi) if self.contraction == "tree" else self._sweep_features(phi)

    def forward_features(self, phi_label: torch.Tensor, Psi: torch.Tensor | None) -> torch.Tensor:
        """Scores (B, C) from the label-site input ``phi_label`` (B, 2) and block features ``Psi``."""
        chi, B = self.bond_dim, phi_label.shape[0]
        T = self.label_core * self.label_scale
        if self.n_sites == 1:
            lvec = self.boundary.expand(B, chi)
            rvec = lvec
        elif self.contraction == "tree":
            lvec, rvec = self._envs_tree(Psi)
        else:
            lvec, rvec = self._envs_sweep(Psi)
        # f^l = sum_{a,s,c} l_a phi_s T[a,s,l,c] r_c
        lt = (lvec[:, :, None] * phi_label[:, None, :]).reshape(B, chi * 2)
        tmp = (lt @ T.reshape(chi * 2, -1)).view(B, self.n_classes, chi)
        return (tmp * rvec[:, None, :]).sum(-1)

    def pass_through_penalty(self, group: bool = False) -> torch.Tensor:
        """Distance of the bulk tensors from pass-through sites (unscaled tensors).

        d_i^2 = sum_s ||A_i[:, s, :] - (tr A_i[:, s, :] / chi) I||_F^2 is zero exactly when
        site i is a pass-through site M_i(x) = c_i(x) I, which multiplies all bond
        channels by the same input-dependent factor and therefore cannot change the
        prediction argmax_l |f^l|. Returns sum_i d_i^2, or with ``group=True`` the
        group-lasso sum_i d_i, which favours *few* non-pass-through sites.
        """
        diag = torch.diagonal(self.cores, dim1=1, dim2=3)  # (N-1, 2, chi)
        sq = (self.cores**2).sum(dim=(1, 2, 3)) - (diag**2).sum(dim=(1, 2))
        sq = sq + ((diag - diag.mean(dim=-1, keepdim=True)) ** 2).sum(dim=(1, 2))
        if group:
            return torch.sqrt(sq.clamp_min(0) + 1e-12).sum()
        return sq.sum()

    @torch.no_grad()
    def prox_pass_through(self, tau: float) -> None:
        """Proximal step of ``tau * pass_through_penalty(group=True)`` on the bulk tensors.

        Splits every bulk tensor into its pass-through part P_i (A_i[:, s, :] ->
        (tr A_i[:, s, :] / chi) I) and the rest D_i = A_i - P_i, and shrinks D_i by
        group soft-thresholding, D_i <- max(0, 1 - tau / ||D_i||) D_i. Sites whose
        deviation stays below ``tau`` become exactly pass-through (they cannot change
        the prediction), which is what makes the group penalty select few sites; a
        subgradient of the non-smooth penalty inside Adam would only make them jitter.
        """
        if tau <= 0:
            return
        chi = self.cores.shape[1]
        eye = torch.eye(chi, dtype=self.cores.dtype)
        diag = torch.diagonal(self.cores, dim1=1, dim2=3)  # (N-1, 2, chi)
        P = diag.mean(dim=-1)[:, None, :, None] * eye[None, :, None, :]  # (N-1, chi, 2, chi)
        D = self.cores - P
        norm = torch.sqrt((D**2).sum(dim=(1, 2, 3)))
        shrink = (1.0 - tau / norm.clamp_min(torch.finfo(D.dtype).tiny)).clamp_min(0.0)
        self.cores.copy_(P + shrink[:, None, None, None] * D)

    # ------------------------------------------------------------------ export
    @torch.no_grad()
    def site_tensors(self) -> list[np.ndarray]:
        """Site tensors in the :class:`~mpsomics.mps.state.MPSState` shape contract (float64).

        Each fixed scale s_i is folded into its own site tensor (entries stay O(1)); the
        boundary vectors e_0 select the first row of site 0 and the first column of site
        N - 1, giving bond dimension 1 at both ends.
        """
        cores = self.cores.detach().to(torch.float64).cpu().numpy()
        scale = np.exp(self.log_scale.cpu().numpy())
        label = self.label_core.detach().to(torch.float64).cpu().numpy() * math.exp(
            float(self.label_log_scale)
        )
        out: list[np.ndarray] = []
        j = 0
        for i in range(self.n_sites):
            if i == self.label_site:
                t = label
            else:
                t = cores[j] * scale[j]
                j += 1
            if i == 0:
                t = t[:1]
            if i == self.n_sites - 1:
                t = t[..., :1]
            out.append(np.ascontiguousarray(t, dtype=np.float64))
        return out

    def to_state(self, genes: list[str], classes: list[str]):
        """Export as :class:`~mpsomics.mps.state.MPSState` (exact: same f as :meth:`forward`)."""
        from mpsomics.mps.state import MPSState

        return MPSState(
            sites=self.site_tensors(),
            label_site=self.label_site,
            genes=list(genes),
            classes=list(classes),
        )

    @torch.no_grad()
    def scores(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """f (n, C) for raw inputs ``X`` (n, N) in [0, 1], as float64 numpy."""
        out = [self(embed(X[i : i + batch_size], self.dtype)) for i in range(0, len(X), batch_size)]
        if not out:
            return np.zeros((0, self.n_classes))
        return torch.cat(out).to(torch.float64).numpy()

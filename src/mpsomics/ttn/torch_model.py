"""A TTN classifier as a :class:`torch.nn.Module` (used by :mod:`mpsomics.ttn.train`).

Contraction
-----------
Bottom-up by levels (:func:`mpsomics.ttn.tree.levels`): all internal nodes of one height
depend only on lower ones, so one level is one batched matmul over (nodes, samples).
To stack nodes of different leg sizes, every non-root tensor is stored zero-padded to
(D, D, D), D the largest leg, with a fixed 0/1 mask keeping the padding exactly zero
(masked entries get zero gradient, so Adam never moves them); leaf vectors phi(x) are
padded to D with zeros. The root, contracted alone, keeps its exact shape
(d_{c1}, d_{c2}, C).

Every node's output vector is normalised per sample and the log-norm accumulated, so
nothing under- or overflows however deep the tree (an average-linkage dendrogram of
40-50 genes can be close to a chain)::

    f(x) = out(x) * exp(log_scale(x)),   out = root applied to unit child vectors.

The ``cross_entropy`` loss is invariant to the common factor and uses ``out`` directly;
``mse`` needs f itself.

Initialisation (why f is O(1) for any tree)
-------------------------------------------
Like the MPS identity channel (:mod:`mpsomics.mps.torch_model`), every node starts
close to a *neutral* map that multiplies f by an input-dependent factor of mean log 0:
T[a, b, c] = s_i (u_{c1}[a] u_{c2}[b] e_0[c] + noise), with u = (1, 1) / sqrt(2) for a
leaf child (<u|phi(x)> = cos(pi x / 2 - pi / 4) in [1/sqrt 2, 1]) and u = e_0 for an
internal child, noise ~ N(0, init_std^2 / d_parent) (the noise's norm does not grow
with the bond dimension). The fixed scale s_i = prod over leaf children of the per-gene
scales of :func:`mpsomics.mps.torch_model.site_log_scales` (fitted to the training data)
cancels the mean log of those factors. The root is T[a, b, l] = s_root (u_{c1}[a]
u_{c2}[b] + label_init_std * noise) / C, so f^l ~ 1/C at the start and classes differ.
The scales are buffers (not trained) and are folded into the exported tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mpsomics.mps.torch_model import embed, site_log_scales
from mpsomics.ttn.state import TTNState, bond_dims
from mpsomics.ttn.tree import check_parent, children, levels

__all__ = ["TTNClassifier"]


class TTNClassifier(nn.Module):
    """Binary-tree tensor network with the label leg on the root.

    Parameters
    ----------
    parent
        Parent array (:mod:`mpsomics.ttn.tree`), N >= 2 leaves.
    n_classes
        Number of classes C.
    bond_dim
        Maximum bond dimension chi (legs are also capped by the subtree dimension,
        :func:`mpsomics.ttn.state.bond_dims`).
    dtype
        Parameter dtype.
    init_std, label_init_std
        Relative noise of the non-root and root tensors at initialisation.
    X_init
        Training inputs (n, N) in [0, 1] used to fit the fixed per-gene scales; ``None``
        assumes x ~ U[0, 1].
    generator
        Source of the initial noise (determinism).
    """

    def __init__(
        self,
        parent: np.ndarray,
        n_classes: int,
        bond_dim: int,
        *,
        dtype: torch.dtype = torch.float64,
        init_std: float = 0.1,
        label_init_std: float = 0.5,
        X_init: np.ndarray | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        p = check_parent(parent)
        n = (len(p) + 1) // 2
        self.n_leaves, self.n_classes = n, int(n_classes)
        self.parent = p
        ch = children(p)
        dims = bond_dims(p, bond_dim)
        D = int(max(2, dims.max()))
        self.pad_dim = D
        self._dims = dims

        leaf_log = site_log_scales(X_init, n)
        node_log = np.zeros(n - 1)
        for k, (c1, c2) in enumerate(ch):
            node_log[k] = sum(leaf_log[c] for c in (c1, c2) if c < n)
        self.register_buffer("node_log_scale", torch.tensor(node_log, dtype=torch.float64))

        def u(c: int, size: int) -> torch.Tensor:
            v = torch.zeros(size, dtype=torch.float64)
            if c < n:
                v[:2] = 1.0 / math.sqrt(2.0)
            else:
                v[0] = 1.0
            return v

        n_mid = n - 2  # internal non-root nodes N .. 2N-3
        cores = torch.zeros(n_mid, D, D, D, dtype=torch.float64)
        mask = torch.zeros(n_mid, D, D, D, dtype=torch.float64)
        for k in range(n_mid):
            c1, c2 = int(ch[k, 0]), int(ch[k, 1])
            d1, d2, dp = int(dims[c1]), int(dims[c2]), int(dims[n + k])
            base = torch.einsum("a,b,c->abc", u(c1, d1), u(c2, d2), u(n, dp))  # u(n) = e_0
            noise = torch.randn(d1, d2, dp, generator=generator, dtype=torch.float64)
            cores[k, :d1, :d2, :dp] = base + init_std / math.sqrt(dp) * noise
            mask[k, :d1, :d2, :dp] = 1.0
        c1, c2 = int(ch[-1, 0]), int(ch[-1, 1])
        d1, d2 = int(dims[c1]), int(dims[c2])
        noise = torch.randn(d1, d2, self.n_classes, generator=generator, dtype=torch.float64)
        root = (torch.outer(u(c1, d1), u(c2, d2))[:, :, None] + label_init_std * noise) / max(
            1, self.n_classes
        )
        self.cores = nn.Parameter(cores.to(dtype))
        self.root_core = nn.Parameter(root.to(dtype))
        self.register_buffer("mask", mask.to(dtype), persistent=False)

        # level schedule: leaves at positions 0..N-1 of the running vector stack, each
        # level's outputs appended in order, so children are gathered by position
        position = np.full(len(p), -1, dtype=np.int64)
        position[:n] = np.arange(n)
        nxt = n
        self._levels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for nodes in levels(p)[:-1]:
            k = nodes - n
            self._levels.append(
                (
                    torch.as_tensor(k),
                    torch.as_tensor(position[ch[k, 0]]),
                    torch.as_tensor(position[ch[k, 1]]),
                )
            )
            position[nodes] = np.arange(nxt, nxt + len(nodes))
            nxt += len(nodes)
        self._root_pos = (int(position[c1]), int(position[c2]))
        self._root_dims = (d1, d2)

    @property
    def dtype(self) -> torch.dtype:
        return self.cores.dtype

    def forward_log(self, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled scores and log scale for feature-mapped inputs ``phi`` (B, N, 2).

        Returns
        -------
        out
            (B, C) root output from unit-norm child vectors.
        log_scale
            (B,) with f = out * exp(log_scale).
        """
        if phi.ndim != 3 or phi.shape[1] != self.n_leaves or phi.shape[2] != 2:
            raise ValueError(
                f"phi must have shape (batch, {self.n_leaves}, 2), got {tuple(phi.shape)}"
            )
        B, D = phi.shape[0], self.pad_dim
        vecs = torch.nn.functional.pad(phi.to(self.dtype), (0, D - 2))  # (B, N, D)
        log_scale = torch.zeros(B, dtype=self.dtype)
        scale = torch.exp(self.node_log_scale).to(self.dtype)
        tiny = torch.finfo(self.dtype).tiny
        cores = self.cores * self.mask * scale[: self.n_leaves - 2, None, None, None]
        for k, pos1, pos2 in self._levels:
            v1 = vecs[:, pos1].transpose(0, 1)  # (n_l, B, D)
            v2 = vecs[:, pos2].transpose(0, 1)
            outer = (v1[..., :, None] * v2[..., None, :]).reshape(len(k), B, D * D)
            new = torch.bmm(outer, cores[k].reshape(len(k), D * D, D))  # (n_l, B, D)
            norms = new.norm(dim=-1).clamp_min(tiny)
            log_scale = log_scale + torch.log(norms).sum(0)
            vecs = torch.cat([vecs, (new / norms[..., None]).transpose(0, 1)], dim=1)
        d1, d2 = self._root_dims
        u = vecs[:, self._root_pos[0], :d1]
        v = vecs[:, self._root_pos[1], :d2]
        root = self.root_core * scale[-1]
        out = torch.einsum("ba,bd,adl->bl", u, v, root)
        return out, log_scale

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        """Scores f (B, C) for feature-mapped inputs ``phi`` (B, N, 2)."""
        out, log_scale = self.forward_log(phi)
        return out * torch.exp(log_scale)[:, None]

    @torch.no_grad()
    def node_tensors(self) -> list[np.ndarray]:
        """Internal node tensors in the :class:`TTNState` shape contract (float64, scales folded in)."""
        n, dims = self.n_leaves, self._dims
        ch = children(self.parent)
        scale = np.exp(self.node_log_scale.cpu().numpy())
        cores = self.cores.detach().to(torch.float64).cpu().numpy()
        out = []
        for k in range(n - 2):
            d1, d2, dp = dims[ch[k, 0]], dims[ch[k, 1]], dims[n + k]
            out.append(np.ascontiguousarray(cores[k, :d1, :d2, :dp] * scale[k]))
        root = self.root_core.detach().to(torch.float64).cpu().numpy() * scale[-1]
        out.append(np.ascontiguousarray(root))
        return out

    def to_state(self, genes: list[str], classes: list[str]) -> TTNState:
        """Export as :class:`TTNState` (same f as :meth:`forward`, to rounding)."""
        return TTNState(
            parent=self.parent.copy(),
            tensors=self.node_tensors(),
            genes=list(genes),
            classes=list(classes),
        ).validate()

    @torch.no_grad()
    def scores(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """f (n, C) for raw inputs ``X`` (n, N) in [0, 1], as float64 numpy."""
        out = [self(embed(X[i : i + batch_size], self.dtype)) for i in range(0, len(X), batch_size)]
        if not out:
            return np.zeros((0, self.n_classes))
        return torch.cat(out).to(torch.float64).numpy()

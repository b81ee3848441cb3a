"""Tests of the ``gradient`` training method (mpsomics.mps.torch_model / mpsomics.mps.gradient)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.gradient import (
    accuracy,
    class_weights,
    predict_scores,
    sample_losses,
    train_gradient,
)
from mpsomics.mps.state import MPSState, load_model, save_model
from mpsomics.mps.torch_model import MPSClassifier, _TreeProduct, _VectorChain, chain_product, embed


# --------------------------------------------------------------------------- references
def numpy_scores(state: MPSState, X: np.ndarray) -> np.ndarray:
    """Direct left-to-right contraction, no tricks."""
    phi = np.stack([np.cos(np.pi * X / 2), np.sin(np.pi * X / 2)], axis=-1)
    v = np.ones((X.shape[0], 1))
    for i, t in enumerate(state.sites):
        if i == state.label_site:
            v = np.einsum("na,ns,asec->nec", v, phi[:, i], t)
        elif v.ndim == 2:
            v = np.einsum("na,ns,asc->nc", v, phi[:, i], t)
        else:
            v = np.einsum("nea,ns,asc->nec", v, phi[:, i], t)
    return v[..., 0]


def dense_scores(state: MPSState, X: np.ndarray) -> np.ndarray:
    """Build the full 2^N x C weight tensor W^l, then f^l(x) = <Phi(x)|W^l>."""
    N, C = state.n_sites, state.n_classes
    W = np.ones((1, 1, 1))  # (phys so far, labels, right bond)
    for i, t in enumerate(state.sites):
        if i == state.label_site:  # before it, the label axis of W has size 1
            W = np.einsum("pa,asfc->psfc", W[:, 0, :], t).reshape(-1, C, t.shape[-1])
        else:
            W = np.einsum("pea,asc->psec", W, t).reshape(-1, W.shape[1], t.shape[-1])
    W = W[..., 0]  # (2^N, C), physical index of site 0 most significant
    phi = np.stack([np.cos(np.pi * X / 2), np.sin(np.pi * X / 2)], axis=-1)
    Phi = np.ones((X.shape[0], 1))
    for i in range(N):
        Phi = np.einsum("np,ns->nps", Phi, phi[:, i]).reshape(X.shape[0], -1)
    return Phi @ W


def planted(n: int, n_sites: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_sites))
    return X, (X[:, k] > 0.5).astype(np.int64)


def cfg(**kw) -> TrainConfig:
    base = dict(method="gradient", bond_dim=3, epochs=2, lr=1e-2, batch_size=16, seed=0, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def names(n: int) -> list[str]:
    return [f"g{i}" for i in range(n)]


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize(
    "n_sites,label_site",
    [(1, 0), (2, 0), (2, 1), (3, 1), (6, 0), (7, 3), (8, 7), (10, 5), (33, 16)],
)
def test_export_matches_torch_forward_and_numpy(n_sites, label_site):
    rng = np.random.default_rng(n_sites)
    X = rng.random((7, n_sites))
    model = MPSClassifier(
        n_sites,
        2,
        3,
        label_site=label_site,
        dtype=torch.float64,
        init_std=0.7,
        X_init=X,
        generator=torch.Generator().manual_seed(3),
    )
    with torch.no_grad():  # make the tensors far from the initialisation
        model.cores.add_(
            0.3
            * torch.randn(
                model.cores.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64
            )
        )
    state = model.to_state(names(n_sites), ["a", "b"]).validate()
    f_torch = model.scores(X)
    f_np = numpy_scores(state, X)
    np.testing.assert_allclose(f_torch, f_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(predict_scores(state, X), f_np, rtol=1e-10, atol=1e-12)
    if n_sites <= 10:
        np.testing.assert_allclose(dense_scores(state, X), f_np, rtol=1e-10, atol=1e-12)


def test_export_shapes_and_roundtrip(tmp_path):
    model = MPSClassifier(9, 2, 4, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    state = model.to_state(names(9), ["normal", "tumor"])
    assert state.label_site == 4
    assert state.sites[0].shape == (1, 2, 4) and state.sites[-1].shape == (4, 2, 1)
    assert state.sites[4].shape == (4, 2, 2, 4)
    assert all(t.dtype == np.float64 for t in state.sites)
    save_model(state, tmp_path / "model.npz")
    back = load_model(tmp_path / "model.npz")
    X = np.random.default_rng(0).random((5, 9))
    np.testing.assert_allclose(numpy_scores(back, X), model.scores(X), rtol=1e-5)


@pytest.mark.parametrize("contraction", ["sweep", "tree"])
@pytest.mark.parametrize("block", [1, 2, 3, 5])
def test_contractions_agree(contraction, block):
    rng = np.random.default_rng(block)
    for n_sites, label_site in [(2, 1), (9, 0), (12, 11), (37, 10)]:
        X = rng.random((5, n_sites))
        kw = dict(label_site=label_site, dtype=torch.float64, init_std=0.7, X_init=X)
        ref = MPSClassifier(
            n_sites,
            2,
            3,
            contraction="tree",
            block=1,
            generator=torch.Generator().manual_seed(1),
            **kw,
        )
        other = MPSClassifier(
            n_sites,
            2,
            3,
            contraction=contraction,
            block=block,
            generator=torch.Generator().manual_seed(1),
            **kw,
        )
        np.testing.assert_allclose(other.scores(X), ref.scores(X), rtol=1e-10, atol=1e-12)


def test_hand_written_backwards():
    for n in [1, 2, 4, 8]:
        m = torch.randn(n, 2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(_VectorChain.apply, (m,))
        if n > 1:
            assert torch.autograd.gradcheck(_TreeProduct.apply, (m,))


def test_chain_product_matches_sequential():
    g = torch.Generator().manual_seed(0)
    for n in [1, 2, 3, 5, 8, 13]:
        mats = torch.randn(2, n, 3, 3, generator=g, dtype=torch.float64)
        ref = mats[:, 0]
        for i in range(1, n):
            ref = ref @ mats[:, i]
        torch.testing.assert_close(chain_product(mats), ref)


# --------------------------------------------------------------------------- N = 500
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_500_sites_finite_and_order_one_at_init(dtype):
    X, _ = planted(64, 500, 0, seed=1)
    model = MPSClassifier(
        500, 2, 6, dtype=dtype, X_init=X, generator=torch.Generator().manual_seed(0)
    )
    f = model.scores(X)
    assert np.all(np.isfinite(f))
    med = np.median(np.abs(f))
    assert 0.05 < med < 5.0, med  # O(1): neither vanishing nor exploding
    # exported tensors have O(1) entries (scales folded site by site)
    state = model.to_state(names(500), ["a", "b"]).validate()
    assert max(float(np.abs(t).max()) for t in state.sites) < 2.0
    np.testing.assert_allclose(
        predict_scores(state, X), f, rtol=2e-4 if dtype == "float32" else 1e-9
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_500_sites_finite_after_training_and_learns(dtype):
    n_sites, label_site = 500, 250
    X, y = planted(200, n_sites, label_site - 3, seed=2)
    # the paper's loss: a few steps stay finite
    st = train_gradient(
        X,
        y,
        genes=names(n_sites),
        classes=["a", "b"],
        config=cfg(epochs=2, loss="mse", bond_dim=4, dtype=dtype),
    )
    assert np.all(np.isfinite(predict_scores(st, X)))
    # cross-entropy (Born probabilities) learns the planted site within a few epochs
    hist = []
    st = train_gradient(
        X,
        y,
        genes=names(n_sites),
        classes=["a", "b"],
        config=cfg(epochs=10, loss="cross_entropy", bond_dim=4, dtype=dtype),
        on_epoch=lambda e, s, lo: hist.append(lo),
    )
    assert np.all(np.isfinite(hist[1:]))
    f = predict_scores(st, X)
    assert np.all(np.isfinite(f))
    assert accuracy(st, X, y) > 0.8, accuracy(st, X, y)


# --------------------------------------------------------------------------- training
def test_on_epoch_called_epochs_plus_one_times():
    X, y = planted(40, 6, 2, seed=0)
    calls = []
    state = train_gradient(
        X,
        y,
        genes=names(6),
        classes=["a", "b"],
        config=cfg(epochs=3),
        on_epoch=lambda e, s, lo: calls.append((e, s, lo)),
    )
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert math.isnan(calls[0][2]) and all(np.isfinite(c[2]) for c in calls[1:])
    for _, s, _ in calls:
        assert isinstance(s, MPSState)
        s.validate()
        assert s.genes == names(6) and s.classes == ["a", "b"]
    # the returned state is the last one reported
    for a, b in zip(calls[-1][1].sites, state.sites, strict=True):
        np.testing.assert_array_equal(a, b)


def test_deterministic_for_a_seed_and_different_across_seeds():
    X, y = planted(48, 12, 3, seed=0)

    def run(seed):
        return train_gradient(
            X, y, genes=names(12), classes=["a", "b"], config=cfg(seed=seed, epochs=2)
        ).sites

    a, b, c = run(1), run(1), run(2)
    for ta, tb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ta, tb)
    assert any(not np.array_equal(ta, tc) for ta, tc in zip(a, c, strict=True))


def test_class_weights():
    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(class_weights(y, 2, "balanced"), [4 / 6, 4 / 6, 4 / 6, 2.0])
    np.testing.assert_allclose(class_weights(y, 2, "none"), 1.0)
    # imbalanced data: the weighted training loss differs
    X, _ = planted(60, 8, 1, seed=0)
    yy = (np.arange(60) < 12).astype(np.int64)
    losses = {}
    for mode in ["balanced", "none"]:
        hist: list[float] = []
        train_gradient(
            X,
            yy,
            genes=names(8),
            classes=["a", "b"],
            config=cfg(epochs=1, lr=0.0, class_weights=mode),
            on_epoch=lambda e, s, lo, h=hist: h.append(lo),
        )
        losses[mode] = hist[1]
    assert abs(losses["balanced"] - losses["none"]) > 1e-3 * losses["none"]


def test_losses():
    f = torch.tensor([[0.5, -2.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    np.testing.assert_allclose(sample_losses(f, y, "mse").numpy(), [0.5 * (0.25 + 9.0), 0.0])
    ce = sample_losses(f, y, "cross_entropy").numpy()  # Born probabilities f^2 / sum f^2
    np.testing.assert_allclose(ce[0], -np.log(4.0 / 4.25))
    assert ce[1] < 1e-12
    # invariant to a common per-sample factor
    np.testing.assert_allclose(sample_losses(7.0 * f, y, "cross_entropy").numpy(), ce, atol=1e-12)
    with pytest.raises(ValueError):
        sample_losses(f, y, "hinge")


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_learns_small_planted_task(loss):
    X, y = planted(160, 10, 3, seed=0)
    state = train_gradient(
        X,
        y,
        genes=names(10),
        classes=["a", "b"],
        config=cfg(epochs=8, loss=loss, bond_dim=3, lr=2e-2),
    )
    assert accuracy(state, X, y) > 0.85


def test_input_errors():
    X, y = planted(10, 4, 0, seed=0)
    with pytest.raises(InputError):
        train_gradient(X * 3, y, genes=names(4), classes=["a", "b"], config=cfg())
    with pytest.raises(InputError):
        train_gradient(X, y, genes=names(3), classes=["a", "b"], config=cfg())
    with pytest.raises(InputError):
        train_gradient(X, y + 5, genes=names(4), classes=["a", "b"], config=cfg())


def test_embed_matches_feature_map():
    from mpsomics.mps.feature_map import feature_map

    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(embed(x).numpy(), feature_map(x))


# --------------------------------------------------------------------------- regularisers
def test_prox_pass_through_is_group_soft_threshold():
    model = MPSClassifier(6, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eye = torch.eye(3, dtype=torch.float64)
        c = torch.tensor([0.7, -1.3], dtype=torch.float64)
        P = c[None, None, :, None] * eye[None, :, None, :]  # (1, chi, 2, chi)
        cores = P.repeat(model.cores.shape[0], 1, 1, 1)
        D = torch.randn(
            cores.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64
        )
        D -= torch.diagonal(D, dim1=1, dim2=3).mean(-1)[:, None, :, None] * eye[None, :, None, :]
        D[0] *= 0.0  # exactly pass-through: unchanged
        D[1] *= 1e-3 / D[1].norm()  # below the threshold: becomes pass-through
        D[2] *= 2.0 / D[2].norm()  # above: norm shrinks by tau
        model.cores.copy_(cores + D)
    before = model.pass_through_penalty().item()
    model.prox_pass_through(0.5)
    after = model.cores.detach() - cores
    assert after[0].norm() < 1e-12 and after[1].norm() < 1e-12
    assert abs(after[2].norm().item() - 1.5) < 1e-10
    torch.testing.assert_close(after[2] / after[2].norm(), D[2] / D[2].norm())
    assert model.pass_through_penalty().item() < before


def test_born_smoothing_bounds_loss_and_gradient():
    y = torch.tensor([0, 1, 1])
    f = torch.tensor([[0.3, 0.4], [1.0, 0.0], [0.2, -0.5]], dtype=torch.float64, requires_grad=True)
    plain = sample_losses(f, y, "cross_entropy")
    torch.testing.assert_close(sample_losses(f, y, "cross_entropy", 0.0), plain)
    smooth = sample_losses(f, y, "cross_entropy", 0.1)
    assert torch.all(torch.isfinite(smooth)) and smooth[1].item() <= math.log(2 / 0.1) + 1e-12
    smooth.sum().backward()
    assert torch.all(torch.isfinite(f.grad))
    # eta mixes with the uniform distribution: p_y = 0.9 * p_Born + 0.1 / 2
    assert abs(smooth[0].item() + math.log(0.9 * 0.3**2 / (0.3**2 + 0.4**2) + 0.05)) < 1e-12
    assert abs(smooth[2].item() + math.log(0.9 * 0.5**2 / (0.2**2 + 0.5**2) + 0.05)) < 1e-12


def test_config_regularisers_are_used_and_deterministic():
    X, y = planted(64, 8, 3, seed=0)
    base = cfg(epochs=2, loss="cross_entropy")
    assert (base.site_sparsity, base.identity_l2, base.born_smoothing, base.ema_decay) == (
        0,
        0,
        0,
        0,
    )
    plain = train_gradient(X, y, genes=names(8), classes=["a", "b"], config=base)
    reg = dict(site_sparsity=0.1, identity_l2=1e-3, born_smoothing=0.05, ema_decay=0.9)
    a = train_gradient(
        X, y, genes=names(8), classes=["a", "b"], config=cfg(epochs=2, loss="cross_entropy", **reg)
    )
    b = train_gradient(
        X, y, genes=names(8), classes=["a", "b"], config=cfg(epochs=2, loss="cross_entropy", **reg)
    )
    for s, t in zip(a.sites, b.sites, strict=False):
        np.testing.assert_array_equal(s, t)
    assert not all(np.allclose(s, t) for s, t in zip(a.sites, plain.sites, strict=False))
    # keywords equal to the config fields give the same run
    c = train_gradient(
        X,
        y,
        genes=names(8),
        classes=["a", "b"],
        config=cfg(epochs=2, loss="cross_entropy"),
        identity_prox=0.1,
        identity_l2=1e-3,
        born_smoothing=0.05,
        ema_decay=0.9,
    )
    for s, t in zip(a.sites, c.sites, strict=False):
        np.testing.assert_array_equal(s, t)


def test_ema_model_is_the_average_and_is_reported():
    X, y = planted(48, 6, 2, seed=1)
    seen = []
    state, model = train_gradient(
        X,
        y,
        genes=names(6),
        classes=["a", "b"],
        config=cfg(epochs=3, ema_decay=0.5),
        on_epoch=lambda e, s, loss: seen.append(s),
        return_model=True,
    )
    # the returned (averaged) model is the one reported for the last epoch and the torch model
    for s, t in zip(seen[-1].sites, state.sites, strict=False):
        np.testing.assert_array_equal(s, t)
    np.testing.assert_allclose(
        predict_scores(model, X), predict_scores(state, X), rtol=1e-8, atol=1e-12
    )
    with pytest.raises(ValueError):
        train_gradient(X, y, genes=names(6), classes=["a", "b"], config=cfg(ema_decay=1.0))


def test_cosine_schedule_changes_run_and_validates():
    X, y = planted(64, 6, 2, seed=4)
    kw = dict(genes=names(6), classes=["a", "b"])
    const = train_gradient(X, y, config=cfg(epochs=2), **kw)
    cos = train_gradient(X, y, config=cfg(epochs=2, lr_schedule="cosine"), **kw)
    assert TrainConfig().lr_schedule == "constant"
    assert not all(np.allclose(s, t) for s, t in zip(const.sites, cos.sites, strict=False))
    with pytest.raises(ValueError):
        train_gradient(X, y, config=cfg(lr_schedule="step"), **kw)

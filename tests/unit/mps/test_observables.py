"""Exact MPS observables against dense state vectors, analytic states, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.dense import (
    dense_class_state,
    dense_correlation,
    dense_entropy,
    dense_label_density,
    dense_magnetization,
    dense_renyi2,
    dense_schmidt,
    ghz_state,
    product_state,
    random_state,
)

from mpsomics.cli import main
from mpsomics.mps import observables as ob
from mpsomics.mps.state import MPSState, save_model

TOL = 1e-10


def _contract(tensors: list[np.ndarray]) -> np.ndarray:
    psi = np.ones(1)
    for t in tensors:
        psi = np.tensordot(psi, t, axes=(psi.ndim - 1, 0))
    return psi.reshape(-1)


def _pad(a: np.ndarray, k: int) -> np.ndarray:
    return np.pad(np.asarray(a, dtype=float), (0, k - len(a)))


CASES = [
    # n_sites, bond_dim, label_site, dtype, per-site scales
    (8, 1, 0, np.float64, None),  # product states
    (8, 2, 7, np.float64, None),
    (9, 3, 4, np.float64, [10.0 ** (((-1) ** i) * 25 * (i % 4)) for i in range(9)]),
    (10, 5, 0, np.float32, 1e-3),
    (7, 32, 3, np.float64, None),  # chi far above what the bonds can carry
    (6, 4, 5, np.complex128, [1e12, 1e-9, 3.0, 1e20, 1e-15, 0.5]),
    (1, 1, 0, np.float64, None),
    (2, 3, 1, np.float64, None),
]


@pytest.mark.parametrize("n,chi,label_site,dtype,scales", CASES)
def test_against_dense(n, chi, label_site, dtype, scales):
    state = random_state(n, chi, n_classes=3, label_site=label_site, seed=n * 7 + chi, dtype=dtype, scales=scales)
    allobs = ob.observe_all(state)
    rho = ob.label_density(state)
    np.testing.assert_allclose(rho, dense_label_density(state), atol=TOL)
    for label in range(state.n_classes):
        psi = dense_class_state(state, label)
        # class_state: the same normalised state up to a global phase.
        vec = _contract(ob.class_state(state, label))
        assert abs(np.vdot(vec, psi)) == pytest.approx(1.0, abs=TOL)
        assert np.linalg.norm(vec) == pytest.approx(1.0, abs=TOL)

        sv = ob.schmidt_values(state, label)
        assert len(sv) == n - 1
        for b in range(n - 1):
            ref = dense_schmidt(psi, n, b)
            k = max(len(ref), len(sv[b]))
            np.testing.assert_allclose(_pad(sv[b], k), _pad(ref, k), atol=TOL)
            assert np.all(np.diff(sv[b]) <= 1e-15)
        ent = np.array([dense_entropy(psi, n, b) for b in range(n - 1)])
        ren = np.array([dense_renyi2(psi, n, b) for b in range(n - 1)])
        np.testing.assert_allclose(ob.entropy(state, label), ent, atol=TOL)
        np.testing.assert_allclose(ob.renyi2(state, label), ren, atol=TOL)
        np.testing.assert_allclose(allobs["entropy"][label], ent, atol=TOL)
        np.testing.assert_allclose(allobs["renyi2"][label], ren, atol=TOL)

        m = dense_magnetization(psi, n)
        np.testing.assert_allclose(ob.magnetization(state, label), m, atol=TOL)
        np.testing.assert_allclose(allobs["magnetization"][label], m, atol=TOL)
        conn = ob.correlation(state, label)
        np.testing.assert_allclose(conn, dense_correlation(psi, n), atol=TOL)
        np.testing.assert_allclose(allobs["connected"][label], conn, atol=TOL)
        full = ob.correlation(state, label, connected=False)
        np.testing.assert_allclose(full, dense_correlation(psi, n, connected=False), atol=TOL)
        assert np.array_equal(full, full.T)
        np.testing.assert_allclose(np.diag(full), 1.0, atol=TOL)

        half = ob.half_chain_summary(state, label)
        if n > 1:
            b = n // 2 - 1
            assert half["bond"] == b
            assert half["entropy"] == pytest.approx(ent[b], abs=TOL)
            assert half["renyi2"] == pytest.approx(ren[b], abs=TOL)
            assert half["purity"] == pytest.approx(np.exp(-ren[b]), abs=TOL)
            assert half["effective_rank"] == pytest.approx(np.exp(ent[b]), abs=1e-9)
        else:
            assert half["bond"] is None and half["entropy"] == 0.0 and half["purity"] == 1.0
        if chi == 1:
            assert np.all(np.abs(ent) < TOL)
            np.testing.assert_allclose(conn, np.diag(1 - m**2), atol=TOL)


def test_observe_all_shapes_and_dtypes():
    state = random_state(6, 3, n_classes=2, seed=3, dtype=np.float32)
    out = ob.observe_all(state)
    assert out["entropy"].shape == (2, 5) and out["entropy"].dtype == np.float64
    assert out["magnetization"].shape == (2, 6)
    assert out["connected"].shape == (2, 6, 6)
    assert "connected" not in ob.observe_all(state, correlations=False)
    assert all(t.dtype == np.float64 for t in ob.class_state(state, 1))


def test_product_state_analytic():
    angles = np.linspace(0.1, 1.4, 7)
    state = product_state(angles, n_classes=2, label_site=3)
    for label in range(2):
        np.testing.assert_allclose(ob.magnetization(state, label), np.cos(2 * angles), atol=TOL)
        np.testing.assert_allclose(ob.entropy(state, label), 0.0, atol=TOL)
        np.testing.assert_allclose(ob.correlation(state, label), np.diag(np.sin(2 * angles) ** 2), atol=TOL)
        assert ob.half_chain_summary(state, label)["effective_rank"] == pytest.approx(1.0)
    # Class states differ only by scale 1 : 2, so the label density is the pure |c><c|.
    np.testing.assert_allclose(ob.label_density(state), np.array([[1.0, 2.0], [2.0, 4.0]]) / 5, atol=TOL)


@pytest.mark.parametrize("label_site", [0, 5, 9])
def test_ghz_analytic(label_site):
    n = 10
    state = ghz_state(n, amplitudes=((1.0, 1.0), (1.0, -2.0)), label_site=label_site)
    # Class 0: (|0..0> + |1..1>)/sqrt2.
    np.testing.assert_allclose(ob.entropy(state, 0), np.log(2), atol=TOL)
    np.testing.assert_allclose(ob.renyi2(state, 0), np.log(2), atol=TOL)
    np.testing.assert_allclose(ob.magnetization(state, 0), 0.0, atol=TOL)
    np.testing.assert_allclose(ob.correlation(state, 0), 1.0, atol=TOL)
    assert ob.half_chain_summary(state, 0)["effective_rank"] == pytest.approx(2.0)
    # Class 1: (|0..0> - 2|1..1>)/sqrt5: p = (0.2, 0.8).
    p = np.array([0.2, 0.8])
    np.testing.assert_allclose(ob.entropy(state, 1), -np.sum(p * np.log(p)), atol=TOL)
    np.testing.assert_allclose(ob.magnetization(state, 1), -0.6, atol=TOL)
    np.testing.assert_allclose(ob.correlation(state, 1), 1 - 0.36, atol=TOL)
    np.testing.assert_allclose(ob.correlation(state, 1, connected=False), 1.0, atol=TOL)
    # <psi_0~|psi_1~> = 1 - 2 = -1, norms^2 2 and 5.
    np.testing.assert_allclose(ob.label_density(state), np.array([[2.0, -1.0], [-1.0, 5.0]]) / 7, atol=TOL)


@pytest.mark.parametrize("scale", [0.3, 4.0])
def test_long_chain_extreme_norms(scale):
    # N = 500: the raw norm is ~scale^500 (10^-260 or 10^300); a per-site scale must
    # not change any observable of the normalised state.
    tiny = random_state(500, 8, n_classes=2, seed=11, scales=scale)
    plain = random_state(500, 8, n_classes=2, seed=11)
    a = ob.observe_all(tiny)
    b = ob.observe_all(plain)
    for key in ("entropy", "renyi2", "magnetization", "connected"):
        assert np.all(np.isfinite(a[key]))
        np.testing.assert_allclose(a[key], b[key], atol=1e-9)
    assert np.all(a["entropy"] >= 0) and np.all(a["entropy"] <= np.log(8) + 1e-12)
    assert np.all(np.abs(a["magnetization"]) <= 1)
    assert np.all(np.abs(a["connected"]) <= 1)
    np.testing.assert_allclose(a["connected"], a["connected"].transpose(0, 2, 1), atol=0)
    np.testing.assert_allclose(ob.entropy(tiny, 1), a["entropy"][1], atol=1e-9)
    rho = ob.label_density(tiny)
    assert np.trace(rho) == pytest.approx(1.0)
    assert np.all(np.linalg.eigvalsh(rho) >= -1e-12)


def test_label_density_properties():
    state = random_state(7, 3, n_classes=4, label_site=2, seed=5, dtype=np.complex128)
    rho = ob.label_density(state)
    assert rho.shape == (4, 4)
    np.testing.assert_allclose(rho, rho.conj().T, atol=1e-14)
    assert np.trace(rho).real == pytest.approx(1.0)
    assert np.all(np.linalg.eigvalsh(rho) >= -1e-12)
    np.testing.assert_allclose(rho, dense_label_density(state), atol=TOL)


def test_zero_norm_class_and_bad_label():
    state = random_state(5, 2, seed=0)
    state.sites[state.label_site][:, :, 1, :] = 0.0
    assert np.all(np.isfinite(ob.magnetization(state, 0)))
    with pytest.raises(ValueError, match="zero norm"):
        ob.observe_all(state)
    with pytest.raises(IndexError):
        ob.entropy(state, 2)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def model_file(tmp_path):
    state = random_state(6, 3, n_classes=2, label_site=2, seed=2)
    state.genes = ["TP53", "MYC", "EGFR", "KRAS", "ALB", "APOA1"]
    state.classes = ["normal", "tumor"]
    path = tmp_path / "mps" / "model.npz"
    save_model(state, path)
    return state, path


def test_cli_outputs(tmp_path, model_file):
    state, path = model_file
    out = tmp_path / "obs"
    assert main(["observe", "--model", str(path), "--out-dir", str(out)]) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert names == {
        "magnetization.tsv", "correlations/normal.tsv", "correlations/tumor.tsv",
        "mutual_information/normal.tsv", "mutual_information/tumor.tsv", "entanglement.tsv", "schmidt.npz", "label_density.tsv", "summary.json", "run_info.json",
    }
    mag = pd.read_csv(out / "magnetization.tsv", sep="\t")
    assert list(mag.columns) == ["gene", "site", "label", "magnetization"]
    tumor = mag[mag["label"] == "tumor"].sort_values("site")
    assert list(tumor["gene"]) == state.genes
    np.testing.assert_allclose(tumor["magnetization"], dense_magnetization(dense_class_state(state, 1), 6), atol=TOL)
    corr = pd.read_csv(out / "correlations" / "normal.tsv", sep="\t")
    assert list(corr.columns) == ["gene", *state.genes] and list(corr["gene"]) == state.genes
    np.testing.assert_allclose(corr.iloc[:, 1:].to_numpy(), dense_correlation(dense_class_state(state, 0), 6), atol=TOL)
    mi = pd.read_csv(out / "mutual_information" / "tumor.tsv", sep="\t")
    assert list(mi.columns) == ["gene", *state.genes] and list(mi["gene"]) == state.genes
    np.testing.assert_allclose(mi.iloc[:, 1:].to_numpy(), ob.mutual_information(state, 1), atol=1e-15)
    ent = pd.read_csv(out / "entanglement.tsv", sep="\t")
    assert list(ent.columns) == ["label", "bond", "entropy", "renyi2", "schmidt_gap"] and len(ent) == 2 * 5
    # the diagonal is 2 S_i: the end genes' entropies are those of the end bonds
    np.testing.assert_allclose(
        np.diag(mi.iloc[:, 1:].to_numpy())[[0, 5]] / 2, ent[ent["label"] == "tumor"]["entropy"].iloc[[0, 4]], atol=TOL
    )
    row = ent[(ent["label"] == "tumor") & (ent["bond"] == 3)]
    assert float(row["entropy"].iloc[0]) == pytest.approx(dense_entropy(dense_class_state(state, 1), 6, 3), abs=TOL)
    with np.load(out / "schmidt.npz") as z:
        assert set(z.files) == {f"{c}_bond{b}" for c in state.classes for b in range(5)}
        np.testing.assert_allclose(np.sum(z["normal_bond2"] ** 2), 1.0)
    rho = pd.read_csv(out / "label_density.tsv", sep="\t", index_col=0)
    assert list(rho.columns) == state.classes and list(rho.index) == state.classes
    np.testing.assert_allclose(rho.to_numpy(), dense_label_density(state), atol=TOL)
    summary = json.loads((out / "summary.json").read_text())
    lab = summary["labels"]["tumor"]
    assert summary["half_chain_bond"] == 2
    assert lab["half_chain_entropy"] == pytest.approx(float(ent[(ent["label"] == "tumor") & (ent["bond"] == 2)]["entropy"].iloc[0]))
    assert lab["half_chain_effective_rank"] == pytest.approx(np.exp(lab["half_chain_entropy"]))
    assert lab["max_entropy"] == pytest.approx(ent[ent["label"] == "tumor"]["entropy"].max())
    assert lab["mean_abs_magnetization"] == pytest.approx(tumor["magnetization"].abs().mean())
    assert {"half_chain_renyi2", "half_chain_purity"} <= set(lab)
    # Re-running replaces the directory as a whole.
    assert main(["observe", "--model", str(path), "--out-dir", str(out)]) == 0


def _bad_models(tmp_path, good):
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    text = tmp_path / "text.npz"
    text.write_text("gene\tvalue\nTP53\t1\n")
    missing = tmp_path / "missing.npz"
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "site_3"}
    with open(missing, "wb") as fh:
        np.savez(fh, **arrays)
    return [truncated, text, missing, tmp_path / "absent.npz"]


def test_cli_bad_model_files(tmp_path, model_file, capsys):
    _, good = model_file
    for bad in _bad_models(tmp_path, good):
        out = tmp_path / f"out_{bad.stem}"
        assert main(["observe", "--model", str(bad), "--out-dir", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("mpsomics observe: error:") and str(bad) in err
        assert len(err.splitlines()) == 1
        assert not out.exists()
    assert main(["observe", "--model", str(tmp_path / "text.npz"), "--out-dir", str(tmp_path / "o")]) == 2
    assert "not an .npz" in capsys.readouterr().err


def _prepared(var_names):
    """A minimal AnnData of the prepared contract (core.readers.read_prepared)."""
    import anndata

    obs = pd.DataFrame({"label": ["normal", "tumor"], "group": ["p0", "p1"], "split": ["train", "train"]},
                       index=["s0", "s1"])
    a = anndata.AnnData(X=np.zeros((2, len(var_names))), obs=obs, var=pd.DataFrame(index=list(var_names)))
    a.layers["log"] = a.X.copy()
    a.uns["classes"] = ["normal", "tumor"]
    a.uns["positive_label"] = "tumor"
    return a


def test_cli_gene_checks(tmp_path, model_file, capsys):
    state, path = model_file
    out = tmp_path / "obs"
    short = tmp_path / "short.txt"
    short.write_text("\n".join(state.genes[:-1]) + "\n")
    assert main(["observe", "--model", str(path), "--out-dir", str(out), "--genes", str(short)]) == 2
    err = capsys.readouterr().err
    assert "5 genes" in err and "6 sites" in err and not out.exists()

    h5ad = tmp_path / "expr.h5ad"
    var_names = [g for g in state.genes if g != "KRAS"] + ["GAPDH"]
    _prepared(var_names).write_h5ad(h5ad)
    assert main(["observe", "--model", str(path), "--out-dir", str(out), "--expression", str(h5ad)]) == 2
    err = capsys.readouterr().err
    assert "KRAS" in err and "1 of the 6 genes" in err and not out.exists()

    good = tmp_path / "genes.txt"
    good.write_text("\n".join(state.genes) + "\n")
    _prepared(state.genes).write_h5ad(h5ad)
    assert main(["observe", "--model", str(path), "--out-dir", str(out), "--genes", str(good), "--expression", str(h5ad)]) == 0
    assert (out / "summary.json").is_file()


def test_single_site_model_cli(tmp_path):
    state = MPSState([np.array([[1.0, 0.5], [0.2, 2.0]]).reshape(1, 2, 2, 1)], 0, ["G1"], ["a", "b"])
    path = tmp_path / "m.npz"
    save_model(state, path)
    assert main(["observe", "--model", str(path), "--out-dir", str(tmp_path / "o")]) == 0
    ent = pd.read_csv(tmp_path / "o" / "entanglement.tsv", sep="\t")
    assert len(ent) == 0
    mag = pd.read_csv(tmp_path / "o" / "magnetization.tsv", sep="\t")
    np.testing.assert_allclose(mag["magnetization"], [(1 - 0.04) / 1.04, (0.25 - 4) / 4.25])


@pytest.mark.parametrize(
    "method, epochs",
    # a sweep epoch ends with the label on site 0, gradient keeps it in the middle;
    # random_state tests above cover the right end
    [("sweep", 1), ("sweep", 2), ("gradient", 2)],
)
def test_trained_models_against_dense(method, epochs):
    """Observables of a *trained* model (wherever training left the label) match the dense state."""
    from mpsomics.mps.config import TrainConfig
    from mpsomics.mps.gradient import train_gradient
    from mpsomics.mps.sweep import train_sweep

    rng = np.random.default_rng(0)
    n = 9
    X = rng.random((120, n))
    y = (X[:, 3] + X[:, 6] > 1.0).astype(int)
    cfg = TrainConfig(method=method, bond_dim=6, epochs=epochs, lr=0.05 if method == "sweep" else 1e-2,
                      checkpoint_every=0)  # fmt: skip
    trainer = train_sweep if method == "sweep" else train_gradient
    state = trainer(X, y, genes=[f"g{i}" for i in range(n)], classes=["normal", "tumor"], config=cfg)
    np.testing.assert_allclose(ob.label_density(state), dense_label_density(state), atol=TOL)
    allobs = ob.observe_all(state)
    for label in range(state.n_classes):
        psi = dense_class_state(state, label)
        ent = np.array([dense_entropy(psi, n, b) for b in range(n - 1)])
        assert ent.max() > 1e-3, "training should have entangled the state"
        np.testing.assert_allclose(allobs["entropy"][label], ent, atol=TOL)
        np.testing.assert_allclose(allobs["magnetization"][label], dense_magnetization(psi, n), atol=TOL)
        np.testing.assert_allclose(allobs["connected"][label], dense_correlation(psi, n), atol=TOL)

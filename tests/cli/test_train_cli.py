"""``mpsomics train`` end to end on a tiny synthetic AnnData, and mpsomics.mps.fit.fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import DIAGNOSTIC_COLUMNS, HISTORY_COLUMNS, TrainingDivergedError, fit
from mpsomics.mps.state import load_model

anndata = pytest.importorskip("anndata")

GENES = [f"G{i}" for i in range(6)]


def make_adata(path, n=60, seed=0, *, labels=None, split=None, x=None):
    rng = np.random.default_rng(seed)
    genes = GENES + ["EXTRA1", "EXTRA2"]
    X = rng.random((n, len(genes))) if x is None else x
    y = (X[:, 1] + X[:, 4] > 1.0).astype(int)
    classes = ["normal", "tumor"]
    obs = pd.DataFrame(
        {
            "label": [classes[k] for k in y] if labels is None else labels,
            "group": [f"p{i // 2}" for i in range(n)],
            "split": np.where(np.arange(n) < 2 * n // 3, "train", "test")
            if split is None
            else split,
        },
        index=[f"s{i}" for i in range(n)],
    )
    ad = anndata.AnnData(X=X.astype(np.float64), obs=obs, var=pd.DataFrame(index=genes))
    ad.uns["classes"] = classes
    ad.uns["positive_label"] = "tumor"
    ad.layers["log"] = 10.0 * X  # the prepared contract (core.readers.read_prepared)
    ad.write_h5ad(path)
    return path


@pytest.fixture
def data(tmp_path):
    h5 = make_adata(tmp_path / "expression.h5ad")
    genes = tmp_path / "genes.txt"
    genes.write_text("\n".join(GENES) + "\n")
    return tmp_path, h5, genes


def _run(h5, genes, out, *extra):
    return main(
        ["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(out), *extra]
    )


def test_train_sweep_all_outputs(data):
    pytest.importorskip("mpsomics.mps.observables")
    tmp, h5, genes = data
    out = tmp / "mps" / "c01"
    rc = _run(
        h5, genes, out, "--epochs", "3", "--bond-dim", "4", "--lr", "0.5", "--observe-every", "2"
    )
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "model.npz",
            "history.tsv",
            "run_info.json",
            "entanglement_trajectory.tsv",
            "magnetization_trajectory.tsv",
            "correlations_trajectory.npz",
            "singular_values.npz",
            "representation_trajectory.tsv",
        ]
    )
    model = load_model(out / "model.npz")
    assert model.genes == GENES and model.classes == ["normal", "tumor"]
    assert max(model.bond_dims) <= 4

    hist = pd.read_csv(out / "history.tsv", sep="\t")
    assert list(hist.columns) == HISTORY_COLUMNS + DIAGNOSTIC_COLUMNS + ["centroid_overlap_normal", "centroid_overlap_tumor"]
    assert hist["epoch"].tolist() == [0, 1, 2, 3]
    assert np.isnan(hist["loss"][0]) and np.all(np.isfinite(hist["loss"][1:]))
    metric_cols = [c for c in HISTORY_COLUMNS if c.startswith(("train_", "test_"))]
    assert hist[metric_cols].apply(lambda c: c.between(0, 1)).all().all()
    assert (hist["seconds"] >= 0).all() and (hist["max_bond"] <= 4).all()
    assert hist["train_balanced_accuracy"].iloc[-1] > 0.8

    E, C, N = 3, 2, 6  # observed epochs 0, 2, 3 (last)
    ent = pd.read_csv(out / "entanglement_trajectory.tsv", sep="\t")
    assert list(ent.columns) == ["epoch", "label", "bond", "entropy"]
    assert len(ent) == E * C * (N - 1)
    assert sorted(ent["epoch"].unique()) == [0, 2, 3] and set(ent["label"]) == {"normal", "tumor"}
    assert (ent["entropy"] >= -1e-12).all()
    mag = pd.read_csv(out / "magnetization_trajectory.tsv", sep="\t")
    assert list(mag.columns) == ["epoch", "label", "site", "gene", "magnetization"]
    assert len(mag) == E * C * N and mag["magnetization"].abs().max() <= 1 + 1e-9
    assert mag[mag["site"] == 2]["gene"].unique().tolist() == ["G2"]
    with np.load(out / "correlations_trajectory.npz") as z:
        assert z["epochs"].tolist() == [0, 2, 3]
        assert z["classes"].tolist() == ["normal", "tumor"] and z["genes"].tolist() == GENES
        assert z["connected"].dtype == np.float32 and z["connected"].shape == (E, C, N, N)
        conn = z["connected"][-1]
    last_mag = (
        mag[mag["epoch"] == 3]
        .pivot(index="label", columns="site", values="magnetization")
        .to_numpy()
    )
    np.testing.assert_allclose(np.diagonal(conn, axis1=1, axis2=2), 1 - last_mag**2, atol=1e-5)
    with np.load(out / "singular_values.npz") as z:
        assert z["epochs"].tolist() == [0, 2, 3]
        for e in (0, 2, 3):
            for b in range(N - 1):
                s = z[f"sv_{e}_{b}"]
                np.testing.assert_allclose(np.sum(s**2), 1.0, rtol=1e-10)
        assert len(z.files) == 1 + E * (N - 1)

    info = json.loads((out / "run_info.json").read_text())
    assert (
        info["config"]["method"] == "sweep"
        and info["config"]["bond_dim"] == 4
        and info["config"]["lr"] == 0.5
    )
    assert (
        info["seed"] == 0
        and info["n_train"] == 40
        and info["n_test"] == 20
        and info["n_sites"] == 6
    )
    assert info["community"] == "c01" and info["wall_seconds"] >= 0
    assert {"numpy", "torch", "mpsomics"} <= set(info["versions"])
    assert not any(
        p.name.startswith(".") for p in (tmp / "mps").iterdir()
    )  # no temporary left over


def test_train_without_observables_is_deterministic(data):
    tmp, h5, genes = data
    outs = []
    for name in ("a", "b"):
        out = tmp / name
        assert (
            _run(
                h5,
                genes,
                out,
                "--epochs",
                "2",
                "--bond-dim",
                "3",
                "--seed",
                "7",
                "--dtype",
                "float32",
                "--observe-every",
                "0",
            )
            == 0
        )
        assert sorted(p.name for p in out.iterdir()) == [
            "history.tsv",
            "model.npz",
            "run_info.json",
        ]
        outs.append(out)
    a, b = (load_model(o / "model.npz") for o in outs)
    assert all(x.dtype == np.float32 for x in a.sites)
    assert all(np.array_equal(x, y) for x, y in zip(a.sites, b.sites, strict=True))
    ha, hb = (pd.read_csv(o / "history.tsv", sep="\t") for o in outs)
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"))


def test_train_gradient_method(data):
    pytest.importorskip("mpsomics.mps.gradient")
    tmp, h5, genes = data
    out = tmp / "grad"
    assert (
        _run(
            h5,
            genes,
            out,
            "--method",
            "gradient",
            "--epochs",
            "2",
            "--bond-dim",
            "3",
            "--batch-size",
            "16",
        )
        == 0
    )
    hist = pd.read_csv(out / "history.tsv", sep="\t")
    assert list(hist.columns)[: len(HISTORY_COLUMNS)] == HISTORY_COLUMNS and hist["epoch"].tolist() == [0, 1, 2]
    assert {"norm", "max_abs_f", "centroid_overlap_normal"} <= set(hist.columns)  # diagnostics for gradient too
    assert json.loads((out / "run_info.json").read_text())["config"]["method"] == "gradient"
    load_model(out / "model.npz")


def _expect_error(capsys, rc, out, *words):
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mpsomics train: error:"), err
    for w in words:
        assert w in err[0], err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "gene_text, words",
    [
        ("G0\nNOPE1\nG2\nNOPE2\n", ["2 of 4 genes", "NOPE1", "NOPE2", "missing"]),
        ("\n# only a comment\n", ["empty"]),
        ("G0\nG1\nG0\n", ["duplicated", "G0"]),
    ],
)
def test_gene_list_errors(tmp_path, capsys, gene_text, words):
    h5 = make_adata(tmp_path / "e.h5ad")
    genes = tmp_path / "g.txt"
    genes.write_text(gene_text)
    out = tmp_path / "out"
    _expect_error(capsys, _run(h5, genes, out), out, *words)


def test_data_errors(tmp_path, capsys):
    genes = tmp_path / "g.txt"
    genes.write_text("\n".join(GENES))
    out = tmp_path / "out"
    n = 30
    h5 = make_adata(tmp_path / "a.h5ad", n=n, split=["test"] * n)
    _expect_error(capsys, _run(h5, genes, out), out, "no training samples")
    h5 = make_adata(tmp_path / "b.h5ad", n=n, labels=["normal"] * n)
    _expect_error(capsys, _run(h5, genes, out), out, "absent", "tumor")
    x = np.random.default_rng(0).random((n, 8))
    x[3, 2] = np.nan
    h5 = make_adata(tmp_path / "c.h5ad", n=n, x=x)
    _expect_error(capsys, _run(h5, genes, out), out, "non-finite", "G2")
    _expect_error(capsys, _run(tmp_path / "missing.h5ad", genes, out), out, "file not found")


def test_existing_output_survives_failed_run(data, capsys):
    tmp, h5, genes = data
    out = tmp / "keep"
    out.mkdir()
    (out / "old.txt").write_text("old")
    bad = tmp / "bad.txt"
    bad.write_text("NOT_A_GENE\n")
    assert _run(h5, bad, out) == 2
    capsys.readouterr()
    assert (out / "old.txt").read_text() == "old"


def test_fit_divergence_names_community_and_epoch():
    rng = np.random.default_rng(0)
    X = rng.random((20, 4))
    y = (X[:, 0] > 0.5).astype(int)
    cfg = TrainConfig(method="sweep", bond_dim=3, epochs=2, lr=float("inf"))
    with pytest.raises(TrainingDivergedError) as exc:
        fit(X, y, X[:0], y[:0], genes=list("abcd"), classes=["n", "t"], config=cfg, name="c07")
    msg = str(exc.value)
    assert "c07" in msg and "epoch 1" in msg and "\n" not in msg


def test_fit_history_with_empty_test_set():
    rng = np.random.default_rng(1)
    X = rng.random((30, 5))
    y = (X[:, 1] > 0.5).astype(int)
    cfg = TrainConfig(method="sweep", bond_dim=3, epochs=2, lr=0.5)
    state, hist, obs = fit(X, y, X[:0], y[:0], genes=list("abcde"), classes=["n", "t"], config=cfg)
    assert list(hist.columns) == HISTORY_COLUMNS + DIAGNOSTIC_COLUMNS + ["centroid_overlap_n", "centroid_overlap_t"]
    assert len(hist) == 3 and hist["centroid_test_balanced_accuracy"].isna().all()
    assert hist["test_accuracy"].isna().all() and hist["train_accuracy"].notna().all()
    assert obs.epochs == []
    state.validate()


# ----------------------------------------------------------- validation / early stopping
def test_validation_split_is_stratified_deterministic_and_from_training_only():
    from mpsomics.mps.fit import validation_split

    y = np.array([0] * 30 + [1] * 10)
    fit_idx, val_idx = validation_split(y, 0.2, seed=3)
    again = validation_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(fit_idx, again[0])
    np.testing.assert_array_equal(val_idx, again[1])
    assert len(np.intersect1d(fit_idx, val_idx)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([fit_idx, val_idx])), np.arange(40))
    assert np.bincount(y[val_idx]).tolist() == [6, 2]  # stratified
    other = validation_split(y, 0.2, seed=4)[1]
    assert not np.array_equal(other, val_idx)
    with pytest.raises(ValueError):
        validation_split(y, 1.0, seed=0)


def _toy(n=80, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 6))
    y = (X[:, 1] + X[:, 4] > 1.0).astype(int)
    return X, y


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_early_stopping_returns_best_validation_epoch(method, monkeypatch):
    import mpsomics.mps.fit as train_mod
    from mpsomics.mps.contract import predict

    X, y = _toy()
    Xte, yte = _toy(40, seed=9)
    seen_train = []
    if method == "sweep":
        import mpsomics.mps.sweep as mod

        name, lr = "train_sweep", 0.5
    else:
        import mpsomics.mps.gradient as mod

        name, lr = "train_gradient", 0.05
    real = getattr(mod, name)

    def spy(X_fit, y_fit, **kw):
        seen_train.append(X_fit.copy())
        states = []
        cb = kw["on_epoch"]
        kw["on_epoch"] = lambda e, s, loss: (states.append(s), cb(e, s, loss))
        return real(X_fit, y_fit, **kw)

    monkeypatch.setattr(mod, name, spy)
    kw = dict(genes=list("abcdef"), classes=["n", "t"])
    cfg = TrainConfig(
        method=method, bond_dim=2, epochs=6, lr=lr, validation_fraction=0.25, early_stopping=True
    )
    state, hist, _ = train_mod.fit(X, y, Xte, yte, config=cfg, **kw)
    fit_idx, val_idx = train_mod.validation_split(y, 0.25, cfg.seed)
    # the trainer saw exactly the non-validation training samples; test never used
    np.testing.assert_array_equal(seen_train[0], X[fit_idx])
    assert list(hist.columns)[: len(HISTORY_COLUMNS) + 4] == HISTORY_COLUMNS + train_mod.VALIDATION_COLUMNS
    vb = hist["validation_balanced_accuracy"].to_numpy()
    best = hist.attrs["best_epoch"]
    assert vb[best] == vb.max() and np.all(vb[best + 1 :] < vb.max())  # ties -> later
    # the returned model is the best-validation one: its metrics are that epoch's row
    assert np.mean(predict(state, X[val_idx]) == y[val_idx]) == hist["validation_accuracy"][best]
    assert np.mean(predict(state, Xte) == yte) == hist["test_accuracy"][best]
    # without early stopping: the last model, same history
    cfg2 = TrainConfig(**{**cfg.to_dict(), "early_stopping": False})
    last, hist2, _ = train_mod.fit(X, y, Xte, yte, config=cfg2, **kw)
    pd.testing.assert_frame_equal(
        hist.drop(columns="seconds"), hist2.drop(columns="seconds"), check_exact=True
    )
    assert np.mean(predict(last, Xte) == yte) == hist["test_accuracy"].iloc[-1]


def test_patience_stops_training(monkeypatch):

    X, y = _toy()
    cfg = TrainConfig(
        method="sweep",
        bond_dim=2,
        epochs=40,
        lr=0.5,
        validation_fraction=0.25,
        patience=2,
        early_stopping=True,
    )
    state, hist, _ = fit(X, y, X[:0], y[:0], genes=list("abcdef"), classes=["n", "t"], config=cfg)
    assert len(hist) < 41
    vb = hist["validation_balanced_accuracy"].to_numpy()
    best = hist.attrs["best_epoch"]
    assert len(hist) - 1 - best == 2 and vb[best] == vb.max()
    state.validate()


def test_cli_validation_and_regulariser_flags(data):
    tmp, h5, genes = data
    out = tmp / "mps" / "val"
    rc = _run(
        h5,
        genes,
        out,
        "--epochs",
        "3",
        "--bond-dim",
        "2",
        "--lr",
        "0.1",
        "--site-sparsity",
        "0.03",
        "--validation-fraction",
        "0.25",
        "--early-stopping",
    )
    assert rc == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["config"]["site_sparsity"] == 0.03 and info["config"]["early_stopping"] is True
    assert info["config"]["validation_fraction"] == 0.25
    assert 0 <= info["best_epoch"] == info["returned_epoch"] <= 3
    hist = pd.read_csv(out / "history.tsv", sep="\t")
    assert "validation_balanced_accuracy" in hist.columns
    out2 = tmp / "mps" / "grad"
    rc = _run(
        h5,
        genes,
        out2,
        "--method",
        "gradient",
        "--epochs",
        "2",
        "--bond-dim",
        "2",
        "--loss",
        "cross_entropy",
        "--born-smoothing",
        "0.05",
        "--ema-decay",
        "0.9",
        "--identity-l2",
        "1e-3",
        "--lr-schedule",
        "cosine",
        "--site-sparsity",
        "0.5",
    )
    assert rc == 0
    cfg = json.loads((out2 / "run_info.json").read_text())["config"]
    assert cfg["born_smoothing"] == 0.05 and cfg["ema_decay"] == 0.9 and cfg["identity_l2"] == 1e-3
    assert cfg["lr_schedule"] == "cosine" and cfg["site_sparsity"] == 0.5
    assert _run(h5, genes, tmp / "mps" / "bad", "--early-stopping") == 2


# ----------------------------------------------------------- checkpoints / constant genes
def test_checkpoint_flags_and_cleanup(data, capsys, caplog):
    tmp, h5, genes = data
    out = tmp / "mps" / "c05"
    ckpt = tmp / "mps" / "c05.checkpoint.pt"
    assert _run(h5, genes, out, "--epochs", "4", "--bond-dim", "2", "--checkpoint-every", "1") == 0
    assert not ckpt.exists() and sorted(p.name for p in (tmp / "mps").iterdir()) == ["c05"]
    info = json.loads((out / "run_info.json").read_text())
    assert info["config"]["checkpoint_every"] == 1 and "resumed_from_epoch" not in info
    # an unusable checkpoint at the default path is ignored (warning), then deleted
    ckpt.write_bytes(b"garbage")
    assert _run(h5, genes, out, "--epochs", "2", "--bond-dim", "2") == 0
    assert "ignoring unreadable checkpoint" in caplog.text and not ckpt.exists()
    # --checkpoint-path overrides the location; inside --out is refused
    bad = tmp / "x" / "state.pt"
    _expect_error(capsys, _run(h5, genes, tmp / "x", "--checkpoint-path", str(bad)), tmp / "x",
                  "--checkpoint-path")  # fmt: skip
    rc = _run(h5, genes, tmp / "y", "--epochs", "2", "--checkpoint-path", str(tmp / "ck" / "y.pt"))
    assert rc == 0 and not (tmp / "ck" / "y.pt").exists()


def test_constant_genes_warn_but_all_constant_is_an_error(tmp_path, capsys, caplog):
    genes = tmp_path / "g.txt"
    genes.write_text("\n".join(GENES))
    n = 30
    x = np.random.default_rng(0).random((n, 8))
    x[: 2 * n // 3, 3] = 0.25  # G3 constant on the training samples (not on test)
    h5 = make_adata(tmp_path / "a.h5ad", n=n, x=x)
    for method in ("sweep", "gradient"):
        out = tmp_path / method
        assert _run(h5, genes, out, "--method", method, "--epochs", "2", "--bond-dim", "2") == 0
        assert "1 gene(s) constant on the training samples" in caplog.text and "G3" in caplog.text
        caplog.clear()
        hist = pd.read_csv(out / "history.tsv", sep="\t")
        assert np.isfinite(hist["loss"][1:]).all()
    x = np.random.default_rng(0).random((n, 8))
    x[:, :6] = 0.5
    labels = ["normal", "tumor"] * (n // 2)
    h5 = make_adata(tmp_path / "b.h5ad", n=n, x=x, labels=labels)
    out = tmp_path / "const"
    _expect_error(capsys, _run(h5, genes, out), out, "all 6 genes are constant", "zero variance")

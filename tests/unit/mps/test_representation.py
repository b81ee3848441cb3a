"""Representation metrics (mps.representation) against dense state vectors, and their recording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.dense import dense_class_state, dense_schmidt, product_state, random_state

from mpsomics.mps import observables as ob
from mpsomics.mps import representation as rep
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.fit import fit

TOL = 1e-10


def _dense_features(X: np.ndarray, sites: range) -> np.ndarray:
    """Product feature states of ``sites`` (site order, first most significant), (n, 2**len)."""
    phi = feature_map(X)
    out = np.ones((X.shape[0], 1))
    for i in sites:
        out = np.einsum("na,nb->nab", out, phi[:, i, :]).reshape(X.shape[0], -1)
    return out


def _dense_metrics(psi: np.ndarray, X: np.ndarray, n: int, bond: int, side: str = "left") -> dict:
    """Everything by brute force: SVD of the dense state, projections, rho, its spectrum."""
    m = psi.reshape(2 ** (bond + 1), 2 ** (n - bond - 1))
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    r = int(np.sum(s > 1e-12 * s[0]))
    if side == "left":
        e = _dense_features(X, range(bond + 1)) @ u[:, :r]
    else:
        e = _dense_features(X, range(bond + 1, n)) @ vh[:r].T
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    rho = e.T @ e / len(e)
    w = np.clip(np.linalg.eigvalsh(rho), 0, None)
    w = w[w > 0]
    S = float(-np.sum(w * np.log(w)))
    p = s**2 / np.sum(s**2)
    return {
        "representation_entropy": S,
        "representation_purity": float(np.trace(rho @ rho)),
        "representation_effective_rank": float(np.exp(S)),
        "state_renyi2": float(-np.log(np.sum(p**2))),
        "state_schmidt_gap": float(p[0] - p[1]) if p.size > 1 else 1.0,
        "n_samples": float(len(X)),
        "rho": rho,
    }


@pytest.mark.parametrize(
    ("n", "chi", "label_site", "seed"), [(6, 3, 2, 0), (8, 4, 0, 1), (7, 2, 6, 2), (5, 8, 4, 3)]
)
@pytest.mark.parametrize("side", ["left", "right"])
def test_metrics_match_dense(n, chi, label_site, seed, side):
    state = random_state(n, chi, label_site=label_site, seed=seed)
    X = np.random.default_rng(seed + 10).uniform(size=(37, n))
    got = rep.representation_metrics(state, X, side=side)
    assert got.shape == (2, n - 1, len(rep.METRICS))
    for label in range(2):
        psi = dense_class_state(state, label)
        for b in range(n - 1):
            want = _dense_metrics(psi, X, n, b, side)
            for k, name in enumerate(rep.METRICS):
                assert got[label, b, k] == pytest.approx(want[name], abs=TOL), (label, b, name)


def test_rho_matches_dense_up_to_basis():
    """The per-sample representations give the dense rho up to an orthogonal change of basis."""
    n = 7
    state = random_state(n, 3, label_site=3, seed=5)
    X = np.random.default_rng(0).uniform(size=(20, n))
    reps = rep.representations(state, 1, X)
    psi = dense_class_state(state, 1)
    for b, (e, used) in enumerate(reps):
        assert used.all()
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=TOL)
        want = _dense_metrics(psi, X, n, b)["rho"]
        rho = e.T @ e / len(e)
        # same Gram matrix of the samples (basis-free): <ê_m|ê_n>
        np.testing.assert_allclose(np.abs(e @ e.T), np.abs(e @ e.T).T, atol=TOL)
        np.testing.assert_allclose(np.linalg.eigvalsh(rho), np.linalg.eigvalsh(want), atol=TOL)
        # the dense sample overlaps agree exactly (gauge-free)
        m = psi.reshape(2 ** (b + 1), -1)
        u, s, _ = np.linalg.svd(m, full_matrices=False)
        ed = _dense_features(X, range(b + 1)) @ u[:, : int(np.sum(s > 1e-12 * s[0]))]
        ed /= np.linalg.norm(ed, axis=1, keepdims=True)
        np.testing.assert_allclose(e @ e.T, ed @ ed.T, atol=TOL)


def test_state_metrics_match_observables():
    state = random_state(8, 5, label_site=5, seed=9)
    X = np.random.default_rng(1).uniform(size=(10, 8))
    got = rep.representation_metrics(state, X)
    i_ren, i_gap = rep.METRICS.index("state_renyi2"), rep.METRICS.index("state_schmidt_gap")
    for label in range(2):
        np.testing.assert_allclose(got[label, :, i_ren], ob.renyi2(state, label), atol=TOL)
        np.testing.assert_allclose(got[label, :, i_gap], ob.schmidt_gap(state, label), atol=TOL)
        psi = dense_class_state(state, label)
        for b in range(7):
            p = dense_schmidt(psi, 8, b) ** 2
            assert ob.schmidt_gap(state, label)[b] == pytest.approx(p[0] - p[1], abs=TOL)


def test_product_state_limits():
    """A product class state: rank 1 at every bond, so S = 0, purity 1, exp(S) = 1, gap 1."""
    state = product_state([0.3, 1.1, 0.7, 0.2, 1.4])
    X = np.random.default_rng(2).uniform(size=(15, 5))
    got = rep.representation_metrics(state, X)
    want = [0.0, 1.0, 1.0, 0.0, 1.0, 15.0]
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=TOL)


def test_identical_samples_pure_and_spread_samples_mixed():
    state = random_state(6, 4, seed=4)
    same = np.tile(np.random.default_rng(3).uniform(size=(1, 6)), (12, 1))
    got = rep.representation_metrics(state, same)
    ent = got[:, :, rep.METRICS.index("representation_entropy")]
    np.testing.assert_allclose(ent, 0.0, atol=1e-9)
    spread = rep.representation_metrics(state, np.random.default_rng(3).uniform(size=(50, 6)))
    s = spread[:, :, 0]
    assert (s[:, 2] > 0.05).all()  # bulk bond: the samples spread over several directions
    # bounds: 0 <= S <= ln r, 1/r <= purity <= 1, exp(S) in [1, r]
    assert (spread[:, :, 1] <= 1 + TOL).all() and (spread[:, :, 2] >= 1 - TOL).all()


def test_zero_projection_samples_left_out():
    """A sample orthogonal to the left support at bond 0 is left out of rho (not NaN-poisoning)."""
    # class state |0>|+>... at site 0: x = 1 gives phi = (0, 1), orthogonal to |0>
    state = product_state([0.0, 0.4, 0.8])
    X = np.array([[1.0, 0.2, 0.3], [0.0, 0.5, 0.5], [0.1, 0.9, 0.9]])
    reps = rep.representations(state, 0, X)
    assert reps[0][1].tolist() == [False, True, True]
    assert reps[1][1].tolist() == [False, True, True]  # and at every later bond
    got = rep.representation_metrics(state, X)
    assert got[0, :, rep.METRICS.index("n_samples")].tolist() == [2.0, 2.0]
    only_bad = rep.representation_metrics(state, X[:1])
    assert np.isnan(only_bad[0, :, 0]).all() and (only_bad[0, :, -1] == 0).all()
    assert np.isfinite(only_bad[0, :, 3:5]).all()  # the class-state metrics stay defined


def test_gauge_invariant():
    """A gauge transformation on a bond (G, G^-1) does not change any metric."""
    state = random_state(6, 3, label_site=1, seed=8)
    X = np.random.default_rng(4).uniform(size=(25, 6))
    g = np.random.default_rng(5).standard_normal((3, 3)) + 3 * np.eye(3)
    sites = list(state.sites)
    sites[3] = np.tensordot(sites[3], g, axes=(2, 0))
    sites[4] = np.tensordot(np.linalg.inv(g), sites[4], axes=(1, 0))
    other = type(state)(sites, state.label_site, state.genes, state.classes)
    np.testing.assert_allclose(
        rep.representation_metrics(other, X), rep.representation_metrics(state, X), atol=1e-9
    )


def test_bad_input():
    state = random_state(4, 2, seed=0)
    with pytest.raises(ValueError, match="shape"):
        rep.representation_metrics(state, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="side"):
        rep.representation_metrics(state, np.zeros((3, 4)), side="middle")  # type: ignore[arg-type]


def _data(n=40, n_sites=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.clip(rng.uniform(size=(n, n_sites)) * 0.6 + 0.3 * y[:, None], 0, 1)
    return X, y


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_fit_records_every_k_epochs(method):
    X, y = _data()
    Xt, yt = _data(10, seed=1)
    cfg = TrainConfig(method=method, bond_dim=4, epochs=5, lr=0.05 if method == "sweep" else 0.01, seed=1)
    model, history, obs = fit(
        X, y, Xt, yt, genes=[f"g{i}" for i in range(6)], classes=["a", "b"], config=cfg,
        observe_every=1, representation_every=2, progress=False,
    )
    assert obs.representation_epochs == [0, 2, 4, 5]
    assert len(obs.representation) == 4 and obs.representation[0].shape == (2, 5, len(rep.METRICS))
    # the record of the last epoch is the returned model's, on the fit samples
    np.testing.assert_allclose(obs.representation[-1], rep.representation_metrics(model, X), atol=1e-10)


def test_fit_representation_off_by_default():
    X, y = _data()
    cfg = TrainConfig(method="sweep", bond_dim=4, epochs=2, lr=0.05)
    _, _, obs = fit(X, y, X[:0], y[:0], genes=[f"g{i}" for i in range(6)], classes=["a", "b"], config=cfg,
                    observe_every=1, progress=False)
    assert obs.representation_epochs == [] and obs.representation == []


def test_trajectory_frame_and_reader(tmp_path):
    from mpsomics.dynamics import training_run

    X, y = _data()
    cfg = TrainConfig(method="sweep", bond_dim=4, epochs=3, lr=0.05)
    genes = [f"g{i}" for i in range(6)]
    model, history, obs = fit(X, y, X[:5], y[:5], genes=genes, classes=["a", "b"], config=cfg,
                              observe_every=1, representation_every=1, progress=False)
    training_run.write_train_dir(tmp_path, model, history, obs, {})
    df = training_run.load_representation(tmp_path)
    assert list(df.columns) == list(rep.COLUMNS)
    assert sorted(df["epoch"].unique()) == [0, 1, 2, 3]
    assert len(df) == 4 * 2 * 5
    last = df[df["epoch"] == 3]
    want = rep.representation_metrics(model, X)
    got = np.stack([last[last["label"] == c][list(rep.METRICS)].to_numpy() for c in ("a", "b")])
    np.testing.assert_allclose(got, want, atol=1e-9)
    # a damaged file is an InputError naming it
    bad = df.copy()
    bad.loc[0, "representation_purity"] = 1.5
    bad.to_csv(tmp_path / training_run.REPRESENTATION_FILE, sep="\t", index=False)
    from mpsomics.core.errors import InputError

    with pytest.raises(InputError, match="representation_purity"):
        training_run.load_representation(tmp_path)


def test_checkpoint_resume_keeps_records(tmp_path):
    X, y = _data()
    genes = [f"g{i}" for i in range(6)]
    cfg = TrainConfig(method="sweep", bond_dim=4, epochs=4, lr=0.05, checkpoint_every=2)
    kw = dict(genes=genes, classes=["a", "b"], config=cfg, observe_every=1, representation_every=1, progress=False)
    _, _, full = fit(X, y, X[:0], y[:0], **kw)
    ckpt = tmp_path / "c.pt"
    short = TrainConfig(method="sweep", bond_dim=4, epochs=3, lr=0.05, checkpoint_every=2)
    fit(X, y, X[:0], y[:0], **{**kw, "config": short}, checkpoint_path=ckpt)
    assert ckpt.exists()
    _, history, resumed = fit(X, y, X[:0], y[:0], **kw, checkpoint_path=ckpt)
    assert history.attrs.get("resumed_from_epoch") == 2
    assert resumed.representation_epochs == full.representation_epochs
    for a, b in zip(resumed.representation, full.representation, strict=True):
        np.testing.assert_array_equal(a, b)


def test_representation_figure(tmp_path):
    from mpsomics.report.figures import representation_figure

    rows = []
    for e in range(0, 6):
        for lab in ("normal", "tumor"):
            for b in range(3):
                rows.append({"epoch": e, "label": lab, "bond": b, "representation_entropy": 0.1 * e,
                             "representation_purity": 1 - 0.05 * e})
    traj = pd.DataFrame(rows)
    hist = pd.DataFrame({"epoch": range(6), "train_balanced_accuracy": np.linspace(0.5, 1, 6),
                         "test_balanced_accuracy": np.linspace(0.5, 0.8, 6)})
    fig = representation_figure(traj, hist, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert len(fig.axes) >= 3


def test_observe_entanglement_schmidt_gap():
    from mpsomics.commands.observe import observable_tables

    state = random_state(6, 3, seed=11)
    ent = observable_tables(state)["tables"]["entanglement.tsv"]
    assert list(ent.columns) == ["label", "bond", "entropy", "renyi2", "schmidt_gap"]
    for label, name in enumerate(state.classes):
        psi = dense_class_state(state, label)
        want = [np.diff((dense_schmidt(psi, 6, b) ** 2)[1::-1])[0] for b in range(5)]
        np.testing.assert_allclose(ent[ent["label"] == name]["schmidt_gap"], want, atol=TOL)


def test_train_command_writes_trajectory(make_prepared, tmp_path):
    from mpsomics.cli import main
    from mpsomics.dynamics import training_run

    h5, genes = make_prepared("rep_train", 50, 6, 35)
    base = ["train", "--expression", str(h5), "--genes", str(genes), "--epochs", "6", "--bond-dim", "3",
            "--lr", "0.2", "--checkpoint-every", "0"]
    assert main([*base, "--out-dir", str(tmp_path / "a"), "--representation-every", "4"]) == 0
    df = training_run.load_representation(tmp_path / "a")
    assert sorted(df["epoch"].unique()) == [0, 4, 6]
    assert len(df) == 3 * 2 * 5 and (df["n_samples"] == 35).all()  # the 35 training samples only
    # default: the smallest multiple of --observe-every >= 5; off with --observe-every 0
    assert main([*base, "--out-dir", str(tmp_path / "b"), "--observe-every", "2"]) == 0
    assert sorted(training_run.load_representation(tmp_path / "b")["epoch"].unique()) == [0, 6]
    assert main([*base, "--out-dir", str(tmp_path / "c"), "--observe-every", "0"]) == 0
    assert not (tmp_path / "c" / training_run.REPRESENTATION_FILE).exists()

"""mps.interop.to_quimb: the class state in quimb, entropies equal to observe's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers.dense import dense_class_state, random_state

from mpsomics.cli import main
from mpsomics.mps import observables as ob
from mpsomics.mps.interop import quimb_entropy_nats, to_quimb
from mpsomics.mps.state import load_model, save_model

qtn = pytest.importorskip("quimb.tensor")


@pytest.mark.parametrize("label_site", [0, 2, 5])
def test_to_quimb_state_and_entropy(label_site):
    state = random_state(6, 3, n_classes=2, label_site=label_site, seed=4)
    state.genes = ["TP53", "MYC", "EGFR", "KRAS", "ALB", "APOA1"]
    state.classes = ["normal", "tumor"]
    for label in (0, "tumor"):
        idx = state.classes.index(label) if isinstance(label, str) else label
        mps = to_quimb(state, label)
        assert isinstance(mps, qtn.MatrixProductState)
        assert mps.L == 6
        assert mps.norm() == pytest.approx(1.0)
        # the same vector as the dense class state (|0> = cos at every site)
        dense = mps.to_dense().ravel()
        np.testing.assert_allclose(dense, dense_class_state(state, idx), atol=1e-10)
        assert "ALB" in mps[4].tags
        ours = ob.entropy(state, idx)  # nats, one value per bond
        bits = np.array([float(mps.entropy(b + 1)) for b in range(5)])
        np.testing.assert_allclose(bits * math.log(2), ours, atol=1e-10)
        np.testing.assert_allclose([quimb_entropy_nats(mps, b) for b in range(5)], ours, atol=1e-10)


def test_to_quimb_matches_observe_file(tmp_path):
    state = random_state(7, 4, n_classes=2, label_site=3, seed=9)
    state.genes = [f"G{i}" for i in range(7)]
    state.classes = ["normal", "tumor"]
    model = tmp_path / "model.npz"
    save_model(state, model)
    assert main(["observe", "--model", str(model), "--out-dir", str(tmp_path / "obs")]) == 0
    ent = pd.read_csv(tmp_path / "obs" / "entanglement.tsv", sep="\t")
    loaded = load_model(model)
    for label in loaded.classes:
        mps = to_quimb(loaded, label)
        want = ent[ent["label"] == label].sort_values("bond")["entropy"].to_numpy()
        got = [quimb_entropy_nats(mps, b) for b in range(6)]
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_to_quimb_unknown_label():
    state = random_state(4, 2, n_classes=2, label_site=1, seed=1)
    state.classes = ["a", "b"]
    with pytest.raises(ValueError, match="unknown class"):
        to_quimb(state, "c")

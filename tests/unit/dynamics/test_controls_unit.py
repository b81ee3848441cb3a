"""mpsomics.dynamics.controls: label-permutation controls and the comparison of sweep updates."""

from __future__ import annotations

import numpy as np

from mpsomics.commands import controls as controls_command
from mpsomics.dynamics import controls
from mpsomics.mps.config import TrainConfig

GENES = [f"g{i}" for i in range(4)]
CLASSES = ["normal", "tumor"]


def _data(n: int = 24):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = np.clip(rng.normal(0.3 + 0.4 * y[:, None], 0.15, (n, len(GENES))), 0, 1)
    return X, y, np.array([f"p{i // 2}" for i in range(n)])


def test_train_controls_shapes_and_seeding():
    X, y, groups = _data()
    cfg = TrainConfig(bond_dim=4, epochs=3, lr=0.05, checkpoint_every=0)
    ent, hist = controls.train_controls(X, y, groups, X[:4], y[:4], genes=GENES, classes=CLASSES, config=cfg,
                                        n_controls=2, seed=1)
    assert list(ent.columns) == controls.ENTANGLEMENT_COLUMNS
    assert sorted(ent["control"].unique()) == [0, 1] and sorted(ent["epoch"].unique()) == [0, 1, 2, 3]
    assert hist["control"].tolist().count(0) == 4 and "centroid_overlap_tumor" in hist.columns
    again, _ = controls.train_controls(X, y, groups, X[:4], y[:4], genes=GENES, classes=CLASSES, config=cfg,
                                       n_controls=2, seed=1)
    assert ent.equals(again)


def test_compare_updates_one_row_per_update():
    X, y, groups = _data()
    cfg = TrainConfig(bond_dim=4, epochs=6, lr=0.05, checkpoint_every=0)
    table, ent = controls.compare_updates(X, y, groups, genes=GENES, classes=CLASSES, config=cfg,
                                          modes=["fixed", "free"], n_controls=2, seed=0, min_drop=0.5)
    assert list(table.columns) == controls.MODES_COLUMNS and table["output_scale"].tolist() == ["fixed", "free"]
    assert set(ent["output_scale"]) == {"fixed", "free"}
    # a control is trained only for a transition; without one nothing can be beaten
    for r in table.itertuples():
        assert (r.n_controls > 0) == (r.transition_status == "transition")
        assert r.beats_control in (True, False)
    assert controls_command.MODES_FILE == "modes.tsv"

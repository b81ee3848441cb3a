"""Training progress in a rule's log: an INFO line every PROGRESS_EPOCHS epochs (or seconds)
when stderr is not a terminal, a tqdm bar when it is, neither with progress=False."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mpsomics.mps import fit as fit_module
from mpsomics.mps.config import TrainConfig


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((24, 5))
    y = (X[:, 0] > 0.5).astype(np.int64)
    return X[:16], y[:16], X[16:], y[16:]


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "mpsomics.mps.fit" and "epoch" in r.getMessage()
            and "/" in r.getMessage()]


@pytest.mark.parametrize("progress, expected", [(None, ["epoch 10/12", "epoch 12/12"]), (False, [])])
def test_progress_lines(progress, expected, caplog, monkeypatch):
    monkeypatch.setattr(fit_module.sys.stderr, "isatty", lambda: False, raising=False)
    caplog.set_level(logging.INFO, logger="mpsomics")
    config = TrainConfig(method="sweep", bond_dim=3, epochs=12, lr=0.01, seed=0)
    fit_module.fit(*_data(), genes=[f"G{i}" for i in range(5)], classes=["a", "b"], config=config,
                   name="c01", progress=progress)
    lines = _lines(caplog)
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected, strict=True):
        assert line.startswith(f"c01: {want}, loss ") and "test balanced accuracy" not in line
        assert "train balanced accuracy" in line


def test_progress_every_seconds(caplog, monkeypatch):
    monkeypatch.setattr(fit_module, "PROGRESS_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="mpsomics")
    config = TrainConfig(method="sweep", bond_dim=3, epochs=4, lr=0.01, seed=0)
    fit_module.Fit(*_data(), genes=[f"G{i}" for i in range(5)], classes=["a", "b"], config=config,
                   name="c02", progress=None).run()
    assert [line.split(",")[0] for line in _lines(caplog)] == [f"c02: epoch {e}/4" for e in (1, 2, 3, 4)]

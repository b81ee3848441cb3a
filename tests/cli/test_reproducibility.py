"""Same inputs + seed -> bit-identical model and observables, across separate processes.

Each run is a fresh ``python -m mpsomics`` subprocess (same thread count), so nothing
cached in this test process can make two runs agree.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

anndata = pytest.importorskip("anndata")

GENES = [f"G{i}" for i in range(8)]
TRAIN_FILES = ["model.npz", "history.tsv", "entanglement_trajectory.tsv", "magnetization_trajectory.tsv",
               "correlations_trajectory.npz"]  # fmt: skip
OBSERVE_FILES = ["magnetization.tsv", "entanglement.tsv", "schmidt.npz", "label_density.tsv",
                 "correlations/normal.tsv", "correlations/tumor.tsv",
                 "mutual_information/normal.tsv", "mutual_information/tumor.tsv"]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(make_prepared) -> tuple[Path, Path]:
    return make_prepared("repro", n_samples=90, n_genes=8, n_train=60)


def mpsomics(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mpsomics", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def train_and_observe(inputs, out: Path, method: str, seed: int) -> Path:
    h5, genes = inputs
    mpsomics("train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(out / "mps"),
             "--method", method, "--bond-dim", "4", "--epochs", "4", "--seed", str(seed),
             "--threads", "1", "--observe-every", "1")  # fmt: skip
    mpsomics("observe", "--model", str(out / "mps" / "model.npz"), "--out-dir", str(out / "obs"))
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_same_seed_gives_bit_identical_outputs(inputs, tmp_path, method):
    a = train_and_observe(inputs, tmp_path / "a", method, seed=11)
    b = train_and_observe(inputs, tmp_path / "b", method, seed=11)
    for name in TRAIN_FILES:
        if name == "history.tsv":  # identical except the measured wall time per epoch
            ha, hb = (pd.read_csv(p / "mps" / name, sep="\t").drop(columns="seconds") for p in (a, b))
            pd.testing.assert_frame_equal(ha, hb, check_exact=True)
        else:
            assert digest(a / "mps" / name) == digest(b / "mps" / name), name
    for name in OBSERVE_FILES:
        assert digest(a / "obs" / name) == digest(b / "obs" / name), name


def test_different_seeds_differ_and_are_recorded(inputs, tmp_path):
    a = train_and_observe(inputs, tmp_path / "a", "sweep", seed=1)
    b = train_and_observe(inputs, tmp_path / "b", "sweep", seed=2)
    assert digest(a / "mps" / "model.npz") != digest(b / "mps" / "model.npz")
    for run, seed in ((a, 1), (b, 2)):
        info = json.loads((run / "mps" / "run_info.json").read_text())
        assert info["seed"] == seed
        assert info["versions"]["numpy"] == np.__version__
        obs_info = json.loads((run / "obs" / "run_info.json").read_text())
        assert obs_info["stage"] == "observe" and "versions" in obs_info

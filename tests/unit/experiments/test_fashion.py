"""Fashion-MNIST grokking experiment: loader, downsampling, task draws, spectra, and tiny end-to-end runs."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.dense import dense_state, random_state

from mpsomics.core.errors import InputError
from mpsomics.dynamics import grokking
from mpsomics.experiments.fashion_mnist import data
from mpsomics.experiments.fashion_mnist import report as fashion_report
from mpsomics.experiments.fashion_mnist import runs as fx
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.observables import half_chain_bond, label_schmidt_values, observe_all
from mpsomics.mps.state import load_model
from mpsomics.mps.sweep import train_sweep

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data" / "fashion_mnist"


@pytest.fixture(scope="module")
def bundled():
    return data.load(DATA)


# ----------------------------------------------------------------------------- data


def test_bundled_files_md5():
    for name, md5 in data.MD5.items():
        assert hashlib.md5((DATA / name).read_bytes()).hexdigest() == md5, name
    provenance = (DATA / "PROVENANCE.txt").read_text()
    assert all(md5 in provenance for md5 in data.MD5.values())


def test_loader_shape_and_label_counts(bundled):
    images, labels = bundled
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,)
    assert np.bincount(labels).tolist() == [1000] * 10
    assert images.max() == 255 and images.min() == 0


def test_read_idx_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        data.read_idx(tmp_path / "nope.gz")
    with pytest.raises(InputError, match="is a directory"):
        data.read_idx(tmp_path)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(InputError, match="not an IDX file") as e:
        data.read_idx(bad)
    assert str(bad) in str(e.value)
    short = tmp_path / "short.idx.gz"
    header = b"\x00\x00\x08\x03" + np.array([2, 28, 28], dtype=">u4").tobytes()
    short.write_bytes(gzip.compress(header + b"\x00" * 100))
    with pytest.raises(InputError, match="header says"):
        data.read_idx(short)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(header + b"\x00" * (2 * 28 * 28))[:30])
    with pytest.raises(InputError, match="cannot decompress"):
        data.read_idx(broken)


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x.idx"
    p.write_bytes(b"\x00\x00\x08\x03" + np.array(arr.shape, dtype=">u4").tobytes() + arr.tobytes())
    np.testing.assert_array_equal(data.read_idx(p), arr)


def test_area_downsampling():
    a = data.area_matrix(28, 6)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    # every input pixel contributes 6/28 of an output pixel in total
    np.testing.assert_allclose(a.sum(axis=0), 6 / 28)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(3, 28, 28)).astype(np.uint8)
    small = data.downsample(img, 6)
    assert small.shape == (3, 6, 6) and small.min() >= 0 and small.max() <= 1
    np.testing.assert_allclose(small.mean(axis=(1, 2)), img.mean(axis=(1, 2)) / 255, rtol=1e-12)
    # an integer ratio is plain block averaging
    img24 = img[:, 2:26, 2:26]
    blocks = img24.reshape(3, 6, 4, 6, 4).mean(axis=(2, 4)) / 255
    np.testing.assert_allclose(data.downsample(img24, 6), blocks, rtol=1e-12)
    # row-by-row unrolling: site 6 r + c is pixel (r, c)
    X = data.features(img, 6)
    np.testing.assert_allclose(X[:, 6 * 2 + 5], small[:, 2, 5])
    assert data.pixel_names(6)[6 * 2 + 5] == "p2_5"


def test_task_split(bundled):
    _, labels = bundled
    for task in data.all_tasks():
        tr, ytr, te, yte = data.task_split(labels, task, n_per_label=60, seed=3)
        assert len(tr) == len(te) == 60
        assert np.bincount(ytr).tolist() == [30, 30] and np.bincount(yte).tolist() == [30, 30]
        assert not set(tr) & set(te)
        both = np.concatenate([tr, te])
        y = np.concatenate([ytr, yte])
        if task.control:
            assert (labels[both] == data.SNEAKER).all()
        else:
            assert (labels[both[y == 1]] == data.SNEAKER).all()
            assert (labels[both[y == 0]] == task.other).all()
    t = data.task_by_name("sneaker_vs_dress")
    a = data.task_split(labels, t, n_per_label=60, seed=0)
    b = data.task_split(labels, t, n_per_label=60, seed=0)
    c = data.task_split(labels, t, n_per_label=60, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(InputError, match="unknown Fashion-MNIST task"):
        data.task_by_name("sneaker_vs_hat")
    with pytest.raises(InputError, match="needs 1200 sneaker images"):
        data.task_split(labels, data.Task(data.SNEAKER), n_per_label=600, seed=0)
    with pytest.raises(InputError, match="needs 2000 (sneaker|tshirt) images"):
        data.task_split(labels, data.Task(0), n_per_label=2000, seed=0)


# ----------------------------------------------------------------------------- physics


@pytest.mark.parametrize("label_site", [0, 3, 6])
def test_label_schmidt_values_match_dense(label_site):
    n = 7
    st = random_state(n, 3, label_site=label_site, seed=label_site + 1)
    psi = np.moveaxis(dense_state(st), -1, label_site)  # label axis next to its site
    for bond in range(n - 1):
        rows = 2 ** (bond + 1) * (st.n_classes if label_site <= bond else 1)
        m = psi.reshape(rows, -1)
        ref = np.linalg.svd(m / np.linalg.norm(m), compute_uv=False)
        got = label_schmidt_values(st, bond)
        k = len(got)
        np.testing.assert_allclose(got, ref[:k], atol=1e-10)
        assert np.sum(ref[k:] ** 2) < 1e-20
    with pytest.raises(IndexError):
        label_schmidt_values(st, n - 1)


def test_random_init_starts_entangled():
    rng = np.random.default_rng(0)
    X = rng.random((20, 12))
    y = np.arange(20) % 2
    first = {}
    for init in ("uniform", "random"):
        cfg = TrainConfig(method="sweep", bond_dim=8, init_bond_dim=8, epochs=1, init=init, seed=1, output_scale="fixed")

        def on_epoch(epoch, state, loss, init=init):
            if epoch == 0:
                first[init] = observe_all(state, correlations=False)["entropy"].sum()

        train_sweep(X, y, genes=[f"p{i}" for i in range(12)], classes=["a", "b"], config=cfg, on_epoch=on_epoch)
    assert first["uniform"] < 0.05 < 1.0 < first["random"]


def test_sneaker_vs_dress_learns_and_the_control_does_not(bundled, tmp_path):
    """Real behaviour at a small setting: a separable task generalises, the control stays at chance."""
    images, labels = bundled
    X = data.features(images)
    cfg = TrainConfig(method="sweep", bond_dim=16, init_bond_dim=16, epochs=15, lr=0.01, class_weights="none",
                      output_scale="fixed", init="random")
    rows = {}
    for name in ("sneaker_vs_dress", "sneaker_vs_sneaker"):
        rows[name] = fx.run_one(X, labels, data.task_by_name(name), 0, tmp_path / name, n_per_label=60, config=cfg)
    assert rows["sneaker_vs_dress"]["final_test_balanced_accuracy"] >= 0.85
    assert rows["sneaker_vs_sneaker"]["final_test_balanced_accuracy"] <= 0.7
    # the entanglement of the random start falls while the model learns
    ent = pd.read_csv(tmp_path / "sneaker_vs_dress" / "entanglement_trajectory.tsv", sep="\t")
    tot = ent.groupby("epoch")["entropy"].sum()
    assert tot.iloc[-1] < 0.8 * tot.iloc[0]


def test_raw_environments_generalise_late_at_the_entanglement_collapse(bundled, tmp_path):
    """The paper's picture with the textbook update (the experiment's default): test accuracy sits
    near chance for tens of sweeps, then jumps in the sweep where the entanglement collapses."""
    images, labels = bundled
    X = data.features(images)
    cfg = TrainConfig(method="sweep", bond_dim=32, init_bond_dim=32, epochs=60, lr=1.0, class_weights="none",
                      output_scale="fixed", init="random", environments="raw")
    row = fx.run_one(X, labels, data.task_by_name("sneaker_vs_dress"), 1, tmp_path / "run", n_per_label=60,
                     config=cfg)
    h = pd.read_csv(tmp_path / "run" / "history.tsv", sep="\t")
    ent = pd.read_csv(tmp_path / "run" / "entanglement_trajectory.tsv", sep="\t").groupby("epoch")["entropy"].sum()
    assert h["test_accuracy"].iloc[:30].max() <= 0.75  # a long plateau near chance
    assert h["test_accuracy"].iloc[-1] >= 0.9  # then generalisation
    gen = int(h["epoch"][h["test_accuracy"] >= 0.9].iloc[0])
    assert gen >= 30
    assert ent.iloc[-1] < 0.3 * ent.iloc[0]  # the entanglement collapsed ...
    assert abs(int(row["transition_epoch"]) - gen) <= 2  # ... at the sweep of generalisation
    assert ent.loc[gen - 3] > 0.8 * ent.iloc[0]  # and not before


# ----------------------------------------------------------------------------- end to end


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mpsomics", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


TINY = ["--epochs", "4", "--bond-dim", "4", "--init-bond-dim", "4", "--n-per-label", "10"]


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if "id" in a:
            self.ids.add(a["id"])


def test_cli_end_to_end(tmp_path):
    tasks = "sneaker_vs_dress,sneaker_vs_trouser,sneaker_vs_sneaker"
    out = tmp_path / "fashion"
    proc = _cli("fashion-grokking", "--data", str(DATA), "--out-dir", str(out), "--tasks", tasks,
                "--seeds", "0,1", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert len(summary) == 6 and set(summary["seed"]) == {0, 1}
    comp = pd.read_csv(out / "comparison.tsv", sep="\t")
    assert comp["task"].tolist() == ["sneaker_vs_trouser", "sneaker_vs_dress", "sneaker_vs_sneaker"]  # class order
    dress = comp.set_index("task").loc["sneaker_vs_dress"]
    assert dress["paper_grokking_sweep"] == 60 and dress["paper_final_test_accuracy"] == 0.88
    accs = summary[summary["task"] == "sneaker_vs_dress"]["final_test_accuracy"]
    assert dress["final_test_accuracy_mean"] == pytest.approx(accs.mean(), rel=1e-5)
    assert dress["final_test_accuracy_sd"] == pytest.approx(accs.std(ddof=1), rel=1e-5)

    run = out / "runs" / "sneaker_vs_dress" / "seed0"
    hist = pd.read_csv(run / "history.tsv", sep="\t")
    assert hist["epoch"].tolist() == list(range(5))
    for col in ("train_accuracy", "test_accuracy", "test_sensitivity", "test_specificity"):
        assert hist[col].between(0, 1).all()
    ent = pd.read_csv(run / "entanglement_trajectory.tsv", sep="\t")
    assert set(ent["label"]) == {"dress", "sneaker"} and ent["bond"].max() == 34
    # the default label-permutation control: its entropies, and the run's verdict against it
    ctrl = pd.read_csv(run / fx.CONTROLS_ENTANGLEMENT_FILE, sep="\t")
    assert set(ctrl["control"]) == {0} and ctrl["bond"].max() == 34
    row = summary[(summary["task"] == "sneaker_vs_dress") & (summary["seed"] == 0)].iloc[0]
    assert row["n_controls"] == 1 and row["transition_status"] in grokking.STATUSES
    assert row["transition_found"] == (row["transition_status"] == "transition")
    assert {"n_transition", "n_beats_control"} <= set(comp.columns)
    spec = pd.read_csv(run / "spectrum.tsv", sep="\t", dtype={"state": str})
    assert set(spec["state"]) == {"all", "dress", "sneaker"}
    sums = spec.groupby(["epoch", "state"])["eigenvalue"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    # the last epoch's spectrum is that of the saved model
    model = load_model(run / "model.npz")
    last = spec[(spec["epoch"] == 4) & (spec["state"] == "all")].sort_values("rank")["eigenvalue"].to_numpy()
    ref = label_schmidt_values(model, half_chain_bond(36)) ** 2
    np.testing.assert_allclose(last, ref[ref >= fx.SPECTRUM_FLOOR], atol=1e-12)

    html = (out / "report.html").read_text()
    assert callable(fashion_report.write_report)
    p = _Images()
    p.feed(html)
    assert {"comparison", "task-sneaker_vs_dress", "task-sneaker_vs_sneaker"} <= p.ids
    assert len(p.srcs) >= 5 and all(s.startswith("data:image/png;base64,") for s in p.srcs)
    assert "http://" not in html and "https://" not in html.replace("https://json-schema", "")
    assert html.count("Half-chain spectrum: eigenvalues") == 1  # dress vs sneaker only
    assert "<td>environments</td><td>normalized</td>" in html and "<td>bond_dim</td><td>4</td>" in html

    # complete runs are not retrained; fashion-summary alone rebuilds the tables
    before = (run / "model.npz").stat().st_mtime_ns
    proc = _cli("fashion-grokking", "--data", str(DATA), "--out-dir", str(out), "--tasks", tasks,
                "--seeds", "0,1", *TINY, cwd=tmp_path)
    assert proc.returncode == 0 and "already complete" in proc.stderr
    assert (run / "model.npz").stat().st_mtime_ns == before
    (out / "summary.tsv").unlink()
    runs = [str(out / "runs" / t / f"seed{s}") for t in tasks.split(",") for s in (0, 1)]
    proc = _cli("fashion-summary", "--runs", *runs, "--out-dir", str(out), cwd=tmp_path)
    assert proc.returncode == 0 and (out / "summary.tsv").is_file()
    assert pd.read_csv(out / "summary.tsv", sep="\t").equals(summary)


def test_cli_one_run(tmp_path):
    """`fashion-run` trains one (task, seed) into the directory it is given."""
    run = tmp_path / "r" / "dress0"
    proc = _cli("fashion-run", "--images", str(DATA / data.IMAGES_FILE), "--labels", str(DATA / data.LABELS_FILE),
                "--task", "sneaker_vs_dress", "--seed", "0", "--out-dir", str(run), *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {"history.tsv", "entanglement_trajectory.tsv", "magnetization_trajectory.tsv", "spectrum.tsv",
            "grokking.tsv", "model.npz", "run_info.json"} <= {p.name for p in run.iterdir()}
    proc = _cli("fashion-run", "--task", "sneaker_vs_hat", "--seed", "0", "--out-dir", str(run), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task" in proc.stderr


def test_cli_bad_input(tmp_path):
    out = tmp_path / "out"
    proc = _cli("fashion-grokking", "--data", str(tmp_path / "missing"), "--out-dir", str(out),
                "--tasks", "sneaker_vs_dress", "--seeds", "0", *TINY, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "missing") in lines[0] and "--data: folder not found" in lines[0]
    assert not (out / "runs").exists()
    proc = _cli("fashion-summary", "--runs", str(out / "runs" / "sneaker_vs_dress" / "seed0"), "--out-dir", str(out),
                cwd=tmp_path)
    assert proc.returncode == 2 and "run missing" in proc.stderr and not (out / "summary.tsv").exists()
    proc = _cli("fashion-grokking", "--out-dir", str(out), "--tasks", "sneaker_vs_hat", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task" in proc.stderr


@pytest.mark.slow
def test_snakemake_target(tmp_path):
    shutil.copytree(ROOT / ".test", tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("results", ".snakemake"))
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["fashion"]["data"] = str(DATA)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
            "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    dry = subprocess.run([*base, "-n"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    table = (dry.stdout + dry.stderr).split("Job stats:", 1)[1]
    planned = set(re.findall(r"^(\w+)\s+\d+\s*$", table, flags=re.M)) - {"total"}
    assert "prepare" in planned and not any(r.startswith("fashion") for r in planned)  # off in `all`
    proc = subprocess.run([*base, "fashion_grokking"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "results" / "fashion"
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert sorted(summary["task"]) == ["sneaker_vs_dress", "sneaker_vs_sneaker"]
    assert (out / "report.html").stat().st_size > 10_000
    for task in ("sneaker_vs_dress", "sneaker_vs_sneaker"):
        assert (tmp_path / "results" / "logs" / "fashion" / task / "seed0.log").is_file()
        assert (tmp_path / "results" / "benchmarks" / "fashion" / task / "seed0.tsv").is_file()

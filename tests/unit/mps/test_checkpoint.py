"""Checkpoints of ``mpsomics train``: kill -9 and resume bit-identically, fingerprints,
atomic writes, and divergence keeping the last good checkpoint."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import mpsomics.mps.checkpoint as ckpt_mod
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import TrainingDivergedError, fit

anndata = pytest.importorskip("anndata")

GENES = [f"G{i}" for i in range(12)]
TRAIN_FILES = ["model.npz", "entanglement_trajectory.tsv", "magnetization_trajectory.tsv", "correlations_trajectory.npz"]


@pytest.fixture(scope="module")
def inputs(make_prepared) -> tuple[Path, Path]:
    return make_prepared("ckpt", n_samples=150, n_genes=12, n_train=100)


def _cmd(inputs, out: Path, method: str) -> list[str]:
    h5, genes = inputs
    return [sys.executable, "-m", "mpsomics", "train", "--expression", str(h5), "--genes", str(genes),
            "--out-dir", str(out), "--method", method, "--bond-dim", "4", "--epochs", "40",
            "--seed", "3", "--threads", "1", "--observe-every", "3", "--checkpoint-every", "2",
            "--batch-size", "16"]  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ckpt_epoch(path: Path) -> int:
    try:
        return int(ckpt_mod.read(path)["epoch"])
    except Exception:  # noqa: BLE001 - not there yet
        return -1


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_killed_run_resumes_bit_identically(inputs, tmp_path, method):
    ref = tmp_path / "ref" / "c01"
    proc = subprocess.run(_cmd(inputs, ref, method), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "ref" / "c01.checkpoint.pt").exists()  # deleted on success

    out = tmp_path / "run" / "c01"
    ckpt = tmp_path / "run" / "c01.checkpoint.pt"
    p = subprocess.Popen(
        _cmd(inputs, out, method), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    t0 = time.monotonic()
    try:
        while _ckpt_epoch(ckpt) <= 2:
            assert p.poll() is None, "training finished before it could be killed"
            assert time.monotonic() - t0 < 60, "no checkpoint past epoch 2"
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
        p.stderr.close()
    killed_at = _ckpt_epoch(ckpt)
    assert 2 < killed_at < 40
    assert not out.exists()  # the output directory is written atomically at the end

    proc = subprocess.run(_cmd(inputs, out, method), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = [ln for ln in proc.stderr.splitlines() if "resuming from epoch" in ln]
    assert len(resumed) == 1 and str(ckpt) in resumed[0], proc.stderr[-2000:]
    assert int(resumed[0].split("resuming from epoch ")[1].split()[0]) >= killed_at
    assert not ckpt.exists()
    assert not [q.name for q in ckpt.parent.iterdir() if q.name.startswith(".")]

    for name in TRAIN_FILES:
        assert _digest(out / name) == _digest(ref / name), name
    if method == "sweep":
        assert _digest(out / "singular_values.npz") == _digest(ref / "singular_values.npz")
    ha, hb = (pd.read_csv(d / "history.tsv", sep="\t") for d in (ref, out))
    pd.testing.assert_frame_equal(
        ha.drop(columns="seconds"), hb.drop(columns="seconds"), check_exact=True
    )
    import json

    info = json.loads((out / "run_info.json").read_text())
    assert info["resumed_from_epoch"] >= killed_at and info["checkpoint"] == str(ckpt)


# ------------------------------------------------------------------ in-process fit
def _toy(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 6))
    y = (X[:, 1] + X[:, 4] > 1.0).astype(int)
    return X, y


KW = dict(genes=list("abcdef"), classes=["n", "t"], observe_every=3)


class _Kill(Exception):
    pass


def _interrupted(monkeypatch, X, y, cfg, path, at_epoch):
    """Run fit until the checkpoint of ``at_epoch`` is written, then 'kill' it."""
    real = ckpt_mod.save

    def save(p, payload):
        real(p, payload)
        if payload["epoch"] == at_epoch:
            raise _Kill

    monkeypatch.setattr(ckpt_mod, "save", save)
    with pytest.raises(_Kill):
        fit(X, y, X[:20], y[:20], config=cfg, checkpoint_path=path, **KW)
    monkeypatch.setattr(ckpt_mod, "save", real)
    assert _ckpt_epoch(path) == at_epoch


def _same(a, b):
    (sa, ha, oa), (sb, hb, ob) = a, b
    assert all(np.array_equal(x, z) for x, z in zip(sa.sites, sb.sites, strict=True))
    pd.testing.assert_frame_equal(
        ha.drop(columns="seconds"), hb.drop(columns="seconds"), check_exact=True
    )
    assert oa.epochs == ob.epochs
    assert all(np.array_equal(x, z) for x, z in zip(oa.connected, ob.connected, strict=True))


def test_other_config_or_input_is_not_resumed(tmp_path, monkeypatch, caplog):
    X, y = _toy()
    cfg = TrainConfig(method="sweep", bond_dim=3, epochs=8, lr=0.1, checkpoint_every=2, seed=1)
    path = tmp_path / "c.checkpoint.pt"
    _interrupted(monkeypatch, X, y, cfg, path, 4)
    other_seed = TrainConfig(**{**cfg.to_dict(), "seed": 2})
    other_X = X.copy()
    other_X[0, 0] = 0.5 if other_X[0, 0] != 0.5 else 0.25
    for c, Xc in ((other_seed, X), (cfg, other_X)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mpsomics"):
            got = fit(Xc, y, Xc[:20], y[:20], config=c, checkpoint_path=path, **KW)
        assert "fingerprint mismatch" in caplog.text and "resuming" not in caplog.text
        assert "resumed_from_epoch" not in got[1].attrs
        _same(got, fit(Xc, y, Xc[:20], y[:20], config=c, **KW))
        assert _ckpt_epoch(path) == 6  # replaced by this run's checkpoints (last: epoch 6 of 8)
        _interrupted(monkeypatch, X, y, cfg, path, 4)  # restore the original checkpoint

    # epochs may grow (and checkpoint_every change): resume continues to the new total
    longer = TrainConfig(**{**cfg.to_dict(), "epochs": 10, "checkpoint_every": 3})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mpsomics"):
        got = fit(X, y, X[:20], y[:20], config=longer, checkpoint_path=path, **KW)
    assert "resuming from epoch 4" in caplog.text and got[1].attrs["resumed_from_epoch"] == 4
    _same(got, fit(X, y, X[:20], y[:20], config=longer, **KW))


@pytest.mark.parametrize("garbage", ["truncated", "text", "empty"])
def test_corrupt_checkpoint_is_ignored_with_warning(tmp_path, monkeypatch, caplog, garbage):
    X, y = _toy()
    cfg = TrainConfig(method="gradient", bond_dim=3, epochs=6, lr=0.05, batch_size=16,
                      checkpoint_every=2, ema_decay=0.9)  # fmt: skip
    path = tmp_path / "c.checkpoint.pt"
    _interrupted(monkeypatch, X, y, cfg, path, 2)
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "text": b"not a checkpoint", "empty": b""}[garbage]
    )
    with caplog.at_level(logging.WARNING, logger="mpsomics"):
        got = fit(X, y, X[:20], y[:20], config=cfg, checkpoint_path=path, **KW)
    assert "ignoring unreadable checkpoint" in caplog.text and str(path) in caplog.text
    _same(got, fit(X, y, X[:20], y[:20], config=cfg, **KW))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    X, y = _toy()
    cfg = TrainConfig(method="sweep", bond_dim=3, epochs=8, lr=0.1, checkpoint_every=2)
    path = tmp_path / "c.checkpoint.pt"
    _interrupted(monkeypatch, X, y, cfg, path, 2)
    before = path.read_bytes()
    real = ckpt_mod._write

    def dying_save(fh, arrays):  # a crash half-way through writing the next checkpoint
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod, "_write", dying_save)
    with pytest.raises(OSError):
        fit(X, y, X[:20], y[:20], config=cfg, checkpoint_path=path, **KW)
    monkeypatch.setattr(ckpt_mod, "_write", real)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert sorted(q.name for q in tmp_path.iterdir()) == [path.name]  # no temporary left


# ------------------------------------------------------------------ divergence
def _inject_nan(monkeypatch, method, epoch, n_sites=6, steps_per_epoch=3):
    """Make the tensors NaN right after the first update of ``epoch``."""
    count = [0]
    if method == "sweep":
        import mpsomics.mps.sweep as sweep

        real = sweep._Sweeper.bond
        first = (n_sites - 1) + 2 * (n_sites - 1) * (epoch - 1) + 1

        def bond(self, j, right, update):
            out = real(self, j, right, update)
            count[0] += 1
            if count[0] == first:
                self.sites[j + 1] = self.sites[j + 1] * np.nan
            return out

        monkeypatch.setattr(sweep._Sweeper, "bond", bond)
    else:
        import mpsomics.mps.gradient as gradient

        real_adam = gradient.make_adam
        first = steps_per_epoch * (epoch - 1) + 1

        def make_adam(params, lr=1e-3):
            opt = real_adam(params, lr)
            real_step = opt.step

            def step(*a, **k):
                out = real_step(*a, **k)
                count[0] += 1
                if count[0] == first:
                    with torch.no_grad():
                        opt.param_groups[0]["params"][0].fill_(float("nan"))
                return out

            opt.step = step
            return opt

        monkeypatch.setattr(gradient, "make_adam", make_adam)


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_divergence_at_right_epoch_keeps_last_checkpoint(tmp_path, monkeypatch, caplog, method):
    X, y = _toy(n=48)  # gradient: 48 samples / batch 16 = 3 steps per epoch
    cfg = TrainConfig(method=method, bond_dim=3, epochs=8, lr=0.1 if method == "sweep" else 0.05,
                      batch_size=16, checkpoint_every=2)  # fmt: skip
    path = tmp_path / "c07.checkpoint.pt"
    with monkeypatch.context() as m:
        _inject_nan(m, method, epoch=5)
        with pytest.raises(TrainingDivergedError) as exc:
            fit(X, y, X[:0], y[:0], config=cfg, checkpoint_path=path, name="c07", **KW)
    msg = str(exc.value)
    assert exc.value.epoch == 5 and "epoch 5" in msg and "c07" in msg and "\n" not in msg
    assert str(path) in msg and "epoch 4" in msg and "--lr" in msg
    assert _ckpt_epoch(path) == 4  # the last good state, kept on disk
    # resume from it with a smaller lr (lr is not part of the fingerprint)
    smaller = TrainConfig(**{**cfg.to_dict(), "lr": cfg.lr / 2})
    with caplog.at_level(logging.INFO, logger="mpsomics"):
        state, hist, _ = fit(X, y, X[:0], y[:0], config=smaller, checkpoint_path=path, **KW)
    assert "resuming from epoch 4" in caplog.text and "continuing with lr" in caplog.text
    assert hist["epoch"].tolist() == list(range(9)) and np.isfinite(hist["loss"][1:]).all()
    assert hist.attrs["resumed_lr"] == cfg.lr


def test_divergence_without_checkpoint_suggests_smaller_lr():
    X, y = _toy()
    cfg = TrainConfig(method="gradient", bond_dim=3, epochs=3, lr=1e30, batch_size=16)
    with pytest.raises(TrainingDivergedError) as exc:
        fit(X, y, X[:0], y[:0], config=cfg, name="c02", **KW)
    assert exc.value.epoch == 1 and "smaller --lr" in str(exc.value)


def test_default_checkpoint_path_is_a_sibling():
    assert ckpt_mod.default_checkpoint_path("results/mps/c01") == Path(
        "results/mps/c01.checkpoint.pt"
    )
    fields = ckpt_mod.fingerprint_fields(TrainConfig())
    assert not {"epochs", "lr", "checkpoint_every"} & set(fields)
    assert {"method", "bond_dim", "seed", "dtype", "loss", "threads"} <= set(fields)
    assert "epochs" in ckpt_mod.fingerprint_fields(
        TrainConfig(method="gradient", lr_schedule="cosine")
    )
    assert os.sep not in ckpt_mod.default_checkpoint_path("c01").name


@pytest.mark.parametrize(
    "extra",
    [
        dict(method="sweep", lr=0.1, validation_fraction=0.25, early_stopping=True, patience=4),
        dict(method="gradient", lr=0.05, batch_size=16, lr_schedule="cosine", ema_decay=0.8,
             validation_fraction=0.25, early_stopping=True),
    ],
)  # fmt: skip
def test_resume_with_validation_and_early_stopping_is_identical(tmp_path, monkeypatch, extra):
    X, y = _toy(n=80)
    cfg = TrainConfig(bond_dim=3, epochs=10, checkpoint_every=3, **extra)
    path = tmp_path / "c.checkpoint.pt"
    ref = fit(X, y, X[:20], y[:20], config=cfg, **KW)
    _interrupted(monkeypatch, X, y, cfg, path, 6)
    got = fit(X, y, X[:20], y[:20], config=cfg, checkpoint_path=path, **KW)
    assert got[1].attrs["resumed_from_epoch"] == 6
    assert got[1].attrs["best_epoch"] == ref[1].attrs["best_epoch"]
    _same(got, ref)
    # a checkpoint at or past the requested epochs is not used
    shorter = TrainConfig(**{**cfg.to_dict(), "epochs": 6})
    if cfg.lr_schedule == "constant":
        assert "resumed_from_epoch" not in fit(X, y, X[:20], y[:20], config=shorter,
                                               checkpoint_path=path, **KW)[1].attrs  # fmt: skip

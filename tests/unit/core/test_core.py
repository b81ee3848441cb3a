"""Shared conventions: one-line errors, atomic outputs, metrics, the model file format."""

from __future__ import annotations

import numpy as np
import pytest

from mpsomics import cli
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir, atomic_path
from mpsomics.core.metrics import classification_metrics
from mpsomics.mps.state import MPSState, load_model, save_model


def test_input_error_is_one_line_and_names_the_file():
    err = InputError("data/x.tsv", "bad\nvalue   in\trow 3")
    assert str(err) == "data/x.tsv: bad value in row 3"
    assert "\n" not in str(err)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "file.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_suffix_and_renames(tmp_path):
    target = tmp_path / "x.tar.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".tar.gz")
        tmp.write_text("ok")
    assert target.read_text() == "ok"


def test_atomic_dir_replaces_whole_directory_only_on_success(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_metrics_with_explicit_positive_class():
    y_true = np.array([1, 1, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 0, 1])
    m = classification_metrics(y_true, y_pred, positive=1)
    assert m["sensitivity"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx(0.625)
    assert m["accuracy"] == pytest.approx(4 / 6)
    flipped = classification_metrics(1 - y_true, 1 - y_pred, positive=0)
    assert flipped == m


def _state(label_site=1):
    rng = np.random.default_rng(0)
    sites = [rng.normal(size=(1, 2, 3)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=(2, 2, 1))]
    if label_site != 1:
        sites[1] = rng.normal(size=(3, 2, 2))
        sites[label_site] = rng.normal(size=sites[label_site].shape[:2] + (2,) + sites[label_site].shape[2:])
    return MPSState(sites, label_site, ["A", "B", "C"], ["normal", "tumor"])


def test_model_round_trip(tmp_path):
    state = _state()
    save_model(state, tmp_path / "model.npz")
    back = load_model(tmp_path / "model.npz")
    assert back.genes == state.genes and back.classes == state.classes
    assert back.label_site == 1 and back.bond_dims == [3, 2]
    for a, b in zip(back.sites, state.sites, strict=True):
        np.testing.assert_array_equal(a, b)
    with np.load(tmp_path / "model.npz") as z:  # readable without mpsomics
        assert z["site_1"].shape == (3, 2, 2, 2)
        assert str(z["feature_map"]) == "cos_sin_half_pi"


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "corrupt"),
        (lambda p: p.write_text("gene\tvalue\n"), "corrupt"),
    ],
)
def test_corrupt_model_gives_input_error(tmp_path, corrupt, message):
    path = tmp_path / "model.npz"
    save_model(_state(), path)
    corrupt(path)
    with pytest.raises(InputError, match=message):
        load_model(path)


def test_inconsistent_bonds_are_rejected(tmp_path):
    state = _state()
    state.sites[2] = np.ones((3, 2, 1))
    with pytest.raises(InputError, match="left bond"):
        state.validate("m.npz")


def test_cli_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for stage in cli.STAGES:
        assert stage in out


def test_run_info_goes_inside_directories_and_beside_files(tmp_path):
    import argparse
    import json

    from mpsomics.core.provenance import record

    outdir = tmp_path / "observables" / "c01"
    outdir.mkdir(parents=True)
    path = record("observe", argparse.Namespace(stage="observe", out=str(outdir), seed=3), ["observe"])
    assert path == outdir / "run_info.json"
    info = json.loads(path.read_text())
    assert info["seed"] == 3 and info["stage"] == "observe"
    assert info["versions"]["numpy"] != "not installed"

    out_file = tmp_path / "grokking" / "c01.tsv"
    out_file.parent.mkdir()
    out_file.write_text("x\n")
    path = record("grokking", argparse.Namespace(stage="grokking", out=str(out_file)), ["grokking"])
    assert path == tmp_path / "grokking" / "c01.run_info.json"

    # a stage's own richer record is completed, never overwritten
    (outdir / "run_info.json").write_text(json.dumps({"seed": 7, "config": {"bond_dim": 4}}))
    record("train", argparse.Namespace(stage="train", out=str(outdir), seed=7), ["train"])
    info = json.loads((outdir / "run_info.json").read_text())
    assert info["config"] == {"bond_dim": 4} and "versions" in info


def test_no_run_info_without_output(tmp_path):
    import argparse

    from mpsomics.core.provenance import record

    assert record("x", argparse.Namespace(out=str(tmp_path / "missing.tsv")), []) is None
    assert not any(tmp_path.iterdir())

"""``mpsomics controls`` end to end: label-permutation controls of the entanglement transition."""

from __future__ import annotations

import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.dynamics import training_run
from mpsomics.mps.fit import HISTORY_COLUMNS

pytest.importorskip("anndata")

K = 20  # enough controls for their mean test accuracy to sit near chance (seeded, not flaky)


@pytest.fixture(scope="module")
def prepared(make_prepared):
    # 160 samples, 80 train, label x_2 + x_5 > 1: a real run learns it within 3 epochs
    return make_prepared("controls", 160, 6, 80)


def controls_argv(h5, genes, out, *extra: str) -> list[str]:
    return ["controls", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(out),
            "--epochs", "3", "--bond-dim", "4", *extra]  # fmt: skip


def test_controls_files_are_seeded_and_sit_at_chance(prepared, tmp_path):
    h5, genes = prepared
    out = tmp_path / "controls" / "c01"
    assert main(controls_argv(h5, genes, out, "--controls", str(K))) == 0
    ent_file, hist_file = out / training_run.CONTROL_ENTANGLEMENT_FILE, out / training_run.CONTROL_HISTORY_FILE

    ent = training_run.load_control_entanglement(ent_file)
    hist = training_run.load_control_history(hist_file)
    raw = pd.read_csv(ent_file, sep="\t")
    assert list(raw.columns) == ["control", "epoch", "label", "bond", "entropy"]
    assert sorted(ent["control"].unique()) == list(range(K))
    # observe_every is 1: entropies at every epoch, 5 bonds of 6 genes, both classes
    assert sorted(ent["epoch"].unique()) == [0, 1, 2, 3]
    assert len(ent) == K * 4 * 2 * 5
    hist_cols = pd.read_csv(hist_file, sep="\t", nrows=0).columns.tolist()
    assert hist_cols[0] == "control" and hist_cols[1 : 1 + len(HISTORY_COLUMNS)] == HISTORY_COLUMNS

    # The test labels are not permuted: a model trained on shuffled labels predicts them at
    # chance on average, while the real run on the same data learns them.
    last = hist[hist["epoch"] == hist["epoch"].max()]
    assert len(last) == K
    assert abs(float(last["test_balanced_accuracy"].mean()) - 0.5) < 0.1
    real = tmp_path / "mps" / "c01"
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(real),
                 "--epochs", "3", "--bond-dim", "4", "--checkpoint-every", "0"]) == 0  # fmt: skip
    real_hist = training_run.load_history(real)
    assert float(real_hist["test_balanced_accuracy"].iloc[-1]) > 0.75

    # Same seed: identical files (but for the wall time per epoch); another seed: other permutations.
    again = tmp_path / "controls" / "again"
    assert main(controls_argv(h5, genes, again, "--controls", str(K))) == 0
    assert (again / training_run.CONTROL_ENTANGLEMENT_FILE).read_bytes() == ent_file.read_bytes()
    ha, hb = (pd.read_csv(d / training_run.CONTROL_HISTORY_FILE, sep="\t").drop(columns="seconds") for d in (out, again))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)
    other = tmp_path / "controls" / "other"
    assert main(controls_argv(h5, genes, other, "--controls", "2", "--permutation-seed", "7")) == 0
    assert (other / training_run.CONTROL_ENTANGLEMENT_FILE).read_bytes() != ent_file.read_bytes()


def test_bad_inputs_fail_cleanly(prepared, tmp_path, capsys):
    h5, genes = prepared
    out = tmp_path / "controls" / "c01"
    # --controls 0: an argument error naming the option, nothing written
    with pytest.raises(SystemExit) as exc:
        main(controls_argv(h5, genes, out, "--controls", "0"))
    assert exc.value.code == 2
    assert "argument --controls" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()
    # a gene missing from the expression file: one line naming it and the gene list
    bad = tmp_path / "genes.txt"
    bad.write_text("G0\nG1\nNOPE\n")
    assert main(controls_argv(h5, bad, out, "--controls", "2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NOPE" in err[0] and str(bad) in err[0]
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temp leftovers


def test_grokking_refuses_controls_of_another_run(prepared, tmp_path, capsys):
    h5, genes = prepared
    real = tmp_path / "mps" / "c01"
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(real),
                 "--epochs", "3", "--bond-dim", "4", "--checkpoint-every", "0"]) == 0  # fmt: skip
    ctrl = tmp_path / "controls" / "c01"
    assert main(controls_argv(h5, genes, ctrl, "--controls", "2")) == 0
    ent = pd.read_csv(ctrl / training_run.CONTROL_ENTANGLEMENT_FILE, sep="\t")
    bad = tmp_path / "other_labels.tsv"
    ent.assign(label=ent["label"].replace({"tumor": "sneaker"})).to_csv(bad, sep="\t", index=False)
    out = tmp_path / "g" / "c01.tsv"
    argv = ["grokking", "--history", str(real / "history.tsv"),
            "--entanglement", str(real / "entanglement_trajectory.tsv"),
            "--control-entanglement", str(bad), "--community", "c01", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "labels" in err[0]
    assert not out.exists()
    # the matching file is accepted and gives the control columns
    argv[argv.index(str(bad))] = str(ctrl / training_run.CONTROL_ENTANGLEMENT_FILE)
    assert main(argv) == 0
    row = pd.read_csv(out, sep="\t").iloc[0]
    assert row["n_controls"] == 2

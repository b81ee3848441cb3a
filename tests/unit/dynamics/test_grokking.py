"""Grokking analysis: planted entropy minimum and planted (delayed or not) accuracy jumps."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.dynamics import grokking, training_run

CLASSES = ["normal", "tumor"]
N_BONDS = 4
HISTORY_COLUMNS = [
    "epoch", "loss", "train_accuracy", "train_balanced_accuracy", "train_sensitivity",
    "train_specificity", "test_accuracy", "test_balanced_accuracy", "test_sensitivity",
    "test_specificity", "seconds", "max_bond",
]  # fmt: skip


def entropy_profile(e: np.ndarray) -> np.ndarray:
    """Rise to a peak at 10, slow decline, sharp drop 20..26 (minimum at 26), slow regrowth."""
    return np.interp(e, [0, 10, 20, 26, 60], [0.0, 1.0, 0.9, 0.2, 0.3])


def make_history(train: np.ndarray, test: np.ndarray | None) -> pd.DataFrame:
    epochs = np.arange(train.size)
    df = pd.DataFrame({c: np.nan for c in HISTORY_COLUMNS}, index=epochs)
    df["epoch"] = epochs
    df["loss"] = 1.0 - 0.5 * train
    for part, acc in (("train", train), ("test", test)):
        if acc is None:
            df = df.drop(columns=[c for c in df.columns if c.startswith(f"{part}_")])
            continue
        for m in ("accuracy", "balanced_accuracy", "sensitivity", "specificity"):
            df[f"{part}_{m}"] = acc
    df["seconds"] = 0.1
    df["max_bond"] = 8
    return df.reset_index(drop=True)


def make_entanglement(epochs: np.ndarray, profile=entropy_profile) -> pd.DataFrame:
    rows = []
    for e in epochs:
        for k, lab in enumerate(CLASSES):
            s = profile(np.array([e], dtype=float))[0] * (1.0 + 0.2 * k)
            for b in range(N_BONDS):
                # The bond profile is uneven (middle bonds larger) but sums to s * N_BONDS.
                rows.append({"epoch": int(e), "label": lab, "bond": b, "entropy": s * (1 + 0.1 * (b - 1.5))})
    return pd.DataFrame(rows)


def grokking_history(n: int = 61) -> pd.DataFrame:
    """Train saturates at epoch 5; test sits at ~0.5 and jumps at epoch 30."""
    e = np.arange(n)
    train = np.minimum(1.0, 0.5 + 0.1 * e)
    rng = np.random.default_rng(1)
    test = np.where(e < 30, 0.5 + rng.uniform(-0.01, 0.01, n), 0.95)
    return make_history(train, test)


def grokking_argv(d: Path, community: str, out: Path) -> list[str]:
    """``mpsomics grokking`` on the files of train directory ``d``."""
    return ["grokking", "--history", str(d / training_run.HISTORY_FILE),
            "--entanglement", str(d / training_run.ENTANGLEMENT_FILE), "--community", community, "--out", str(out)]


def write_train_dir(d: Path, history: pd.DataFrame, entanglement: pd.DataFrame | None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    history.to_csv(d / "history.tsv", sep="\t", index=False)
    if entanglement is not None:
        entanglement.to_csv(d / training_run.ENTANGLEMENT_FILE, sep="\t", index=False)
    return d


OBSERVED = np.arange(0, 61, 2)  # --observe-every 2


def test_planted_transition_and_delayed_jump_is_grokking():
    row = grokking.analyze(grokking_history(), make_entanglement(OBSERVED), name="c01")
    assert "community" not in row  # the caller adds its id column
    assert row["transition_epoch"] == 26
    assert row["initial_phase_end_epoch"] == 10
    assert row["max_rate_epoch"] == 24  # middle of the sharp drop 20..26
    assert row["max_rate"] < 0
    assert row["transition_epoch_normal"] == 26 and row["transition_epoch_tumor"] == 26
    assert row["train_saturated_epoch"] == 5
    assert row["jump_epoch"] == 30
    assert row["plateau_end_epoch"] == 29
    assert row["grokking"] is True
    assert row["lag"] == 4
    assert row["final_test_balanced_accuracy"] == pytest.approx(0.95)
    assert row["final_train_balanced_accuracy"] == pytest.approx(1.0)
    assert row["best_train_epoch"] == 5
    assert row["notes"] == ""


def test_explicit_initial_phase():
    row = grokking.analyze(grokking_history(), make_entanglement(OBSERVED), initial_epochs=30)
    # entropy regrows after 26, so the minimum over epochs >= 30 is the first one: it never
    # falls below the start of the phase, which is no transition (the same rule as automatic)
    assert row["initial_phase_end_epoch"] == 30
    assert row["min_entropy_epoch"] == 30
    assert row["transition_status"] == "no_drop"
    assert math.isnan(row["transition_epoch"]) and math.isnan(row["lag"])
    earlier = grokking.analyze(grokking_history(), make_entanglement(OBSERVED), initial_epochs=10)
    assert earlier["transition_epoch"] == 26 and earlier["initial_phase_end_epoch"] == 10


def test_no_jump_is_not_grokking():
    e = np.arange(61)
    hist = make_history(np.minimum(1.0, 0.5 + 0.1 * e), np.full(61, 0.5))
    row = grokking.analyze(hist, make_entanglement(OBSERVED))
    assert row["grokking"] is False
    assert math.isnan(row["jump_epoch"]) and math.isnan(row["lag"])
    assert row["n_jumps"] == 0
    assert row["transition_epoch"] == 26  # the entropy analysis is independent of the test metric


def test_early_generalisation_is_not_grokking():
    e = np.arange(61)
    train = np.minimum(1.0, 0.5 + 0.1 * e)  # saturated at 5
    test = np.minimum(0.9, np.where(e < 3, 0.5, 0.5 + 0.1 * (e - 2)))  # rises with train from 3
    row = grokking.analyze(make_history(train, test), make_entanglement(OBSERVED))
    assert row["jump_epoch"] == 3
    assert row["grokking"] is False
    assert row["first_jump_epoch"] == 3


def test_later_jump_after_saturation_is_preferred():
    """An early partial rise, then a plateau with saturated train, then a second jump."""
    e = np.arange(61)
    train = np.minimum(1.0, 0.5 + 0.1 * e)
    test = np.select([e < 3, e < 30], [0.5, 0.7], 0.95)
    row = grokking.analyze(make_history(train, test), make_entanglement(OBSERVED))
    assert row["first_jump_epoch"] == 3
    assert row["jump_epoch"] == 30
    assert row["n_jumps"] == 2
    assert row["grokking"] is True


def test_find_jumps_definition():
    # plateau of exactly 3 epochs (range 0.04 < 0.05), rise of exactly delta at the 5th epoch after
    acc = [0.50, 0.52, 0.54, 0.56, 0.58, 0.60, 0.62, 0.64]
    assert grokking.find_jumps(range(8), acc, delta=0.1, window=5, plateau=3) == [(2, 7)]
    # a step after a long plateau: onset = last plateau epoch
    step = [0.5] * 10 + [0.9] * 3
    assert grokking.find_jumps(range(13), step, delta=0.1, window=5, plateau=3) == [(9, 10)]
    # the same rise but spread over more than `window` epochs is not a jump
    slow = [0.5, 0.5, 0.5, 0.52, 0.54, 0.56, 0.58, 0.59, 0.6]
    assert grokking.find_jumps(range(9), slow, delta=0.1, window=5, plateau=3) == []
    # a noisy "plateau" (range >= delta/2) does not qualify
    noisy = [0.5, 0.56, 0.5, 0.9, 0.9]
    assert grokking.find_jumps(range(5), noisy, delta=0.1, window=5, plateau=3) == []
    # NaN breaks a plateau
    assert grokking.find_jumps(range(5), [0.5, np.nan, 0.5, 0.9, 0.9], plateau=3) == []


def test_missing_test_columns_warn(caplog):
    e = np.arange(61)
    hist = make_history(np.minimum(1.0, 0.5 + 0.1 * e), None)
    with caplog.at_level(logging.WARNING, logger="mpsomics.dynamics.grokking"):
        row = grokking.analyze(hist, make_entanglement(OBSERVED))
    assert row["grokking"] is None
    assert math.isnan(row["jump_epoch"]) and math.isnan(row["final_test_balanced_accuracy"])
    assert row["final_train_balanced_accuracy"] == 1.0  # the train metric is still there
    assert "test_balanced_accuracy" in row["notes"]
    assert row["transition_epoch"] == 26
    assert any("test_balanced_accuracy" in r.message for r in caplog.records)


def test_too_few_epochs_and_constant_entropy():
    row = grokking.analyze(grokking_history(3), make_entanglement(np.array([0, 2])))
    assert math.isnan(row["transition_epoch"]) and math.isnan(row["max_rate_epoch"])
    assert "need >= 3" in row["notes"]
    flat = make_entanglement(OBSERVED, profile=lambda e: np.full_like(e, 0.7))
    row = grokking.analyze(grokking_history(), flat)
    assert math.isnan(row["transition_epoch"]) and math.isnan(row["lag"])
    assert "constant" in row["notes"]
    assert row["jump_epoch"] == 30  # the accuracy analysis still works


def test_monotone_growth_has_no_transition():
    grow = make_entanglement(OBSERVED, profile=lambda e: e / 60.0)
    row = grokking.analyze(grokking_history(), grow)
    assert math.isnan(row["transition_epoch"])
    assert row["transition_status"] == "no_drop" and row["entropy_drop"] == 0.0
    assert "never falls below its peak" in row["notes"]
    # without a transition there is nothing a control could be beaten by
    assert row["beats_control"] is False and row["n_controls"] == 0


def _status(S, **kw) -> dict:
    e = np.arange(len(S))
    return grokking.entropy_transition(e, np.asarray(S, dtype=float), **kw)


def test_transition_needs_a_large_drop_before_the_last_epoch():
    rise = list(np.linspace(0, 10, 11))
    # a clear collapse to 20 % of the peak, then a slight regrowth: a transition at its minimum
    collapse = rise + [8, 5, 3, 2, 2.5, 3, 3.2, 3.3, 3.4, 3.5]
    res = _status(collapse)
    assert res["transition_status"] == "transition" and res["transition_epoch"] == 14
    assert res["entropy_drop"] == pytest.approx(0.8)
    # a tiny late dip is no transition (it used to be one: the global minimum after the peak)
    dip = rise + [10, 10, 10, 10, 9.7, 10, 10, 10, 10, 10]
    res = _status(dip)
    assert res["transition_status"] == "small_drop" and math.isnan(res["transition_epoch"])
    assert res["min_entropy_epoch"] == 15 and res["entropy_drop"] == pytest.approx(0.03)
    # still falling at the last epoch: no minimum reached
    falling = rise + [9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5]
    res = _status(falling)
    assert res["transition_status"] == "still_falling" and math.isnan(res["transition_epoch"])
    # min_drop is the criterion: the dip counts when it is allowed to be small
    assert _status(dip, min_drop=0.01)["transition_status"] == "transition"
    assert _status([1.0, 1.0, 1.0])["transition_status"] == "flat"
    assert _status([1.0, 2.0])["transition_status"] == "too_few_epochs"


def _controls(drops: list[float], epochs: np.ndarray = OBSERVED) -> pd.DataFrame:
    """Control entropies: a rise to 1 at epoch 10, then a fall by ``drop``, regrowing slightly."""
    rows = []
    for k, drop in enumerate(drops):
        for e in epochs:
            s = e / 10 if e <= 10 else max(1 - drop, 1 - drop * (e - 10) / 10) + (0.01 * (e - 20) if e > 20 else 0)
            for lab in CLASSES:
                for b in range(N_BONDS):
                    rows.append((k, int(e), lab, b, s / N_BONDS))
    return pd.DataFrame(rows, columns=["control", "epoch", "label", "bond", "entropy"])


def test_a_transition_counts_only_when_it_beats_every_control():
    real = grokking.analyze(grokking_history(), make_entanglement(OBSERVED))
    assert real["transition_status"] == "transition"
    drop = real["entropy_drop"]
    weak = grokking.analyze(grokking_history(), make_entanglement(OBSERVED),
                            control_entanglement=_controls([0.1, 0.2, 0.0]))
    assert weak["n_controls"] == 3 and weak["beats_control"] is True
    assert weak["control_p"] == pytest.approx(1 / 4)
    assert weak["control_max_drop"] == pytest.approx(0.2, abs=0.02)
    # one control collapses as much as the real run (the sneaker-vs-sneaker case): no longer counts
    strong = grokking.analyze(grokking_history(), make_entanglement(OBSERVED),
                              control_entanglement=_controls([0.1, min(0.99, drop + 0.05)]))
    assert strong["beats_control"] is False and strong["control_transitions"] == 1
    assert strong["control_p"] == pytest.approx(2 / 3)
    # a transition without controls: undefined
    assert real["beats_control"] is None


def test_controls_command_and_grokking_option(tmp_path):
    """`mpsomics controls` on a tiny prepared file, then `grokking --control-entanglement`."""
    import anndata

    rng = np.random.default_rng(0)
    n, genes = 40, [f"G{i}" for i in range(5)]
    y = np.repeat([0, 1], n // 2)
    X = np.clip(rng.normal(0.5 + 0.15 * y[:, None], 0.15, (n, 5)), 0, 1)
    obs = pd.DataFrame({"label": np.array(["normal", "tumor"])[y], "group": [f"p{i // 2}" for i in range(n)],
                        "split": np.where(np.arange(n) % 4 == 0, "test", "train")}, index=[f"s{i}" for i in range(n)])
    ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))
    ad.uns["classes"], ad.uns["positive_label"] = ["normal", "tumor"], "tumor"
    ad.layers["log"] = X
    h5 = tmp_path / "x.h5ad"
    ad.write_h5ad(h5)
    gl = tmp_path / "genes.txt"
    gl.write_text("\n".join(genes) + "\n")
    out = tmp_path / "controls" / "c01"
    argv = ["controls", "--expression", str(h5), "--genes", str(gl), "--out-dir", str(out), "--controls", "3",
            "--epochs", "4", "--bond-dim", "4"]
    assert main(argv) == 0
    ent = training_run.load_control_entanglement(out / "entanglement_trajectory.tsv")
    hist = training_run.load_control_history(out / "history.tsv")
    assert sorted(ent["control"].unique()) == [0, 1, 2] and sorted(hist["epoch"].unique()) == list(range(5))
    first = (out / "entanglement_trajectory.tsv").read_bytes()
    assert main(argv) == 0 and (out / "entanglement_trajectory.tsv").read_bytes() == first  # seeded
    train = tmp_path / "mps" / "c01"
    assert main(["train", "--expression", str(h5), "--genes", str(gl), "--out-dir", str(train), "--epochs", "4",
                 "--bond-dim", "4", "--checkpoint-every", "0"]) == 0
    g = tmp_path / "g.tsv"
    assert main(["grokking", "--history", str(train / "history.tsv"), "--entanglement",
                 str(train / "entanglement_trajectory.tsv"), "--control-entanglement",
                 str(out / "entanglement_trajectory.tsv"), "--community", "c01", "--out", str(g)]) == 0
    row = pd.read_csv(g, sep="\t").iloc[0]
    assert row["n_controls"] == 3 and row["transition_status"] in grokking.STATUSES
    # --entanglement of a run without a transition: no controls trained, header-only files
    skip = tmp_path / "controls" / "skip"
    assert main([*argv[:6], str(skip), *argv[7:], "--entanglement", str(train / "entanglement_trajectory.tsv"),
                 "--min-drop", "1"]) == 0
    assert training_run.load_control_entanglement(skip / "entanglement_trajectory.tsv").empty
    # a control file of another chain is refused, naming it
    other = ent.copy()
    other = other[other["bond"] < 2]
    bad = tmp_path / "bad.tsv"
    other.to_csv(bad, sep="\t", index=False)
    assert main(["grokking", "--history", str(train / "history.tsv"), "--entanglement",
                 str(train / "entanglement_trajectory.tsv"), "--control-entanglement", str(bad),
                 "--community", "c01", "--out", str(tmp_path / "g2.tsv")]) != 0
    assert not (tmp_path / "g2.tsv").exists()


def test_label_permutations_kept_their_home_and_stream():
    from mpsomics.core import stats
    from mpsomics.omics import baselines

    y = np.array([0, 1, 0, 1, 1, 0])
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    assert baselines.label_permutations is stats.label_permutations
    p = stats.label_permutations(y, groups, 4, seed=3)
    assert np.array_equal(p, stats.label_permutations(y, groups, 4, seed=3))
    # every patient keeps its label mix
    for row in p:
        for g in "abc":
            assert sorted(row[groups == g]) == sorted(y[groups == g])


def test_cli_row_and_summary(tmp_path):
    d1 = write_train_dir(tmp_path / "mps" / "c01", grokking_history(), make_entanglement(OBSERVED))
    e = np.arange(61)
    flat = make_history(np.minimum(1.0, 0.5 + 0.1 * e), np.full(61, 0.5))
    d2 = write_train_dir(tmp_path / "mps" / "c02", flat, make_entanglement(OBSERVED))
    out1, out2 = tmp_path / "g" / "c01.tsv", tmp_path / "g" / "c02.tsv"
    assert main(grokking_argv(d1, "c01", out1)) == 0
    assert main([*grokking_argv(d2, "c02", out2), "--delta", "0.2"]) == 0
    df = pd.read_csv(out1, sep="\t")
    assert list(df.columns[:10]) == grokking.MAIN_COLUMNS
    r = df.iloc[0]
    assert (r["transition_epoch"], r["jump_epoch"], r["lag"], r["grokking"]) == (26, 30, 4, True)
    text = out2.read_text().splitlines()
    header, values = text[0].split("\t"), text[1].split("\t")
    cells = dict(zip(header, values, strict=True))
    assert cells["jump_epoch"] == "" and cells["lag"] == "" and cells["grokking"] == "False"
    assert cells["transition_epoch"] == "26"  # integers, not 26.0
    assert cells["delta"] == "0.2" and cells["initial_epochs"] == ""

    summary = tmp_path / "g" / "summary.tsv"
    assert main(["grokking-summary", str(out1), str(out2), "--out", str(summary)]) == 0
    s = pd.read_csv(summary, sep="\t")
    assert s["community"].tolist() == ["c01", "c02"]
    assert s["grokking"].tolist() == [True, False]
    assert grokking.load_grokking(out1)["transition_epoch"] == 26


@pytest.mark.parametrize(
    "which, content, expect",
    [
        ("history.tsv", "epoch\tloss\nzero\t1.0\n", "non-numeric"),
        ("history.tsv", "epoch\ttest_balanced_accuracy\n0\t0.5\n0\t0.6\n", "duplicate epoch"),
        ("history.tsv", "epoch\ttest_balanced_accuracy\n0\t1.5\n", "outside [0, 1]"),
        ("history.tsv", "", "empty file"),
        ("entanglement_trajectory.tsv", "epoch\tlabel\tbond\n0\tnormal\t0\n", "missing column"),
        ("entanglement_trajectory.tsv", "epoch\tlabel\tbond\tentropy\n0\tnormal\t0\t0.1\n0\ttumor\t1\t0.1\n", "incomplete grid"),
        ("entanglement_trajectory.tsv", "epoch\tlabel\tbond\tentropy\n0\tnormal\t0\t-1\n", "negative"),
        ("entanglement_trajectory.tsv", None, "missing file"),
    ],
)
def test_malformed_inputs_fail_cleanly(tmp_path, capsys, which, content, expect):
    d = write_train_dir(tmp_path / "mps", grokking_history(), make_entanglement(OBSERVED))
    if content is None:
        (d / which).unlink()
    else:
        (d / which).write_text(content)
    out = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, "c01", out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(d / which) in err and expect in err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temp leftovers either


def test_summary_rejects_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("foo\tbar\n1\t2\n")
    assert main(["grokking-summary", str(bad), "--out", str(tmp_path / "s.tsv")]) == 2
    assert "missing column(s) community, transition_epoch" in capsys.readouterr().err
    assert not (tmp_path / "s.tsv").exists()


def test_readers_return_validated_frames(tmp_path):
    d = write_train_dir(tmp_path / "mps", grokking_history(), make_entanglement(OBSERVED[::-1]))
    h = training_run.load_history(d)
    assert h["epoch"].tolist() == list(range(61)) and h["epoch"].dtype == np.int64
    ent = training_run.load_entanglement(d)
    assert ent["epoch"].is_monotonic_increasing
    assert set(ent.columns) == {"epoch", "label", "bond", "entropy"}


def test_transition_steps_on_a_tiny_curve():
    e = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    s = np.array([1.0, 3.0, 2.0, 0.5, 0.6, 0.7])
    assert grokking.initial_phase_end(e, s, None) == 1  # the peak in the first half
    assert grokking.initial_phase_end(e, s, 3) == 3
    i, rate = grokking.largest_rate_interval(e, s, 1, rate_smooth=1)
    assert (i, rate) == (2, -1.5)  # the drop 2.0 -> 0.5 between epochs 2 and 3
    res = grokking.entropy_transition(e, s, rate_smooth=1)
    assert (res["transition_epoch"], res["max_rate_epoch"]) == (3.0, 3.0)

"""Values later stages read (issue 15): every bad value is one error line naming the file or option.

One block per class of the issue: malformed ``model.npz`` fields, grokking epochs that are
not integers, ``history.tsv`` cut mid-row, epochs of one run's files that disagree, ±1e308
with ``prepare --scale log``, option errors naming the option, and the Fashion-MNIST
``--size`` / hand-edited run cases. Each checks exit code 2, one stderr line, the file or
option in it, and that nothing was written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.dense import random_state

from mpsomics.cli import main
from mpsomics.dynamics import grokking, training_run
from mpsomics.mps.state import save_model

CLASSES = ["normal", "tumor"]
GENES = ["g0", "g1", "g2", "g3"]


def code(argv: list[str]) -> int:
    """Exit code of ``mpsomics argv`` (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if " error: " in ln or ln.startswith("mpsomics")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def empty_or_absent(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


# ------------------------------------------------------------------------------ model.npz

def _model(tmp_path: Path, **fields) -> Path:
    good = tmp_path / "good.npz"
    save_model(random_state(4, 2, label_site=1), good)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(fields)
    bad = tmp_path / "model.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    return bad


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"label_site": np.array([1, 2])}, "label_site"),
        ({"label_site": np.array(0.6)}, "label_site"),
        ({"label_site": np.array(np.nan)}, "label_site"),
        ({"genes": np.array("g0")}, "genes"),
        ({"classes": np.array("a")}, "classes"),
        ({"site_0": np.array([[["a", "b"]]])}, "site_0"),
        ({"site_0": np.zeros((1, 2, 2), dtype=np.complex128)}, "site_0"),
        ({"site_2": np.full((2, 2, 2), np.inf)}, "site_2"),
    ],
)
def test_malformed_model_fields(tmp_path, capsys, fields, needle):
    model = _model(tmp_path, **fields)
    out = tmp_path / "obs"
    assert main(["observe", "--model", str(model), "--out-dir", str(out)]) == 2
    one_error(capsys, str(model), needle)
    assert empty_or_absent(out)


# ------------------------------------------------------------------------- a training run

def history(n: int = 21) -> pd.DataFrame:
    e = np.arange(n)
    acc = np.where(e < 10, 0.5, 0.9)
    return pd.DataFrame({"epoch": e, "loss": 1.0 - 0.5 * acc, "train_balanced_accuracy": np.minimum(1.0, 0.5 + 0.1 * e),
                         "test_balanced_accuracy": acc, "max_bond": 4})


def entanglement(epochs) -> pd.DataFrame:
    rows = [(int(e), lab, b, float(np.interp(e, [0, 5, 12, 20], [0.1, 1.0, 0.2, 0.3])) * (1 + k))
            for e in epochs for k, lab in enumerate(CLASSES) for b in range(len(GENES) - 1)]
    return pd.DataFrame(rows, columns=["epoch", "label", "bond", "entropy"])


def magnetization(epochs) -> pd.DataFrame:
    rows = [(int(e), lab, s, g, 0.1 * (k + 1)) for e in epochs for k, lab in enumerate(CLASSES)
            for s, g in enumerate(GENES)]
    return pd.DataFrame(rows, columns=["epoch", "label", "site", "gene", "magnetization"])


def correlations(path: Path, epochs) -> Path:
    n = len(GENES)
    c = np.tile(np.eye(n) * 0.5, (len(epochs), len(CLASSES), 1, 1))
    c[..., 0, 1] = c[..., 1, 0] = 0.4
    with open(path, "wb") as fh:
        np.savez(fh, epochs=np.asarray(epochs, dtype=np.int64), classes=np.asarray(CLASSES),
                 genes=np.asarray(GENES), connected=c)
    return path


def run_dir(d: Path, *, ent_shift: int = 0, mag_shift: int = 0) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    observed = np.arange(0, 21, 2)
    history().to_csv(d / training_run.HISTORY_FILE, sep="\t", index=False)
    entanglement(observed + ent_shift).to_csv(d / training_run.ENTANGLEMENT_FILE, sep="\t", index=False)
    magnetization(observed + mag_shift).to_csv(d / training_run.MAGNETIZATION_FILE, sep="\t", index=False)
    correlations(d / training_run.CORRELATIONS_FILE, observed)
    return d


def grokking_argv(d: Path, out: Path, history_file: Path | None = None) -> list[str]:
    return ["grokking", "--history", str(history_file or d / training_run.HISTORY_FILE),
            "--entanglement", str(d / training_run.ENTANGLEMENT_FILE), "--community", "c01", "--out", str(out)]


def test_consistent_run_passes(tmp_path):
    d = run_dir(tmp_path / "mps")
    out = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, out)) == 0
    assert main(["subcommunities", "--correlations", str(d / training_run.CORRELATIONS_FILE),
                 "--magnetization", str(d / training_run.MAGNETIZATION_FILE), "--grokking", str(out),
                 "--community", "c01", "--out-dir", str(tmp_path / "s"), "--methods", "paper"]) == 0


# -------------------------------------------------------------------- history.tsv cut mid-row

@pytest.mark.parametrize("cut", ["mid_last_field", "after_tab", "mid_row"])
def test_history_cut_mid_row(tmp_path, capsys, cut):
    d = run_dir(tmp_path / "mps")
    text = (d / training_run.HISTORY_FILE).read_text()
    body = text.rstrip("\n")
    cut_at = {"mid_last_field": len(body) - 1, "after_tab": body.rfind("\t") + 1, "mid_row": body.rfind("\t") - 2}[cut]
    bad = tmp_path / "history.tsv"
    bad.write_text(body[:cut_at])
    out = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, out, bad)) == 2
    one_error(capsys, str(bad), "line 22")
    assert empty_or_absent(out.parent)


def test_ragged_quoted_row_is_an_error(tmp_path, capsys):
    d = run_dir(tmp_path / "mps")
    bad = tmp_path / "history.tsv"
    bad.write_text('epoch\tloss\tnote\n0\t1.0\t"x"\n1\t0.9\n')
    assert main(grokking_argv(d, tmp_path / "g.tsv", bad)) == 2
    one_error(capsys, str(bad), "line 3 has 2 fields but the header has 3")


# --------------------------------------------------------------- epochs of one run's files

@pytest.mark.parametrize("shift", [50, 100])
def test_grokking_refuses_shifted_entanglement(tmp_path, capsys, shift):
    d = run_dir(tmp_path / "mps", ent_shift=shift)
    out = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, out)) == 2
    one_error(capsys, str(d / training_run.ENTANGLEMENT_FILE), str(d / training_run.HISTORY_FILE), "same training run")
    assert empty_or_absent(out.parent)


@pytest.mark.parametrize("shift", [1, 50, 100])
def test_subcommunities_refuses_shifted_magnetization(tmp_path, capsys, shift):
    d = run_dir(tmp_path / "mps", mag_shift=shift)
    grok = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, grok)) == 0
    out = tmp_path / "s"
    assert main(["subcommunities", "--correlations", str(d / training_run.CORRELATIONS_FILE),
                 "--magnetization", str(d / training_run.MAGNETIZATION_FILE), "--grokking", str(grok),
                 "--community", "c01", "--out-dir", str(out)]) == 2
    one_error(capsys, str(d / training_run.MAGNETIZATION_FILE), str(d / training_run.CORRELATIONS_FILE))
    assert empty_or_absent(out)


# ------------------------------------------------------------------------- grokking epochs

@pytest.mark.parametrize("col", ["transition_epoch", "jump_epoch", "lag"])
@pytest.mark.parametrize("value, needle", [("inf", "infinite"), ("3.7", "expected an integer"), ("-inf", "infinite")])
def test_grokking_epochs_must_be_integers(tmp_path, capsys, col, value, needle):
    d = run_dir(tmp_path / "mps")
    grok = tmp_path / "g" / "c01.tsv"
    assert main(grokking_argv(d, grok)) == 0
    df = pd.read_csv(grok, sep="\t", dtype=str, keep_default_na=False)
    df[col] = value
    df.to_csv(grok, sep="\t", index=False)
    out = tmp_path / "s"
    assert main(["subcommunities", "--correlations", str(d / training_run.CORRELATIONS_FILE),
                 "--magnetization", str(d / training_run.MAGNETIZATION_FILE), "--grokking", str(grok),
                 "--community", "c01", "--out-dir", str(out)]) == 2
    one_error(capsys, str(grok), repr(col), needle)
    assert empty_or_absent(out)
    summary = tmp_path / "summary.tsv"
    assert main(["grokking-summary", str(grok), "--out", str(summary)]) == 2
    one_error(capsys, str(grok), repr(col))
    assert not summary.exists()


# ------------------------------------------------------------------------------- prepare

def _prepare_files(tmp_path: Path, huge: bool) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    n, g = 24, 8
    samples = [f"S{i:02d}" for i in range(n)]
    expr = pd.DataFrame(rng.uniform(1, 12, (g, n)).round(3), index=[f"G{i}" for i in range(g)], columns=samples)
    if huge:
        expr.iloc[0, :4] = [1e308, -1e308, 1.7e308, -1.7e308]
        expr.iloc[1, 5] = -1.79e308
    expression, sheet = tmp_path / "expr.tsv", tmp_path / "sheet.tsv"
    expr.rename_axis("symbol").reset_index().to_csv(expression, sep="\t", index=False)
    pd.DataFrame({"sample": samples, "label": ["normal", "tumor"] * (n // 2),
                  "patient": [f"P{i}" for i in range(n)]}).to_csv(sheet, sep="\t", index=False)
    return expression, sheet


def _prepare(expression: Path, sheet: Path, out: Path, *extra: str) -> int:
    return code(["prepare", "--expression", str(expression), "--samples", str(sheet), "--sample-col", "sample",
                 "--group-col", "patient", "--out", str(out), *extra])


def test_prepare_log_scale_near_float_limits_is_finite(tmp_path):
    anndata = pytest.importorskip("anndata")
    expression, sheet = _prepare_files(tmp_path, huge=True)
    out = tmp_path / "p.h5ad"
    with np.errstate(all="raise"):  # no overflow warning left in the scaling either
        assert _prepare(expression, sheet, out, "--scale", "log") == 0
    a = anndata.read_h5ad(out)
    x = np.asarray(a.X)
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    assert np.isfinite(a.var["scale_min"]).all() and np.isfinite(a.var["scale_max"]).all()


def test_prepare_refuses_non_finite_x_before_writing(tmp_path, monkeypatch, capsys):
    from mpsomics.omics.prepare import pipeline

    expression, sheet = _prepare_files(tmp_path, huge=False)

    def broken(x, train):
        return np.full(x.shape, np.nan), x.min(axis=0), x.max(axis=0)

    monkeypatch.setattr(pipeline, "minmax_fit_transform", broken)
    out = tmp_path / "p.h5ad"
    assert _prepare(expression, sheet, out) == 2
    one_error(capsys, str(expression), "not finite")
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**32)], "--seed"),
        (["--seed", "x"], "--seed"),
        (["--min-expression", "nan"], "--min-expression"),
        (["--min-samples-per-class", "0"], "--min-samples-per-class"),
        (["--clinical", "sheet.tsv"], "--clinical:"),
    ],
)
def test_prepare_option_errors_name_the_option_not_the_input(tmp_path, capsys, extra, needle):
    expression, sheet = _prepare_files(tmp_path, huge=False)
    extra = [str(tmp_path / e) if e == "sheet.tsv" else e for e in extra]
    out = tmp_path / "p.h5ad"
    assert _prepare(expression, sheet, out, *extra) == 2
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and needle in line[0], err
    assert str(sheet) not in line[0] and str(expression) not in line[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "stage, option",
    [("prepare", "--seed"), ("communities", "--seed"), ("train", "--seed"), ("cv", "--seed"),
     ("subcommunities", "--seed"), ("classical-subcommunities", "--seed"), ("stability", "--seed"),
     ("stability", "--leiden-seed"), ("controls", "--permutation-seed"), ("validate", "--seed"),
     ("fits", "--seed"), ("fashion-run", "--seed"), ("fashion-grokking", "--seeds")],
)
@pytest.mark.parametrize("value", ["-1", str(2**32), "1.5"])
def test_every_seed_option_takes_0_to_2_32_minus_1(stage, option, value, capsys):
    """One seed type (argtypes.random_seed): the schema's bounds, argparse names the option."""
    with pytest.raises(SystemExit) as exc:
        main([stage, option, value])
    assert exc.value.code == 2
    line = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(line) == 1 and f"argument {option}" in line[0] and "2**32 - 1" in line[0], line


# ------------------------------------------------------------------------- fashion-mnist

def test_fashion_size_larger_than_the_images(tmp_path, capsys):
    root = Path(__file__).resolve().parents[2] / "data" / "fashion_mnist"
    out = tmp_path / "run"
    assert main(["fashion-run", "--images", str(root / "t10k-images-idx3-ubyte.gz"),
                 "--labels", str(root / "t10k-labels-idx1-ubyte.gz"), "--task", "sneaker_vs_dress",
                 "--seed", "0", "--out-dir", str(out), "--size", "40", "--epochs", "1"]) == 2
    one_error(capsys, "--size", "28 x 28")
    assert not out.exists()
    assert main(["fashion-grokking", "--data", str(root), "--out-dir", str(tmp_path / "f"), "--tasks",
                 "sneaker_vs_dress", "--seeds", "0", "--size", "29", "--epochs", "1"]) == 2
    one_error(capsys, "--size")
    assert not (tmp_path / "f" / "runs").exists()


def fashion_run(d: Path, task: str, seed: int) -> Path:
    """A finished run directory written by hand (the files `fashion-run` writes, tiny)."""
    d.mkdir(parents=True)
    h = history()
    for part in ("train", "test"):
        for m in ("accuracy", "sensitivity", "specificity"):
            h[f"{part}_{m}"] = h[f"{part}_balanced_accuracy"]
    h.to_csv(d / training_run.HISTORY_FILE, sep="\t", index=False)
    entanglement(np.arange(21)).to_csv(d / training_run.ENTANGLEMENT_FILE, sep="\t", index=False)
    row = {"task": task, "seed": seed, **grokking.analyze(h, training_run.load_entanglement(d), name=task)}
    df = grokking.to_frame([row])
    grokking.write_tsv(df[["task", "seed"] + [c for c in df.columns if c not in ("task", "seed")]], d / "grokking.tsv")
    return d


@pytest.mark.parametrize(
    "edit, file, needle",
    [
        ("grokking_header_only", "grokking.tsv", "exactly one data row"),
        ("grokking_seed_fraction", "grokking.tsv", "'seed'"),
        ("grokking_same_seed", "grokking.tsv", "again"),
        ("history_cut", "history.tsv", "cut mid-row"),
        ("history_no_test_columns", "history.tsv", "missing column"),
        ("entanglement_shifted", "entanglement_trajectory.tsv", "same training run"),
    ],
)
def test_fashion_summary_after_a_hand_edited_run(tmp_path, capsys, edit, file, needle):
    runs = tmp_path / "f" / "runs"
    a = fashion_run(runs / "sneaker_vs_trouser" / "seed0", "sneaker_vs_trouser", 0)
    b = fashion_run(runs / "sneaker_vs_trouser" / "seed1", "sneaker_vs_trouser", 1)
    out = tmp_path / "f"
    assert main(["fashion-summary", "--runs", str(a), str(b), "--out-dir", str(out)]) == 0
    tables = ("summary.tsv", "comparison.tsv", "report.html")
    before = {name: (out / name).read_bytes() for name in tables}
    g, h, e = b / "grokking.tsv", b / training_run.HISTORY_FILE, b / training_run.ENTANGLEMENT_FILE
    if edit == "grokking_header_only":
        g.write_text(g.read_text().splitlines()[0] + "\n")
    elif edit in ("grokking_seed_fraction", "grokking_same_seed"):
        df = pd.read_csv(g, sep="\t", dtype=str, keep_default_na=False)
        df["seed"] = "1.5" if edit == "grokking_seed_fraction" else "0"
        df.to_csv(g, sep="\t", index=False)
    elif edit == "history_cut":
        h.write_text(h.read_text()[:-7])
    elif edit == "history_no_test_columns":
        pd.read_csv(h, sep="\t")[["epoch", "loss"]].to_csv(h, sep="\t", index=False)
    else:
        ent = pd.read_csv(e, sep="\t")
        ent["epoch"] += 50
        ent.to_csv(e, sep="\t", index=False)
    assert main(["fashion-summary", "--runs", str(a), str(b), "--out-dir", str(out)]) == 2
    one_error(capsys, str(b / file), needle)
    assert {name: (out / name).read_bytes() for name in tables} == before  # nothing rewritten
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left

"""``mpsomics stability`` and ``stability-summary`` end to end on the planted community.

The reference subcommunities come from the real stages (``train`` -> ``grokking`` ->
``subcommunities``) with the settings the planted acceptance test was calibrated with
(``tests/unit/omics/test_planted.py``); ``stability`` reruns that chain on bootstrap
resamples of the patients.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.commands import stability as stability_command
from mpsomics.commands import stability_summary
from mpsomics.validation import stability as st
from mpsomics.validation.stats import jaccard

anndata = pytest.importorskip("anndata")


def _planted_generator():
    path = Path(__file__).resolve().parents[1] / "unit" / "omics" / "test_planted.py"
    spec = importlib.util.spec_from_file_location("planted_generator_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planted_gen = _planted_generator()
MPS = ["--bond-dim", "10", "--epochs", "30", "--lr", "0.05", "--seed", "0"]
SUB = ["--methods", "graph", "--graph-threshold", "0.1"]
#: what the contract of docs/outputs.md promises (the report and verdicts read these)
DECLARED = ["community", "subcommunity", "method", "n_genes", "jaccard_mean", "jaccard_low",
            "jaccard_high", "n_resamples", "contrast", "contrast_null_p"]


def reference_run(root: Path, discriminative: bool) -> dict[str, Path]:
    """Prepared h5ad, genes and the main run's train -> grokking -> subcommunities outputs."""
    root.mkdir(parents=True, exist_ok=True)
    h5 = root / "expression.h5ad"
    planted_gen.make_community(0, discriminative=discriminative).write_h5ad(h5)
    genes = root / "c01.txt"
    genes.write_text("\n".join(planted_gen.GENES) + "\n")
    mps = root / "mps" / "c01"
    assert main(["train", "--expression", str(h5), "--genes", str(genes), "--out-dir", str(mps),
                 "--observe-every", "1", "--checkpoint-every", "0", *MPS]) == 0
    grok = root / "grokking" / "c01.tsv"
    assert main(["grokking", "--history", str(mps / "history.tsv"), "--entanglement",
                 str(mps / "entanglement_trajectory.tsv"), "--community", "c01", "--out", str(grok)]) == 0
    assert main(["subcommunities", "--correlations", str(mps / "correlations_trajectory.npz"),
                 "--magnetization", str(mps / "magnetization_trajectory.tsv"), "--grokking", str(grok),
                 "--community", "c01", "--out-dir", str(root / "subcommunities"), *SUB, "--seed", "0"]) == 0
    return {"h5ad": h5, "genes": genes, "subcommunities": root / "subcommunities" / "c01.tsv",
            "magnetization": mps / "magnetization_trajectory.tsv"}


def stability_args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["stability", "--expression", str(files["h5ad"]), "--genes", str(files["genes"]),
            "--subcommunities", str(files["subcommunities"]), "--magnetization", str(files["magnetization"]),
            "--community", "c01", "--out", str(out), *MPS, *SUB, *extra]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("stability_cli")
    files = reference_run(root / "planted", True)
    out = root / "validation" / "stability" / "c01.tsv"
    assert main(stability_args(files, out, "--resamples", "4", "--threads", "2")) == 0
    return files, out


def test_planted_subcommunity_is_stable(planted):
    files, out = planted
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns) == list(st.COLUMNS) and set(DECLARED) <= set(df.columns)
    ref = pd.read_csv(files["subcommunities"], sep="\t")
    assert jaccard(ref["gene"], planted_gen.MODULE) == 1.0  # the reference found the module
    row = df.iloc[0]
    assert len(df) == 1 and row["subcommunity"] == "c01/graph1" and row["n_genes"] == 7
    assert row["n_resamples"] == 4 and row["jaccard_mean"] >= 0.8
    assert row["contrast"] == pytest.approx(ref["contrast"].mean(), abs=1e-5)
    assert row["contrast_null_p"] < 0.05


def test_same_result_with_one_worker(planted, tmp_path):
    files, out = planted
    serial = tmp_path / "serial.tsv"
    assert main(stability_args(files, serial, "--resamples", "4", "--threads", "1")) == 0
    pd.testing.assert_frame_equal(pd.read_csv(serial, sep="\t"), pd.read_csv(out, sep="\t"))


def test_noise_labels_write_a_header_only_table_without_training(tmp_path, monkeypatch, caplog):
    files = reference_run(tmp_path / "noise", False)
    assert pd.read_csv(files["subcommunities"], sep="\t").empty  # no discriminative block

    def no_training(*args, **kwargs):
        raise AssertionError("resamples trained although there is no reference subcommunity")

    monkeypatch.setattr(st, "run_resamples", no_training)
    out = tmp_path / "noise.tsv"
    with caplog.at_level("INFO"):
        assert main(stability_args(files, out)) == 0
    assert "no subcommunity" in caplog.text
    df = pd.read_csv(out, sep="\t")
    assert df.empty and list(df.columns) == list(st.COLUMNS)


def test_summary_concatenates_and_adds_bh(planted, tmp_path):
    _, out = planted
    empty = tmp_path / "empty.tsv"
    st.empty_table().to_csv(empty, sep="\t", index=False)
    summary = tmp_path / "stability.tsv"
    assert main(["stability-summary", str(out), str(empty), "--out", str(summary)]) == 0
    df = pd.read_csv(summary, sep="\t")
    assert list(df.columns) == list(st.SUMMARY_COLUMNS) and len(df) == 1
    assert df["contrast_null_q"].iloc[0] == pytest.approx(df["contrast_null_p"].iloc[0])  # m = 1
    assert stability_summary.run.__module__ == "mpsomics.commands.stability_summary"


def test_bad_inputs_exit_2(planted, tmp_path, capsys):
    files, _ = planted
    # a subcommunity gene that is not in the community
    bad_sub = tmp_path / "bad_sub.tsv"
    bad_sub.write_text("gene\tsubcommunity\tmethod\nNOT_A_GENE\tc01/graph1\tgraph\n")
    rc = main(stability_args({**files, "subcommunities": bad_sub}, tmp_path / "o1.tsv"))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "bad_sub.tsv" in err[-1] and "NOT_A_GENE" in err[-1]
    # the magnetization trajectory of another gene order (another run)
    mag = pd.read_csv(files["magnetization"], sep="\t")
    n = mag["site"].max() + 1
    mag["gene"] = [planted_gen.GENES[(s + 1) % n] for s in mag["site"]]
    bad_mag = tmp_path / "other_mag.tsv"
    mag.to_csv(bad_mag, sep="\t", index=False)
    rc = main(stability_args({**files, "magnetization": bad_mag}, tmp_path / "o2.tsv"))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "other_mag.tsv" in err[-1]
    assert not (tmp_path / "o1.tsv").exists() and not (tmp_path / "o2.tsv").exists()
    # the reference was made by the graph method: resampling without it cannot match
    rc = main(stability_args(files, tmp_path / "o4.tsv", "--methods", "paper"))
    assert rc == 2 and "--methods paper lacks the method(s) graph" in capsys.readouterr().err
    # correlations are needed
    rc = main(stability_args(files, tmp_path / "o3.tsv", "--observe-every", "0"))
    assert rc == 2 and "--observe-every" in capsys.readouterr().err


def test_help_lists_the_option_groups():
    import argparse

    p = argparse.ArgumentParser()
    stability_command.add_arguments(p)
    text = p.format_help()
    for opt in ("--resamples", "--bond-dim", "--observe-every", "--delta", "--graph-threshold",
                "--min-contrast", "--leiden-seed", "--magnetization", "--random-sets"):
        assert opt in text
    args = p.parse_args(["--expression", "e", "--genes", "g", "--subcommunities", "s", "--out", "o"])
    assert (args.resamples, args.observe_every, args.random_sets, args.leiden_seed) == (20, 1, 1000, None)
    assert tuple(args.methods) == ("paper", "graph") and args.min_contrast == 0.15


# --------------------------------------------------------------------------- --classical


def classical_table(files: dict[str, Path], out: Path) -> Path:
    assert main(["classical-subcommunities", "--expression", str(files["h5ad"]), "--genes", str(files["genes"]),
                 "--subcommunities", str(files["subcommunities"]), "--community", "c01", "--seed", "0",
                 "--out", str(out)]) == 0
    return out


def test_classical_rows_follow_the_unchanged_mps_rows(planted, tmp_path):
    files, out = planted
    classical = classical_table(files, tmp_path / "classical.tsv")
    both = tmp_path / "both.tsv"
    assert main(stability_args(files, both, "--resamples", "4", "--threads", "2", "--classical", str(classical))) == 0
    df = pd.read_csv(both, sep="\t")
    alone = pd.read_csv(out, sep="\t")
    assert list(df.columns) == list(st.COLUMNS)
    # the MPS rows are those of the run without --classical, to the byte
    assert both.read_text().splitlines()[: len(alone) + 1] == out.read_text().splitlines()
    rows = df.iloc[len(alone):].set_index("subcommunity")
    assert set(rows["method"]) == {"classical", "top_de"}
    assert rows.index.tolist() == pd.read_csv(classical, sep="\t")["subcommunity"].drop_duplicates().tolist()
    top = rows.loc["c01/top_de:graph1"]
    assert top["n_genes"] == 7 and top["n_resamples"] == 4 and top["jaccard_mean"] >= 0.8
    # the planted module is the community's co-expressed, DE block: classical1, stable, above the null
    genes = pd.read_csv(classical, sep="\t").groupby("subcommunity")["gene"].apply(list)
    assert jaccard(genes["c01/classical1"], planted_gen.MODULE) == 1.0
    assert rows.loc["c01/classical1", "jaccard_mean"] >= 0.8 and rows.loc["c01/classical1", "contrast_null_p"] < 0.05


def test_classical_sets_without_mps_subcommunities_train_nothing(tmp_path, monkeypatch):
    files = reference_run(tmp_path / "noise", False)
    classical = tmp_path / "classical.tsv"
    pd.DataFrame({"gene": planted_gen.GENES[:3], "subcommunity": "c01/classical1", "method": "classical"}).to_csv(
        classical, sep="\t", index=False)

    def no_training(*args, **kwargs):
        raise AssertionError("resamples trained although there is no MPS subcommunity")

    chains = []
    real = st.run_classical_resamples

    def recording(data, resamples, chain, **kwargs):
        chains.append(chain)
        return real(data, resamples, chain, **kwargs)

    monkeypatch.setattr(st, "run_resamples", no_training)
    monkeypatch.setattr(st, "run_classical_resamples", recording)
    out = tmp_path / "out.tsv"
    assert main(stability_args(files, out, "--resamples", "3", "--classical", str(classical),
                               "--resolution", "1.5", "--min-size", "2", "--classical-min-contrast", "0.2")) == 0
    df = pd.read_csv(out, sep="\t")
    assert df["subcommunity"].tolist() == ["c01/classical1"] and df["n_resamples"].tolist() == [3]
    # resolution and min_size follow the graph method's, unless the --classical-* option is given
    c = chains[0]
    assert (c.resolution, c.min_size, c.min_contrast, c.threshold, c.seed, c.sizes) == (1.5, 2, 0.2, 0.6, 0, {})


def test_bad_classical_tables_exit_2(planted, tmp_path, capsys):
    files, _ = planted
    mps_method = tmp_path / "mps_method.tsv"
    mps_method.write_text("gene\tsubcommunity\tmethod\nMOD0\tc01/graph9\tgraph\n")
    rc = main(stability_args(files, tmp_path / "o1.tsv", "--classical", str(mps_method)))
    assert rc == 2 and "mps_method.tsv" in capsys.readouterr().err
    outside = tmp_path / "outside.tsv"
    outside.write_text("gene\tsubcommunity\tmethod\nNOT_A_GENE\tc01/classical1\tclassical\n")
    rc = main(stability_args(files, tmp_path / "o2.tsv", "--classical", str(outside)))
    assert rc == 2 and "NOT_A_GENE" in capsys.readouterr().err
    assert not (tmp_path / "o1.tsv").exists() and not (tmp_path / "o2.tsv").exists()


def test_classical_options_default_to_the_graph_methods():
    import argparse

    p = argparse.ArgumentParser()
    stability_command.add_arguments(p)
    a = p.parse_args(["--expression", "e", "--genes", "g", "--subcommunities", "s", "--out", "o"])
    assert a.classical is None and (a.classical_threshold, a.classical_fdr) == (0.6, 0.05)
    assert (a.classical_resolution, a.classical_min_size, a.classical_min_contrast) == (None, None, None)

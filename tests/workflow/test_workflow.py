"""End-to-end: `snakemake --cores 2` on the `.test/` configuration (a subsample of the bundled data).

One session-scoped run feeds every check; the dry-run checks then ask Snakemake
what a forced or reconfigured rerun would redo.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from helpers.workflow import ROOT, copy_test_dir, snakemake

pytestmark = pytest.mark.slow


# `run_dir` (one uninterrupted run of the `.test` DAG) is the session fixture of conftest.py,
# shared with the fault soak (test_soak.py).


def planned_jobs(proc: subprocess.CompletedProcess) -> set[str]:
    """Rule names in the job-stats table of a dry run."""
    text = proc.stdout + proc.stderr
    table = text.split("Job stats:", 1)[1] if "Job stats:" in text else ""
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, flags=re.M)} - {"total"}


def selected(run_dir: Path) -> list[str]:
    return (run_dir / "results/communities/selected.txt").read_text().split()


def test_prepared_anndata(run_dir):
    adata = ad.read_h5ad(run_dir / "results/prepared/expression.h5ad")
    assert adata.n_obs == 179
    assert set(adata.obs["split"]) == {"train", "test"}
    groups = adata.obs.groupby("split", observed=True)["group"].apply(set)
    assert not groups["train"] & groups["test"], "a patient is on both sides of the split"
    assert adata.X.min() >= 0 and adata.X.max() <= 1
    train = adata[adata.obs["split"] == "train"].X
    np.testing.assert_allclose(train.min(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(train.max(axis=0), 1, atol=1e-12)
    assert adata.uns["positive_label"] == "tumor"


def test_communities_outputs(run_dir):
    out = run_dir / "results/communities"
    comm = pd.read_csv(out / "communities.tsv", sep="\t")
    assert {"gene", "community", "degree"} <= set(comm.columns)
    sizes = comm.groupby("community").size()
    assert sizes.min() >= 6 and sizes.max() <= 14  # .test min_size / max_size
    base = pd.read_csv(out / "baseline.tsv", sep="\t")
    assert {"community", "balanced_accuracy", "roc_auc", "selected"} <= set(base.columns)
    chosen = selected(run_dir)
    assert 1 <= len(chosen) <= 2
    for c in chosen:
        genes = (out / "genes" / f"{c}.txt").read_text().split()
        assert set(genes) == set(comm.loc[comm["community"] == c, "gene"])


def test_mps_training_outputs(run_dir):
    for c in selected(run_dir):
        d = run_dir / "results/mps" / c
        genes = (run_dir / f"results/communities/genes/{c}.txt").read_text().split()
        with np.load(d / "model.npz") as z:
            assert [str(g) for g in z["genes"]] == genes
            assert z[f"site_{int(z['label_site'])}"].ndim == 4
        hist = pd.read_csv(d / "history.tsv", sep="\t")
        assert list(hist["epoch"]) == list(range(7))  # epoch 0 + 6 sweeps
        assert hist["test_balanced_accuracy"].between(0, 1).all()
        ent = pd.read_csv(d / "entanglement_trajectory.tsv", sep="\t")
        assert set(ent["bond"]) == set(range(len(genes) - 1))
        assert (ent["entropy"] >= -1e-12).all()
        with np.load(d / "correlations_trajectory.npz") as z:
            assert z["connected"].shape == (7, 2, len(genes), len(genes))


def test_observables_outputs(run_dir):
    for c in selected(run_dir):
        d = run_dir / "results/observables" / c
        mag = pd.read_csv(d / "magnetization.tsv", sep="\t")
        assert mag["magnetization"].abs().max() <= 1 + 1e-9
        for label in ("normal", "tumor"):
            corr = pd.read_csv(d / "correlations" / f"{label}.tsv", sep="\t", index_col=0)
            np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T, atol=1e-10)
        rho = pd.read_csv(d / "label_density.tsv", sep="\t", index_col=0).to_numpy()
        assert np.trace(rho) == pytest.approx(1.0)


def test_downstream_outputs(run_dir):
    summary = pd.read_csv(run_dir / "results/grokking/summary.tsv", sep="\t")
    assert sorted(summary["community"]) == sorted(selected(run_dir))
    for c in selected(run_dir):
        g = pd.read_csv(run_dir / f"results/grokking/{c}.tsv", sep="\t")
        transition = g["transition_epoch"].iloc[0]
        if pd.isna(transition):  # entropy never dropped: allowed, but it must say why
            assert isinstance(g["notes"].iloc[0], str) and g["notes"].iloc[0]
        else:
            assert 0 <= int(transition) <= 6
        sub = pd.read_csv(run_dir / f"results/subcommunities/{c}.tsv", sep="\t")
        assert {"gene", "subcommunity", "method", "magnetization_tumor", "magnetization_normal", "degree"} <= set(sub.columns)
        curve = pd.read_csv(run_dir / f"results/subcommunities/{c}_curve.tsv", sep="\t")
        for _, part in curve.groupby("label"):
            counts = part.sort_values("threshold")["n_pairs"].to_numpy()
            assert (np.diff(counts) <= 0).all()
        enr = pd.read_csv(run_dir / f"results/enrichment/{c}.tsv", sep="\t")
        assert {"set", "level", "library", "term", "fdr", "significant", "new"} <= set(enr.columns)


def test_beyond_the_paper_outputs(run_dir):
    """Panels of the first `panels.communities` communities, the classical baseline and the comparison."""
    chosen = selected(run_dir)
    panels = pd.read_csv(run_dir / "results/panels/summary.tsv", sep="\t")
    assert panels["community"].tolist() == chosen[:1]  # .test/config.yaml: panels.communities 1
    row = panels.iloc[0]
    assert 2 <= row["panel_size"] <= row["n_sites"] and 0 < row["panel_p"] <= 1
    curve = pd.read_csv(run_dir / f"results/panels/{chosen[0]}.tsv", sep="\t")
    assert set(curve["mode"]) == {"rewind", "reinit", "l1"} and curve["n_kept"].max() == row["n_sites"]
    for c in chosen:
        classical = pd.read_csv(run_dir / f"results/classical/{c}.tsv", sep="\t")
        assert {"gene", "subcommunity", "method", "contrast", "q"} <= set(classical.columns)
        assert set(classical["method"]) <= {"classical", "top_de"}
        assert (run_dir / f"results/enrichment/classical/{c}.tsv").is_file()
        rep = pd.read_csv(run_dir / f"results/mps/{c}/representation_trajectory.tsv", sep="\t")
        assert sorted(rep["epoch"].unique()) == [0, 5, 6]  # every 5th epoch and the last of 6
    summary = pd.read_csv(run_dir / "results/comparison/summary.tsv", sep="\t")
    assert summary["community"].tolist() == [*chosen, "all"]
    sets = pd.read_csv(run_dir / "results/comparison/subcommunities.tsv", sep="\t")
    assert int(summary.iloc[-1]["n_classical"]) == int((sets["family"] == "classical").sum())


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.links, self._h = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("h1", "h2", "h3"):
            self._h = tag
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))

    def handle_endtag(self, tag):
        self._h = None if tag == self._h else self._h

    def handle_data(self, data):
        if self._h and data.strip():
            self.headings.append(data.strip())


def test_scores_and_graphs_outputs(run_dir):
    import networkx as nx

    comms = selected(run_dir)
    table = pd.read_csv(run_dir / "results/scores/scores.tsv", sep="\t")
    assert list(table.columns[:4]) == ["sample", "label", "group", "split"]
    assert set(comms) <= set(table.columns)
    scored = ad.read_h5ad(run_dir / "results/scores/expression_scored.h5ad")
    assert list(scored.obsm["mps_probability"].columns) == comms
    assert nx.read_graphml(run_dir / "results/graphs/coexpression.graphml").number_of_nodes() > 0
    for c in comms:
        g = nx.read_graphml(run_dir / f"results/graphs/communities/{c}.graphml")
        genes = (run_dir / f"results/communities/genes/{c}.txt").read_text().split()
        assert list(g.nodes) == genes


def test_report_renders(run_dir):
    html = (run_dir / "results/report/index.html").read_text()
    parser = _Collector()
    parser.feed(html)
    assert not parser.links, "the report must be self-contained"
    assert parser.images and all(src.startswith("data:image/png;base64,") for src in parser.images)
    text = " ".join(parser.headings)
    for c in selected(run_dir):
        assert c in text


def test_forcerun_subcommunities_redoes_only_downstream(run_dir):
    proc = snakemake(run_dir, "-n", "--forcerun", "subcommunities")
    # downstream of the subcommunities: their validation (stability, cohorts) and the classical
    # baseline (its top-DE sets take the MPS sets' sizes), no training, CV or panels
    assert planned_jobs(proc) <= {"subcommunities", "enrichment", "report", "scores", "graph_community",
                                  "stability", "stability_summary", "validate", "classical_subcommunities",
                                  "enrichment_classical", "compare_subcommunities", "all"}
    assert "subcommunities" in planned_jobs(proc) and "report" in planned_jobs(proc)


def test_changed_enrichment_parameter_does_not_retrain(run_dir):
    cfg = run_dir / "config_fdr.yaml"
    text = (run_dir / "config.yaml").read_text().replace("fdr: 0.05", "fdr: 0.1")
    cfg.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(run_dir), "--configfile", str(cfg), "--cores", "2", "-n"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the classical sets are enriched with the same settings, and the comparison counts their new terms
    assert planned_jobs(proc) == {"enrichment", "enrichment_classical", "compare_subcommunities", "report", "all"}


def test_invalid_config_is_rejected_before_anything_runs(tmp_path):
    work = copy_test_dir(tmp_path / "bad")
    cfg = work / "config.yaml"
    cfg.write_text(cfg.read_text() + "\nunknown_key: 1\n")
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0
    assert "unknown_key" in proc.stderr + proc.stdout
    assert not (work / "results").exists()


def test_run_records_benchmarks_and_logs(run_dir):
    bench = list((run_dir / "results/benchmarks").rglob("*.tsv"))
    rules = {p.relative_to(run_dir / "results/benchmarks").parts[0].removesuffix(".tsv") for p in bench}
    assert {"prepare", "communities", "train_mps", "observe", "grokking", "subcommunities", "enrichment", "report"} <= rules
    for p in bench:
        assert "max_rss" in pd.read_csv(p, sep="\t").columns


def declared_resources(run_dir: Path, rule: str) -> dict[str, dict[str, int]]:
    """community -> resources Snakemake declared for `rule`, parsed from its run logs."""
    out: dict[str, dict[str, int]] = {}
    for log in sorted((run_dir / ".snakemake/log").glob("*.snakemake.log")):
        for block in re.split(r"\n(?=(?:local)?rule \w+:)", log.read_text()):
            if not re.match(rf"(?:local)?rule {rule}:", block):
                continue
            wc = re.search(r"wildcards: community=(\S+)", block)
            res = re.search(r"resources: (.*)", block)
            if wc and res:
                pairs = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
                out[wc.group(1)] = {k: int(v) for k, v in pairs.items() if v.isdigit()}
    return out


def test_train_memory_is_covered_by_declared_mem_mb(run_dir):
    """Peak RSS of every train_mps job (Snakemake benchmark) stays well inside its declared mem_mb."""
    declared = declared_resources(run_dir, "train_mps")
    assert set(declared) == set(selected(run_dir))
    for community, res in declared.items():
        bench = pd.read_csv(run_dir / f"results/benchmarks/train_mps/{community}.tsv", sep="\t")
        peak_mb = float(bench["max_rss"].max())
        assert 50 < peak_mb, "benchmark recorded no memory"
        assert peak_mb * 1.5 <= res["mem_mb"], (community, peak_mb, res)
        assert res["runtime"] >= 1


def test_killed_workflow_resumes_without_redoing_finished_communities(tmp_path):
    """SIGKILL snakemake (and its jobs) once the first community's model exists, then
    `--unlock` + `--rerun-incomplete` completes the run and leaves that community's
    outputs untouched."""
    import os
    import signal
    import time

    work = copy_test_dir(tmp_path / "killed")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    models = work / "results" / "mps"
    deadline = time.time() + 600
    finished: list[Path] = []
    while time.time() < deadline and proc.poll() is None:
        finished = sorted(models.glob("*/model.npz"))
        if finished:
            break
        time.sleep(0.2)
    assert finished, "no model appeared before the deadline"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / "results/report/index.html").exists()
    done = finished[0]
    stamp = done.stat().st_mtime_ns

    snakemake(work, "--unlock")  # a killed snakemake leaves its lock behind
    snakemake(work, "--rerun-incomplete")
    assert (work / "results/report/index.html").exists()
    assert done.stat().st_mtime_ns == stamp, "a finished community was trained again"
    assert not planned_jobs(snakemake(work, "-n")), "the resumed run left work undone"


def test_model_ttn_end_to_end(tmp_path):
    """`--config model=ttn` runs the whole `.test` DAG: TTN models, tree files, TTN report figures."""
    from mpsomics.ttn.state import load_ttn

    work = copy_test_dir(tmp_path / "ttn")
    snakemake(work, "--config", "model=ttn")
    comms = selected(work)
    assert comms
    for c in comms:
        state = load_ttn(work / f"results/mps/{c}/model.npz")
        assert sorted(state.genes) == sorted((work / f"results/communities/genes/{c}.txt").read_text().split())
        assert (work / f"results/mps/{c}/tree.tsv").is_file()
        ent = pd.read_csv(work / f"results/observables/{c}/entanglement.tsv", sep="\t")
        assert ent["bond"].max() == 2 * state.n_leaves - 4  # tree edges, the root split once
    html = (work / "results/report/index.html").read_text()
    assert html.count("TTN: entanglement per dendrogram split") >= len(comms)
    assert "Pearson r over the epochs" in html
    assert not planned_jobs(snakemake(work, "-n", "--config", "model=ttn"))

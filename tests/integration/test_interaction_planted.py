"""Planted means vs interaction modules: which subcommunity method recovers which.

Synthetic community shaped like the pipeline's (prepared AnnData, 24 genes x 180 samples,
~60 % tumor, one sample per patient, 70/30 train/test split, ``.X`` min-max scaled on the
training samples), the layout of ``tests/unit/omics/test_planted.py``: two co-expressed
label-independent background blocks (``BGA0..6``, ``BGB0..4``), five independent genes
(``IND0..4``) and a planted 7-gene module ``MOD0..6`` (loadings |a| in [0.8, 1.2], mixed
signs, noise sd 0.5) through which the label acts in one of two ways:

* ``means``: ``x = a z + noise`` with ``z ~ N(+/- SHIFT, 1)`` by class - the module is
  shifted between the classes (the case of ``test_planted.py``);
* ``interaction``: in tumor ``x = a z + noise`` with one shared ``z ~ N(0, 1)``; in normal
  ``x = a z_g + noise`` with an independent ``z_g ~ N(0, 1)`` per gene. Every gene has the
  same distribution in both classes (equal means and variances: no gene is
  differentially expressed); only the joint state differs (co-expressed in tumor only);
* ``no_signal`` (the null): the module is one more co-expressed, label-independent block
  (shared factor in both classes): nothing carries the label.

Methods (training split only): the MPS pipeline functions (``mps.fit.fit`` with the
default run's ``mps`` settings, observables every epoch, then
``omics.subcommunities.subcommunity_table`` with the ``paper`` and ``graph`` methods at
their defaults, ``graph`` without the contrast gate, ``min_contrast`` 0, and ``graph``
with the correlation-contrast gate on, ``graph_corr_gate``) and the
classical ones (``omics.classical``: ``classical`` at its defaults; ``top_de`` with the
size of the planted module). Score: the best Jaccard of a method's subcommunities with the
planted module (0 when it reports none). Measured over data seeds 0-4 (no_signal: 0-9):
``studies/interaction_planted.py`` -> ``studies/results/interaction_planted.tsv`` and the
correlation-gate threshold sweep ``studies/results/interaction_planted_gate_sweep.tsv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

anndata = pytest.importorskip("anndata")

from helpers.synthetic import prepared_anndata  # noqa: E402

CLASSES = ["normal", "tumor"]
N_SAMPLES = 180
SHIFT = 1.5  # means case: class shift of the module's latent factor (in within-class sd)
MODULE = [f"MOD{i}" for i in range(7)]
BACKGROUND_A = [f"BGA{i}" for i in range(7)]
BACKGROUND_B = [f"BGB{i}" for i in range(5)]
INDEPENDENT = [f"IND{i}" for i in range(5)]
GENES = BACKGROUND_A + MODULE + BACKGROUND_B + INDEPENDENT
CASES = ("means", "interaction", "no_signal")
COMMUNITY = "c01"
#: the default run's `mps` settings (config/config.yaml), no checkpoints
MPS_SETTINGS = dict(method="sweep", bond_dim=16, epochs=60, lr=0.005, batch_size=32, loss="mse",
                    class_weights="balanced", cutoff=0.0, init_bond_dim=2, dtype="float64",
                    output_scale="profiled", checkpoint_every=0, seed=0)


def jaccard(a, b) -> float:
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0


def make_case(seed: int, case: str) -> anndata.AnnData:
    """Prepared AnnData with the planted module acting through ``case`` (module docstring)."""
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    rng = np.random.default_rng([seed, CASES.index(case)])
    n = N_SAMPLES
    y = (rng.random(n) < 0.6).astype(int)

    def loadings(size: int, signed: bool = False) -> np.ndarray:
        signs = np.where(np.arange(size) % 3 == 2, -1.0, 1.0) if signed else np.ones(size)
        return rng.uniform(0.8, 1.2, size) * signs

    def block(size: int, factor: np.ndarray) -> np.ndarray:
        return factor[:, None] * loadings(size) + rng.normal(scale=0.5, size=(n, size))

    a = loadings(len(MODULE), signed=True)
    if case == "means":
        latent = (rng.normal(size=n) + SHIFT * (2 * y - 1))[:, None] * np.ones(len(MODULE))
    elif case == "interaction":  # shared factor in tumor, one per gene in normal: same marginals
        shared = np.repeat(rng.normal(size=(n, 1)), len(MODULE), axis=1)
        latent = np.where(y[:, None] == 1, shared, rng.normal(size=(n, len(MODULE))))
    else:  # no_signal: one more co-expressed, label-independent block (no gene, no pair carries the label)
        latent = np.repeat(rng.normal(size=(n, 1)), len(MODULE), axis=1)
    mod = latent * a + rng.normal(scale=0.5, size=(n, len(MODULE)))
    bga = block(len(BACKGROUND_A), rng.normal(size=n))
    bgb = block(len(BACKGROUND_B), rng.normal(size=n))
    ind = rng.normal(size=(n, len(INDEPENDENT)))
    log2 = 6.0 + np.hstack([bga, mod, bgb, ind])
    split = np.where(rng.random(n) < 0.7, "train", "test")
    return prepared_anndata(log2, y, split, GENES, CLASSES, synthetic=True, seed=seed, case=case)


def _split(ad):
    train = ad.obs["split"].to_numpy() == "train"
    y = (ad.obs["label"].to_numpy() == "tumor").astype(np.int64)
    return np.asarray(ad.X), y, train


def mps_sets(ad) -> dict:
    """Train the MPS (default settings); its subcommunities by method, and its accuracies.

    ``graph_top_dC``: of the ``graph_nofilter`` clusters, the one whose mean
    ``|C_tumor(i, j) - C_normal(i, j)|`` over its pairs (last epoch) is largest - a
    diagnostic of whether the class states single out an interaction block, not a
    pipeline method. ``graph_corr_gate``: the graph method with its correlation-contrast
    gate on (``min_correlation_contrast`` :data:`CORR_GATE`, magnetization gate at its
    default). ``clusters``: every ``graph_nofilter`` cluster with its mean magnetization
    contrast and correlation contrast (the gates' statistics; :func:`gate_sweep`).
    """
    from mpsomics.dynamics import training_run
    from mpsomics.mps.config import TrainConfig
    from mpsomics.mps.fit import fit
    from mpsomics.omics.subcommunities import subcommunity_table

    X, y, train = _split(ad)
    _, hist, obs = fit(X[train], y[train], X[~train], y[~train], genes=GENES, classes=CLASSES,
                       config=TrainConfig(**MPS_SETTINGS), positive=1, observe_every=1, progress=False)
    connected = np.stack(obs.connected)
    args = (np.asarray(obs.epochs), CLASSES, GENES, connected, training_run.magnetization_frame(obs, GENES, CLASSES))
    sets, tables = {}, {}
    for method, kw in (("paper", {"methods": ["paper"]}), ("graph", {"methods": ["graph"]}),
                       ("graph_nofilter", {"methods": ["graph"], "min_contrast": 0.0}),
                       ("graph_corr_gate", {"methods": ["graph"], "min_correlation_contrast": CORR_GATE})):
        tables[method], _ = subcommunity_table(*args, community=COMMUNITY, transition_epoch=None, **kw)
        sets[method] = [list(g.gene) for _, g in tables[method].groupby("subcommunity")]
    dc = np.abs(connected[-1, 1] - connected[-1, 0])
    site = {g: i for i, g in enumerate(GENES)}

    def mean_dc(genes: list[str]) -> float:
        idx = [site[g] for g in genes]
        return float(dc[np.ix_(idx, idx)][np.triu_indices(len(idx), 1)].mean())

    sets["graph_top_dC"] = [max(sets["graph_nofilter"], key=mean_dc)] if sets["graph_nofilter"] else []
    gated = {frozenset(g.gene): g["gate"].iloc[0] for _, g in tables["graph_corr_gate"].groupby("subcommunity")}
    clusters = [{"size": len(g), "jaccard": jaccard(g.gene, MODULE),
                 "jaccard_background": max(jaccard(g.gene, b) for b in (BACKGROUND_A, BACKGROUND_B)),
                 "contrast": float(g["contrast"].mean()), "correlation_contrast": float(g["correlation_contrast"].iloc[0]),
                 "gate": gated.get(frozenset(g.gene), "dropped"), "genes": ",".join(g.gene)}
                for _, g in tables["graph_nofilter"].groupby("subcommunity")]  # fmt: skip
    last = hist.iloc[-1]
    return {"sets": sets, "clusters": clusters, "train_bacc": float(last["train_balanced_accuracy"]),
            "test_bacc": float(last["test_balanced_accuracy"])}


def classical_sets(ad) -> dict:
    """``classical`` (defaults), its co-expression clusters without the DE filter, ``top_de`` (planted size)."""
    from mpsomics.omics.classical import classical_subcommunities

    X, y, train = _split(ad)
    sets = {}
    for name, kw in (("classical", {"sizes": {f"{COMMUNITY}/planted": len(MODULE)}}),
                     ("classical_nofilter", {"fdr": 1.0, "min_contrast": 0.0})):
        table = classical_subcommunities(X[train], y[train], GENES, COMMUNITY, **kw)
        for method, grp in table.groupby("method"):
            sets[name if method == "classical" else "top_de"] = [list(g.gene) for _, g in grp.groupby("subcommunity")]
        sets.setdefault(name, [])
    return sets


METHOD_ORDER = ("paper", "graph", "graph_nofilter", "graph_top_dC", "graph_corr_gate", "classical",
                "classical_nofilter", "top_de")
#: data seeds of the means and interaction cases, and of the no_signal case (more: it
#: bounds the false-positive rate of the gates)
SEEDS = tuple(range(5))
NO_SIGNAL_SEEDS = tuple(range(10))
#: min_correlation_contrast of the ``graph_corr_gate`` rows: the middle of the window
#: (0.081, 0.105] that keeps the no_signal data clean and recovers the interaction module
#: in 4/5 seeds - *not* the default, which stays off (:func:`choose_threshold`)
CORR_GATE = 0.1
SWEEP = tuple(round(0.01 * i, 2) for i in range(3, 21))
#: magnetization gate of the pipeline (subcommunities.DEFAULTS["min_contrast"])
MIN_CONTRAST = 0.15


def measure(seed: int, case: str) -> tuple[list[dict], list[dict]]:
    """Best Jaccard with the planted module of every method (one row per method) and the
    ungated graph clusters with their gate statistics (one row per cluster).

    In the ``no_signal`` case the ``MOD`` block is one more label-independent block: every
    set reported there is a false subcommunity.
    """
    ad = make_case(seed, case)
    mps = mps_sets(ad)
    sets = {**mps["sets"], **classical_sets(ad)}
    runs = [{"case": case, "seed": seed, "method": m, "jaccard": max((jaccard(s, MODULE) for s in sets[m]), default=0.0),
             "n_sets": len(sets[m]), "mps_train_bacc": mps["train_bacc"], "mps_test_bacc": mps["test_bacc"]}
            for m in METHOD_ORDER]  # fmt: skip
    return runs, [{"case": case, "seed": seed, **c} for c in mps["clusters"]]


def measure_all(seeds=SEEDS, no_signal_seeds=NO_SIGNAL_SEEDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`measure` over the cases and seeds: ``(runs, clusters)``."""
    runs, clusters = [], []
    for case in CASES:
        for seed in no_signal_seeds if case == "no_signal" else seeds:
            r, c = measure(seed, case)
            runs += r
            clusters += c
    return pd.DataFrame(runs), pd.DataFrame(clusters)


def gate_sweep(clusters: pd.DataFrame, thresholds=SWEEP, min_contrast: float = MIN_CONTRAST) -> pd.DataFrame:
    """Per ``min_correlation_contrast`` t: what the two gates (magnetization contrast >=
    ``min_contrast`` or correlation contrast >= t) keep of the ungated graph clusters.

    Columns: ``interaction_recovered`` (seeds whose kept clusters include the module,
    Jaccard >= 0.8), ``means_recovered``, false sets (kept clusters other than the module:
    the background blocks; in ``no_signal`` every kept cluster) and the seeds with one,
    per case.
    """
    rows = []
    for t in thresholds:
        kept = clusters[(clusters["contrast"] >= min_contrast) | (clusters["correlation_contrast"] >= t)]
        row: dict[str, object] = {"min_correlation_contrast": t}
        for case in CASES:
            k = kept[kept["case"] == case]
            module = (k["jaccard"] >= 0.8) & (case != "no_signal")
            if case != "no_signal":
                row[f"{case}_recovered"] = int(k.loc[module, "seed"].nunique())
            row[f"{case}_false_sets"] = int((~module).sum())
            row[f"{case}_false_seeds"] = int(k.loc[~module, "seed"].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def choose_threshold(sweep: pd.DataFrame, min_recovered: int = 4) -> float | None:
    """The smallest t with no false set in any case that recovers the interaction module in
    >= ``min_recovered`` seeds; None (gate off) if there is none."""
    false = sweep[[f"{c}_false_sets" for c in CASES]].sum(axis=1)
    ok = sweep[(false == 0) & (sweep["interaction_recovered"] >= min_recovered)]
    return float(ok["min_correlation_contrast"].min()) if len(ok) else None


@pytest.fixture(scope="module")
def measured() -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`measure_all`: 20 MPS fits (~30 s)."""
    return measure_all()


@pytest.fixture(scope="module")
def jaccards(measured) -> pd.DataFrame:
    """Best Jaccard with the planted module, (case, method) x data seed 0-4 (means, interaction)."""
    runs = measured[0]
    return runs[runs["case"] != "no_signal"].set_index(["case", "method", "seed"])["jaccard"].unstack("seed")


def test_means_module_found_by_classical_top_de_and_mps_graph(jaccards):
    """Measured: Jaccard 1.0 in every seed for all three (the paper method at its 0.5
    default reports nothing, as in test_planted.py)."""
    for method in ("classical", "top_de", "graph"):
        assert (jaccards.loc[("means", method)] >= 0.8).all(), method


def test_interaction_module_missed_by_classical_and_by_the_gated_mps_methods(jaccards):
    """Equal per-gene distributions: no gene passes the DE filter (classical Jaccard 0 in
    every seed); the pooled co-expression is diluted below |r| 0.6 by the normal samples
    (classical_nofilter 0, one seed 0.57); the MPS graph method's magnetization-contrast
    gate drops the block (0 in every seed); the paper method reports nothing (0)."""
    for method in ("classical", "graph", "paper"):
        assert (jaccards.loc[("interaction", method)] < 0.3).all(), method
    # top_de: chance-level picks (measured 0.17-0.27, once 0.75: the module genes share
    # one tumor factor, so their sample-mean fluctuations are correlated); never >= 0.8
    assert (jaccards.loc[("interaction", "top_de")] >= 0.8).sum() <= 1


def test_interaction_module_found_by_the_mps_graph_without_contrast_gate(jaccards):
    """The tumor class state carries the tumor-only co-expression: the ungated graph
    method clusters the module (measured 1.0 in 4 seeds, 0.875 in one) and, among its
    clusters, the module has the largest correlation difference between the class
    states (same numbers). The background blocks are clustered too (3 clusters)."""
    assert (jaccards.loc[("interaction", "graph_nofilter")] >= 0.8).sum() >= 4
    assert (jaccards.loc[("interaction", "graph_top_dC")] >= 0.8).sum() >= 4


def test_correlation_gate_recovers_the_interaction_module(measured, jaccards):
    """At min_correlation_contrast 0.1 the module passes the correlation gate in 4/5
    seeds (its correlation contrast 0.105-0.159; 0.089 in seed 3) and nothing else of the
    interaction data does (background blocks <= 0.046)."""
    runs, clusters = measured
    assert (jaccards.loc[("interaction", "graph_corr_gate")] >= 0.8).sum() >= 4
    inter = runs[(runs["case"] == "interaction") & (runs["method"] == "graph_corr_gate")]
    assert (inter["n_sets"] <= 1).all()  # the module or nothing
    module = clusters[(clusters["case"] == "interaction") & (clusters["jaccard"] >= 0.8)]
    assert set(module["gate"]) <= {"correlation", "dropped"}  # not the magnetization gate


def test_correlation_gate_reports_nothing_without_label_signal(measured):
    """no_signal data (3 label-independent co-expressed blocks, 10 seeds): the graph
    method with either gate reports no set (largest correlation contrast 0.080, largest
    magnetization contrast 0.139)."""
    runs, _ = measured
    for method in ("graph", "graph_corr_gate"):
        assert (runs[(runs["case"] == "no_signal") & (runs["method"] == method)]["n_sets"] == 0).all(), method


def test_correlation_gate_keeps_the_means_module_but_can_add_background(measured, jaccards):
    """Means case: the module still passes (by the magnetization gate) in every seed, and
    the default graph method is unchanged (the module alone). But the class states of a
    mean-shift module can differ in the correlations of label-independent blocks too: in
    one seed both background blocks pass the correlation gate (0.126, 0.145) - above the
    module's 4th-best value on the interaction data (0.105). No threshold is clean on all
    the planted data and recovers the interaction module in 4/5 seeds, so the default
    stays off."""
    from mpsomics.omics.subcommunities import DEFAULTS

    runs, clusters = measured
    assert (jaccards.loc[("means", "graph_corr_gate")] >= 0.8).all()
    assert (runs[(runs["case"] == "means") & (runs["method"] == "graph")]["n_sets"] == 1).all()
    means_module = clusters[(clusters["case"] == "means") & (clusters["jaccard"] >= 0.8)]
    assert set(means_module["gate"]) <= {"contrast", "both"}
    sweep = gate_sweep(clusters)
    assert choose_threshold(sweep) is None
    assert DEFAULTS["min_correlation_contrast"] is None  # the default follows the sweep
    no_signal_clean = sweep[sweep["no_signal_false_sets"] == 0]["min_correlation_contrast"].min()
    assert sweep.set_index("min_correlation_contrast").loc[no_signal_clean, "interaction_recovered"] >= 4

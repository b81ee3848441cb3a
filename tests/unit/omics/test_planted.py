"""Acceptance test: subcommunity recovery of a planted discriminative module, end to end.

The real pipeline pieces run through their CLIs in a temporary directory:
``mpsomics train`` (default sweep method, default chi 10 / 30 epochs / alpha 0.05,
``--observe-every 1``) -> ``mpsomics grokking`` -> ``mpsomics subcommunities``.

Synthetic community (documented prepared-AnnData form, 24 genes x 180 samples, 60 %
tumor, 70/30 train/test split, .X min-max scaled on train, test clipped):

* ``MOD0..MOD6`` - the planted module: ``x = a_g * z + noise`` with a latent factor
  ``z ~ N(+/- SHIFT, 1)`` shifted by class (loadings |a_g| in [0.8, 1.2], mixed signs,
  noise sd 0.5): discriminative *and* co-regulated.
* ``BGA0..BGA6``, ``BGB0..BGB4`` - background blocks driven by label-independent latent
  factors (same loadings / noise): as strongly co-expressed as the module but carrying
  no class information (the demanding case).
* ``IND0..IND4`` - independent noise genes.

Negative control: the same generator with ``SHIFT = 0`` (labels independent of
expression).

Why the planted genes are correlated in the class states
--------------------------------------------------------
An MPS trained from the near-uniform product state |+>^N (|+> = (|0> + |1>)/sqrt 2)
that learns an additive score f_l(x) ~ sum_i g_i(x_i) is, to first order, the
W-like superposition ``a |+...+> + sum_i b_i |+..-_i..+>`` with b_i != 0 only on
informative sites (chi = 2). sigma^z flips + <-> -, so ``<Z_i> = 2 a b_i`` and, for
i != j, ``<Z_i Z_j> = 2 b_i b_j``: connected correlations
``C(i, j) = 2 b_i b_j (1 - 2 a^2)`` appear *only among the informative sites*
(sign of b_i b_j up to the common sign of 1 - 2 a^2, which is what we see: MOD2/MOD5 with
negative loadings are anti-correlated with the rest), while sites the classifier does
not use stay in |+> with C = 0. Normalisation bounds them: K equal informative sites
give |C| <= 2/K, i.e. ~0.1-0.3 for a 7-gene module - far below the paper threshold
0.5. Measured here: |C| ~ 0.1-0.2
within the module, ~0.05 to the rest.

The class state is, however, also a (signed) kernel superposition of the training
product states, sum_n alpha_n |phi(x_n)>, and genes that co-vary across samples give
it cat-like components (|low...low> + |high...high>) whose correlations do not decay
with block size: the label-independent background blocks reach |C| ~ 0.3-0.4 *in both
class states*. Consequently:

* correlations alone (paper intersection "strong in both classes", graph on mean_k |C|)
  find co-expression blocks, discriminative or not. The paper intersection at any
  threshold low enough to include the module also includes every background block
  (Jaccard ~0.35); at the defaults (0.5 / 0.3) the module is not reported at all.
* The graph method at a threshold matched to the W-like scale (``--graph-threshold
  0.1``, now the default) separates the blocks: the planted module is one Leiden cluster
  (Jaccard 1.0 for data seeds 0-4), and it is singled out among the clusters by its
  magnetization contrast ``|m_tumor - m_normal| / 2`` (0.31-0.41 vs <= 0.11), which the
  output TSV carries (``contrast``) and which the default ``--min-contrast 0.15`` uses to
  drop the non-discriminative clusters. The entanglement transition is undefined for these 30-epoch runs (entropy
  never drops below its early maximum), so all recorded epochs are candidates.

The paper method's limitation is asserted below as a strict xfail so that a future
change that fixes it is noticed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.cli import main
from mpsomics.dynamics import training_run

anndata = pytest.importorskip("anndata")
pytest.importorskip("mpsomics.mps.observables")

CLASSES = ["normal", "tumor"]
SEED = 0  # data seed; 1 and 2 were checked too (same conclusions, see module docstring)
N_SAMPLES = 180
SHIFT = 1.5  # class shift of the module's latent factor (in units of its within-class sd)
MODULE = [f"MOD{i}" for i in range(7)]
BACKGROUND_A = [f"BGA{i}" for i in range(7)]
BACKGROUND_B = [f"BGB{i}" for i in range(5)]
INDEPENDENT = [f"IND{i}" for i in range(5)]
GENES = BACKGROUND_A + MODULE + BACKGROUND_B + INDEPENDENT  # site order: blocks contiguous
GRAPH_THRESHOLD = "0.1"  # matched to the W-like |C| scale of a 7-gene module (see docstring)
COMMUNITY = "c01"
#: mean |m_tumor - m_normal| / 2 separating discriminative subcommunities (seeds 0-4:
#: planted module 0.31-0.41; every other cluster, and every cluster of the null, <= 0.13)
DISCRIMINATIVE_CONTRAST = 0.2


def jaccard(a, b) -> float:
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0


def make_community(seed: int, *, discriminative: bool = True) -> anndata.AnnData:
    """Prepared AnnData (docs/outputs.md "prepare") with the planted module described above."""
    rng = np.random.default_rng(seed)
    n = N_SAMPLES
    y = (rng.random(n) < 0.6).astype(int)  # ~60 % tumor: realistic imbalance

    def block(size: int, factor: np.ndarray, signs: np.ndarray | None = None) -> np.ndarray:
        load = rng.uniform(0.8, 1.2, size) * (np.ones(size) if signs is None else signs)
        return factor[:, None] * load + rng.normal(scale=0.5, size=(n, size))

    z = rng.normal(size=n) + (SHIFT * (2 * y - 1) if discriminative else 0.0)
    signs = np.where(np.arange(len(MODULE)) % 3 == 2, -1.0, 1.0)  # MOD2, MOD5 down in tumor
    mod = block(len(MODULE), z, signs)
    bga = block(len(BACKGROUND_A), rng.normal(size=n))
    bgb = block(len(BACKGROUND_B), rng.normal(size=n))
    ind = rng.normal(size=(n, len(INDEPENDENT)))
    log2 = 6.0 + np.hstack([bga, mod, bgb, ind])  # "log2 expression"
    split = np.where(rng.random(n) < 0.7, "train", "test")
    train = split == "train"
    lo, hi = log2[train].min(axis=0), log2[train].max(axis=0)
    X = np.clip((log2 - lo) / (hi - lo), 0.0, 1.0)
    obs = pd.DataFrame(
        {
            "label": [CLASSES[k] for k in y],
            "group": [f"p{i}" for i in range(n)],  # one sample per patient
            "split": split,
        },
        index=[f"s{i}" for i in range(n)],
    )
    var = pd.DataFrame({"scale_min": lo, "scale_max": hi}, index=GENES)
    ad = anndata.AnnData(X=X.astype(np.float64), obs=obs, var=var)
    ad.layers["log"] = log2
    ad.uns["classes"] = CLASSES
    ad.uns["positive_label"] = "tumor"
    ad.uns["prepare"] = {"synthetic": True, "seed": seed, "discriminative": discriminative}
    return ad


def run_pipeline(root: Path, seed: int, *, discriminative: bool) -> dict:
    """train -> grokking -> subcommunities (tuned graph threshold, and defaults)."""
    root.mkdir(parents=True, exist_ok=True)
    h5 = root / "expression.h5ad"
    make_community(seed, discriminative=discriminative).write_h5ad(h5)
    genes = root / "genes.txt"
    genes.write_text("\n".join(GENES) + "\n")
    mps = root / "mps" / COMMUNITY
    grok = root / "grokking" / f"{COMMUNITY}.tsv"
    sub = root / "subcommunities" / f"{COMMUNITY}.tsv"
    sub_default = root / "subcommunities_default" / f"{COMMUNITY}.tsv"
    assert (
        main(
            [
                "train",
                "--expression",
                str(h5),
                "--genes",
                str(genes),
                "--out-dir",
                str(mps),
                "--observe-every",
                "1",
                # the settings this acceptance test was calibrated with (seeds 0-4)
                "--bond-dim",
                "10",
                "--epochs",
                "30",
                "--lr",
                "0.05",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "grokking",
                "--history",
                str(mps / training_run.HISTORY_FILE),
                "--entanglement",
                str(mps / training_run.ENTANGLEMENT_FILE),
                "--community",
                COMMUNITY,
                "--out",
                str(grok),
            ]
        )
        == 0
    )
    common = [
        "subcommunities",
        "--correlations",
        str(mps / training_run.CORRELATIONS_FILE),
        "--magnetization",
        str(mps / training_run.MAGNETIZATION_FILE),
        "--grokking",
        str(grok),
        "--community",
        COMMUNITY,
    ]
    assert (
        main(
            [*common, "--out-dir", str(sub.parent), "--graph-threshold", GRAPH_THRESHOLD, "--threshold", "0.1"]
        )
        == 0
    )
    assert main([*common, "--out-dir", str(sub_default.parent)]) == 0
    return {
        "history": pd.read_csv(mps / "history.tsv", sep="\t"),
        "grokking": pd.read_csv(grok, sep="\t"),
        "sub": pd.read_csv(sub, sep="\t"),
        "sub_default": pd.read_csv(sub_default, sep="\t"),
    }


def subcommunities_of(table: pd.DataFrame, method: str) -> dict[str, dict]:
    """Subcommunity id -> genes and mean magnetization contrast |m_tumor - m_normal| / 2."""
    out = {}
    for sid, grp in table[table["method"] == method].groupby("subcommunity"):
        contrast = (grp["magnetization_tumor"] - grp["magnetization_normal"]).abs() / 2
        out[str(sid)] = {"genes": list(grp["gene"]), "contrast": float(contrast.mean())}
    return out


def best_jaccard(table: pd.DataFrame, method: str, target) -> float:
    subs = subcommunities_of(table, method)
    return max((jaccard(s["genes"], target) for s in subs.values()), default=0.0)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return run_pipeline(tmp_path_factory.mktemp("planted"), SEED, discriminative=True)


@pytest.fixture(scope="module")
def null(tmp_path_factory):
    return run_pipeline(tmp_path_factory.mktemp("null"), SEED, discriminative=False)


def test_classifier_learns_the_planted_signal(planted):
    last = planted["history"].iloc[-1]
    assert last["train_balanced_accuracy"] >= 0.95
    assert last["test_balanced_accuracy"] >= 0.7  # chance = 0.5; seeds 0-4: 0.74-0.9


def test_graph_method_recovers_planted_module(planted):
    assert best_jaccard(planted["sub"], "graph", MODULE) >= 0.8


def test_planted_module_is_the_discriminative_subcommunity(planted):
    """Among the graph clusters (co-expression blocks), the planted module has by far the
    largest magnetization contrast between the class states - the background blocks,
    although co-expressed (and reported), carry none."""
    subs = subcommunities_of(planted["sub"], "graph")
    ranked = sorted(subs.values(), key=lambda s: s["contrast"], reverse=True)
    assert jaccard(ranked[0]["genes"], MODULE) >= 0.8
    assert ranked[0]["contrast"] >= DISCRIMINATIVE_CONTRAST
    assert all(s["contrast"] < 0.5 * ranked[0]["contrast"] for s in ranked[1:])


def test_negative_control(null):
    """Labels independent of expression: the MPS memorises the train set but stays at
    chance on test, and no reported subcommunity is discriminative (small magnetization
    contrast). Correlated blocks - including the (now non-discriminative) co-regulated
    module - are still reported by the graph method: the correlations of the class states
    measure co-expression, so 'not reported' is not a meaningful control; 'not
    discriminative' is."""
    last = null["history"].iloc[-1]
    assert last["test_balanced_accuracy"] <= 0.65
    for method in ("graph", "paper"):
        for sid, s in subcommunities_of(null["sub"], method).items():
            assert s["contrast"] < DISCRIMINATIVE_CONTRAST, (sid, s)


@pytest.mark.xfail(
    strict=True, reason="paper intersection merges all co-expressed blocks (Jaccard ~0.35)"
)
def test_paper_method_recovers_planted_module(planted):
    assert best_jaccard(planted["sub"], "paper", MODULE) >= 0.8


def test_default_settings_recover_planted_module_and_drop_background(planted):
    """With the shipped defaults (graph threshold 0.1, min_contrast 0.15) the graph
    method reports the planted module and nothing else: the co-expressed but
    label-independent background blocks are clustered, then dropped by the
    magnetization-contrast gate."""
    t = planted["sub_default"]
    assert best_jaccard(t, "graph", MODULE) >= 0.8
    for sid, s in subcommunities_of(t, "graph").items():
        for block in (BACKGROUND_A, BACKGROUND_B):
            assert jaccard(s["genes"], block) < 0.5, (sid, s)
    assert "contrast" in t.columns

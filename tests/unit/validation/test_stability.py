"""Stability of subcommunities under bootstrap resampling of patients.

The planted data are those of the subcommunity acceptance test
(``tests/unit/omics/test_planted.py``: a 7-gene discriminative, co-regulated module
among label-independent co-expression blocks), with its calibrated training settings.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.validation import stability as st
from mpsomics.validation.stats import jaccard


def _planted_generator():
    path = Path(__file__).resolve().parents[1] / "omics" / "test_planted.py"
    spec = importlib.util.spec_from_file_location("planted_generator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planted_gen = _planted_generator()

#: the settings test_planted.py was calibrated with; graph method only (the paper method
#: does not single the module out, see there)
CHAIN = st.Chain(
    TrainConfig(method="sweep", bond_dim=10, epochs=30, lr=0.05, threads=1, seed=0),
    observe_every=1,
    subcommunities=dict(methods=("graph",), graph_threshold=0.1),
)


def _data(tmp_path: Path, seed: int, discriminative: bool) -> st.StabilityData:
    path = tmp_path / f"planted_{seed}_{discriminative}.h5ad"
    planted_gen.make_community(seed, discriminative=discriminative).write_h5ad(path)
    return st.load_stability_data(path, planted_gen.GENES)


def _reference(data: st.StabilityData) -> st.ChainResult:
    return st.find_subcommunities(
        data.X, data.y, data.X[:0], data.y[:0], genes=data.genes, classes=data.classes,
        positive=data.positive, chain=CHAIN, community="c01",
    )


# --------------------------------------------------------------------------- resampling


def test_bootstrap_draws_whole_patients_stratified_by_class_pattern():
    # 6 tumour-only patients (1 or 2 samples), 3 paired patients (tumour + normal), 2 normal-only
    groups, y = [], []
    for p in range(6):
        groups += [f"t{p}"] * (1 + p % 2)
        y += [1] * (1 + p % 2)
    for p in range(3):
        groups += [f"pair{p}", f"pair{p}"]
        y += [1, 0]
    groups += ["n0", "n1"]
    y += [0, 0]
    groups, y = np.array(groups), np.array(y)
    assert st.patient_strata(y, groups) == {
        "0": ["n0", "n1"], "0+1": ["pair0", "pair1", "pair2"], "1": [f"t{p}" for p in range(6)],
    }
    resamples = st.bootstrap_resamples(y, groups, 30, seed=3)
    assert [r.index for r in resamples] == list(range(30))
    for r in resamples:
        drawn = groups[r.train]
        counts = pd.Series(drawn).value_counts()
        # a drawn patient brings every one of its samples, k times if drawn k times
        for g, c in counts.items():
            size = int((groups == g).sum())
            assert c % size == 0
            assert sorted(r.train[drawn == g].tolist()) == sorted(np.flatnonzero(groups == g).tolist() * (c // size))
        # each stratum keeps its number of patients: 2 normal-only, 3 paired, 6 tumour-only draws
        draws = {g: c // int((groups == g).sum()) for g, c in counts.items()}
        assert sum(v for g, v in draws.items() if g.startswith("n")) == 2
        assert sum(v for g, v in draws.items() if g.startswith("pair")) == 3
        assert sum(v for g, v in draws.items() if g.startswith("t")) == 6
        assert set(y[r.train]) == {0, 1}
        # out of bag = exactly the samples of the patients not drawn
        assert set(groups[r.oob]).isdisjoint(drawn)
        assert set(groups[r.oob]) | set(drawn) == set(groups)
        assert r.n_patients == len(counts)
    again = st.bootstrap_resamples(y, groups, 30, seed=3)
    assert all(np.array_equal(a.train, b.train) for a, b in zip(resamples, again, strict=True))
    assert len({tuple(r.train) for r in resamples}) > 20  # resamples differ


def test_load_keeps_only_the_training_split(tmp_path):
    data = _data(tmp_path, 0, True)
    adata = planted_gen.make_community(0, discriminative=True)
    train = (adata.obs["split"] == "train").to_numpy()
    assert data.X.shape == (int(train.sum()), len(planted_gen.GENES))
    np.testing.assert_array_equal(data.groups, adata.obs["group"].to_numpy()[train])
    with pytest.raises(InputError, match="missing from the expression file"):
        st.load_stability_data(tmp_path / "planted_0_True.h5ad", ["MOD0", "NOT_A_GENE"])


# --------------------------------------------------------------------------- statistics


def test_jaccard_summary():
    s = st.jaccard_summary([1.0, 0.8, 0.5, 0.0])
    assert s["jaccard_mean"] == pytest.approx(0.575)
    assert s["jaccard_median"] == pytest.approx(0.65)
    assert s["jaccard_low"] == pytest.approx(np.percentile([1.0, 0.8, 0.5, 0.0], 2.5))
    assert s["jaccard_high"] == pytest.approx(np.percentile([1.0, 0.8, 0.5, 0.0], 97.5))
    assert s["recovered_fraction"] == pytest.approx(0.5)  # 1.0 and 0.8 > 0.75
    assert s["dissolved_fraction"] == pytest.approx(0.5)  # 0.5 and 0.0 <= 0.5
    assert all(math.isnan(v) for v in st.jaccard_summary([]).values())


def _table(sets: dict[str, tuple[str, list[str]]]) -> pd.DataFrame:
    rows = [{"gene": g, "subcommunity": sid, "method": m} for sid, (m, genes) in sets.items() for g in genes]
    return pd.DataFrame(rows, columns=["gene", "subcommunity", "method"])


def test_best_match_per_method_and_failed_resamples():
    reference = _table({"c/graph1": ("graph", list("ABCD")), "c/paper": ("paper", list("EFG"))})
    results = [
        # exact graph match; the paper set only appears as a *graph* cluster -> no paper match
        st.ResampleResult(0, _table({"c/graph1": ("graph", list("ABCD")), "c/graph2": ("graph", list("EFG"))})),
        # best of two graph clusters: {A,B,C} (3/4) beats {D,X} (1/5); paper {E,F} 2/3
        st.ResampleResult(1, _table({"c/graph1": ("graph", list("DX")), "c/graph2": ("graph", list("ABC")),
                                     "c/paper": ("paper", list("EF"))})),
        st.ResampleResult(2, _table({})),  # nothing found: 0 for both
        st.ResampleResult(3, None, error="diverged"),  # left out, counted
    ]
    table = st.stability_table(reference, results, community="c")
    assert list(table.columns) == list(st.COLUMNS)
    t = table.set_index("subcommunity")
    assert t.loc["c/graph1", "jaccard_mean"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert t.loc["c/paper", "jaccard_mean"] == pytest.approx((0 + 2 / 3 + 0) / 3)
    assert (t["n_resamples"] == 3).all() and (t["n_failed"] == 1).all()
    assert t.loc["c/graph1", "n_genes"] == 4 and t.loc["c/paper", "method"] == "paper"
    assert t.loc["c/graph1", "recovered_fraction"] == pytest.approx(1 / 3)
    assert t.loc["c/graph1", "dissolved_fraction"] == pytest.approx(1 / 3)
    assert np.isnan(t["contrast_null_p"]).all()  # no magnetization given


def test_contrast_null_exact_and_random():
    contrast = np.array([0.9, 0.8, 0.1, 0.2, 0.05, 0.1])
    rng = np.random.default_rng(0)
    # C(6, 2) = 15 subsets <= 100: exact, the top pair is the only one with mean >= 0.85
    exact = st.contrast_null(contrast, np.array([0, 1]), 100, rng)
    assert exact["contrast"] == pytest.approx(0.85)
    assert exact["contrast_null_p"] == pytest.approx(1 / 15) and exact["n_random_sets"] == 15
    # more subsets than asked for: random sets with the +1 correction
    rnd = st.contrast_null(contrast, np.array([0, 1]), 10, rng)
    assert rnd["n_random_sets"] == 10
    assert 1 / 11 <= rnd["contrast_null_p"] <= 3 / 11  # the top pair can be drawn, rarely twice
    low = st.contrast_null(contrast, np.array([2, 4]), 100, rng)
    assert low["contrast_null_p"] > 0.8
    assert np.isnan(st.contrast_null(contrast, np.arange(6), 100, rng)["contrast_null_p"])


def test_summarize_adds_bh_across_subcommunities(tmp_path):
    a = pd.DataFrame([{c: 0 for c in st.COLUMNS} | {"community": "c1", "subcommunity": "c1/graph1",
                                                   "method": "graph", "contrast_null_p": 0.01},
                      {c: 0 for c in st.COLUMNS} | {"community": "c1", "subcommunity": "c1/graph2",
                                                   "method": "graph", "contrast_null_p": 0.04}])
    b = pd.DataFrame([{c: 0 for c in st.COLUMNS} | {"community": "c2", "subcommunity": "c2/graph1",
                                                   "method": "graph", "contrast_null_p": np.nan}])
    for name, df in (("a", a), ("b", b), ("empty", st.empty_table())):
        df.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False, na_rep="")
    out = st.summarize([tmp_path / "a.tsv", tmp_path / "empty.tsv", tmp_path / "b.tsv"])
    assert list(out.columns) == list(st.SUMMARY_COLUMNS)
    assert out["subcommunity"].tolist() == ["c1/graph1", "c1/graph2", "c2/graph1"]
    np.testing.assert_allclose(out["contrast_null_q"].to_numpy()[:2], [0.02, 0.04])  # m = 2 finite p
    assert np.isnan(out["contrast_null_q"].iloc[2])
    with pytest.raises(InputError, match="two input tables"):
        st.summarize([tmp_path / "a.tsv", tmp_path / "a.tsv"])


# --------------------------------------------------------------------------- planted data


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    data = _data(tmp_path_factory.mktemp("stability"), 0, True)
    ref = _reference(data)
    results = list(st.run_resamples(data, st.bootstrap_resamples(data.y, data.groups, 5, seed=0),
                                    CHAIN, community="c01"))
    table = st.stability_table(ref.table, results, community="c01", community_genes=data.genes,
                               magnetization=ref.magnetization, classes=data.classes)
    return ref, results, table


def test_planted_subcommunity_is_found_and_stable(planted):
    ref, results, table = planted
    sets = st.reference_sets(ref.table)
    assert len(sets) == 1 and jaccard(sets[0][2], planted_gen.MODULE) == 1.0
    row = table.iloc[0]
    assert row["n_resamples"] == 5 and row["n_failed"] == 0
    assert row["jaccard_mean"] >= 0.8 and row["jaccard_low"] >= 0.5
    # the resamples' own subcommunities are the module again
    for r in results:
        assert max(jaccard(s, planted_gen.MODULE) for s in st.sets_of_method(r.table, "graph")) >= 0.7
    # ... and its magnetization contrast beats random 7-gene subsets of the community
    assert row["contrast"] >= 0.2 and row["contrast_null_p"] < 0.05
    assert row["n_random_sets"] == 1000


def test_contrast_matches_the_subcommunity_table(planted):
    ref, _, table = planted
    assert table.iloc[0]["contrast"] == pytest.approx(ref.table["contrast"].mean(), abs=1e-9)


def test_noise_labels_give_no_reference_subcommunity(tmp_path):
    """Labels independent of expression: the co-expressed blocks are still correlated in
    the class states, but none has the magnetization contrast of a discriminative block
    (default --min-contrast), so there is nothing whose stability could be claimed."""
    data = _data(tmp_path, 0, False)
    assert st.reference_sets(_reference(data).table) == []


def test_parallel_workers_give_the_same_tables(planted, tmp_path):
    data = _data(tmp_path, 0, True)
    resamples = st.bootstrap_resamples(data.y, data.groups, 2, seed=0)
    serial = list(st.run_resamples(data, resamples, CHAIN, community="c01", workers=1))
    forked = list(st.run_resamples(data, resamples, CHAIN, community="c01", workers=2))
    for a, b in zip(serial, forked, strict=True):
        pd.testing.assert_frame_equal(a.table, b.table)
    _, results, _ = planted  # the same two first resamples as the fixture's
    pd.testing.assert_frame_equal(serial[0].table, results[0].table)


# --------------------------------------------------------------------------- classical sets


def test_classical_table_matches_within_method_and_counts_failures():
    reference = _table({"c/classical1": ("classical", list("ABCD")), "c/top_de:graph1": ("top_de", list("ABE"))})
    results = [
        # the classical set reappears as a top_de set only: no classical match in resample 0
        st.ResampleResult(0, _table({"c/top_de:graph1": ("top_de", list("ABCD"))})),
        st.ResampleResult(1, _table({"c/classical1": ("classical", list("ABC")),
                                     "c/top_de:graph1": ("top_de", list("ABE"))})),
        st.ResampleResult(2, None, error="constant gene"),
    ]
    contrast = np.array([0.5, 0.4, 0.3, 0.2, 0.0, 0.0])  # genes A..F
    table = st.classical_stability_table(reference, results, community="c", contrast_all=contrast,
                                         community_genes=list("ABCDEF"), n_random_sets=100)
    assert list(table.columns) == list(st.COLUMNS)
    t = table.set_index("subcommunity")
    assert t.loc["c/classical1", "jaccard_mean"] == pytest.approx((0 + 0.75) / 2)
    assert t.loc["c/top_de:graph1", "jaccard_mean"] == pytest.approx((2 / 5 + 1) / 2)
    assert (t["n_resamples"] == 2).all() and (t["n_failed"] == 1).all()
    assert t.loc["c/top_de:graph1", "method"] == "top_de"
    # data contrast: mean over the members; exact null over the C(6, 4) = 15 subsets
    assert t.loc["c/classical1", "contrast"] == pytest.approx(0.35)
    assert t.loc["c/classical1", "contrast_null_p"] == pytest.approx(1 / 15)
    assert t.loc["c/classical1", "n_random_sets"] == 15
    # without the data contrast: the table's own contrast column (absent here) -> NaN, no null
    bare = st.classical_stability_table(reference, results, community="c")
    assert bare["contrast_null_p"].isna().all() and (bare["n_random_sets"] == 0).all()


def test_summarize_adjusts_each_family_apart(tmp_path):
    def row(sid, method, p):
        return {c: 0 for c in st.COLUMNS} | {"community": "c1", "subcommunity": sid, "method": method,
                                             "contrast_null_p": p}

    mps = pd.DataFrame([row("c1/graph1", "graph", 0.01), row("c1/paper1", "paper", 0.04)])
    mps.to_csv(tmp_path / "mps.tsv", sep="\t", index=False)
    both = pd.concat([mps, pd.DataFrame([row("c1/classical1", "classical", 0.03), row("c1/classical2", "classical", 0.5),
                                         row("c1/top_de:graph1", "top_de", 0.02)])])
    both.to_csv(tmp_path / "both.tsv", sep="\t", index=False)
    alone = st.summarize([tmp_path / "mps.tsv"]).set_index("subcommunity")["contrast_null_q"]
    q = st.summarize([tmp_path / "both.tsv"]).set_index("subcommunity")["contrast_null_q"]
    np.testing.assert_allclose(q[["c1/graph1", "c1/paper1"]], alone[["c1/graph1", "c1/paper1"]])
    np.testing.assert_allclose(alone, [0.02, 0.04])  # BH over the two MPS sets together
    np.testing.assert_allclose(q[["c1/classical1", "c1/classical2"]], [0.06, 0.5])
    assert q["c1/top_de:graph1"] == pytest.approx(0.02)


def test_classical_resamples_recover_the_planted_module(tmp_path):
    """The real classical procedure on bootstrap resamples of the planted community."""
    from mpsomics.omics import classical

    data = _data(tmp_path, 0, True)
    y01 = st.positive_indicator(data)
    chain = st.ClassicalChain(sizes={"c01/graph1": len(planted_gen.MODULE)})
    reference = classical.classical_subcommunities(data.X, y01, data.genes, "c01", **chain.options())
    sets = reference.groupby("subcommunity")["gene"].apply(list).to_dict()
    assert jaccard(sets["c01/classical1"], planted_gen.MODULE) == 1.0
    results = st.run_classical_resamples(data, st.bootstrap_resamples(data.y, data.groups, 5, seed=0), chain,
                                         community="c01")
    assert [r.index for r in results] == list(range(5)) and all(r.table is not None for r in results)
    table = st.classical_stability_table(reference, results, community="c01", contrast_all=st.data_contrast(data),
                                         community_genes=data.genes, n_random_sets=200).set_index("subcommunity")
    assert table.loc["c01/classical1", "jaccard_mean"] >= 0.9
    assert table.loc["c01/top_de:graph1", "jaccard_mean"] >= 0.9
    # the contrast recomputed from the data is the classical table's own contrast column
    assert table.loc["c01/classical1", "contrast"] == pytest.approx(
        reference.loc[reference["subcommunity"] == "c01/classical1", "contrast"].mean(), abs=1e-9)
    assert table.loc["c01/classical1", "contrast_null_p"] < 0.05


def test_a_failing_classical_resample_is_left_out(tmp_path, monkeypatch):
    from mpsomics.omics import classical

    data = _data(tmp_path, 0, True)
    calls = []

    def flaky(X, y01, genes, community, **kwargs):
        calls.append(len(X))
        if len(calls) == 2:
            raise ValueError("need >= 2 samples of each class")
        return _table({f"{community}/classical1": ("classical", list(genes[:3]))})

    monkeypatch.setattr(classical, "classical_subcommunities", flaky)
    results = st.run_classical_resamples(data, st.bootstrap_resamples(data.y, data.groups, 3), st.ClassicalChain(),
                                         community="c01")
    assert [r.table is None for r in results] == [False, True, False] and "2 samples" in results[1].error

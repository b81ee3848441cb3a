"""Each module of the prepare package, imported directly, on a tiny case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.omics.prepare import matching, pipeline, reading, scaling, splitting, transforming


def test_reading_matrix_and_sheet(tmp_path):
    expr = tmp_path / "expr.tsv"
    expr.write_text("symbol\tS1\tS2\nA\t1\t2\n\t3\t4\nB\t5\t6\n")
    df = reading.read_expression(expr)
    assert list(df.index) == ["S1", "S2"] and list(df.columns) == ["A", "B"]  # empty symbol dropped
    assert df.loc["S2", "B"] == 6.0
    sheet = tmp_path / "s.tsv"
    sheet.write_text("aliquot_barcode\tlabel\tpatient\nS1\ttumor\tP1\nS2\tNA\tP2\n")
    with pytest.raises(InputError, match="have no 'label'"):
        reading.read_sample_sheet(sheet)
    with pytest.raises(InputError, match="group column 'donor' not found"):
        reading.check_sheet_columns(pd.DataFrame(columns=["s", "l"]), sheet, "s", "l", "donor")


def test_matching_steps():
    expr = pd.DataFrame(np.zeros((2, 2)), index=["s1", "s2"], columns=["G1", "G2"])
    sheet = pd.DataFrame({"label": ["a", "b"], "group": ["p", "q"]}, index=["s2", "s1"])
    assert list(matching.match_samples(expr, sheet).index) == ["s1", "s2"]
    with pytest.raises(InputError, match="looks transposed"):
        matching.match_samples(expr.T, sheet)
    labels = np.array(["n"] * 5 + ["t"] * 6 + ["x"] * 5, dtype=object)
    cls = matching.resolve_classes(labels, "t", True, 5, None)
    assert cls.classes == ["other", "t"] and cls.merged == {"n": 5, "x": 5}
    with pytest.raises(InputError, match="differ only by case"):
        matching.check_label_names({"T": 1, "t": 1}, None, None)


def test_splitting_keeps_groups_apart():
    labels = np.repeat(["a", "b"], 8)
    groups = np.array([f"p{i // 2}" for i in range(16)])
    split = splitting.grouped_split(labels, groups, test_fraction=0.25, seed=1)
    assert not set(groups[split == "train"]) & set(groups[split == "test"])
    assert splitting.n_folds(0.25) == 4
    with pytest.raises(InputError, match="only 1 group"):
        splitting.check_splittable(labels, np.where(labels == "a", "g", groups), ["a", "b"], 2, 0.5)


def test_transforming_steps():
    x = np.array([[100.0, np.nan, 1.0], [3.0, 4.0, 1.0], [7.0, 8.0, 1.0]])
    logged, detected, _ = transforming.to_log_scale(x, "auto", ["A", "B", "C"], ["1", "2", "3"], None)
    assert detected == "linear" and logged[1, 0] == 2.0
    train = np.array([True, True, False])
    imputed, genes, counts = transforming.resolve_nan(logged, ["A", "B", "C"], "impute_median", train, None)
    assert counts.imputed == 1 and imputed[0, 1] == logged[1, 1] and genes == ["A", "B", "C"]
    kept, genes, filt = transforming.filter_genes(imputed, genes, train, 1.0, 0.5, None)
    # B is constant on train once imputed with its train median, C constant everywhere
    assert genes == ["A"] and kept.shape == (3, 1) and filt == (0, 2, 0)
    dup = np.array([[1.0, 0.0], [1.0, 5.0]])
    out, names, n_sym, n_rm = transforming.aggregate_duplicates(dup, ["G", "G"], "most_variable")
    assert names == ["G"] and (n_sym, n_rm) == (1, 1) and out[:, 0].tolist() == [0.0, 5.0]
    with pytest.raises(InputError, match="no gene left"):
        transforming.require_genes([], 3, filt, counts, None)


def test_scaling_and_pipeline_names():
    scaled, mins, maxs = scaling.minmax_fit_transform(np.array([[0.0], [2.0], [4.0]]), np.array([1, 1, 0], bool))
    assert scaled[:, 0].tolist() == [0.0, 1.0, 1.0] and (mins[0], maxs[0]) == (0.0, 2.0)
    assert pipeline.prepare.__module__ == "mpsomics.omics.prepare.pipeline"

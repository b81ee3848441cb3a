"""Cohorts read like `prepare` input, scaled per cohort without labels."""

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.omics.prepare.transforming import log_cpm
from mpsomics.validation.cohorts import load_cohort, minmax, read_log_values, zscores


def write_cohort(tmp_path, values, name="expr.tsv"):
    """``values``: genes x samples frame; sheet with paired patients, half tumour."""
    path = tmp_path / name
    values.to_csv(path, sep="\t", index_label="symbol")
    n = values.shape[1]
    sheet = pd.DataFrame({"sample": values.columns, "label": ["normal", "tumor"] * (n // 2),
                          "patient": [f"p{i // 2}" for i in range(n)]})
    sheet.to_csv(tmp_path / "sheet.tsv", sep="\t", index=False)
    return {"expression": str(path), "samples": str(tmp_path / "sheet.tsv"), "sample_col": "sample",
            "label_col": "label", "group_col": "patient", "positive_label": "tumor"}


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    c = rng.poisson(rng.gamma(2.0, 50.0, size=(30, 1)), size=(30, 40)).astype(float)
    return pd.DataFrame(c, index=[f"G{i}" for i in range(30)], columns=[f"s{j}" for j in range(40)])


def test_log_values_labels_and_patients(tmp_path, counts):
    logv = np.log2(counts + 1.0)
    cohort = load_cohort("a", write_cohort(tmp_path, logv))
    assert cohort.log.shape == (40, 30) and cohort.genes == list(logv.index)
    np.testing.assert_allclose(cohort.log.to_numpy(), logv.T.to_numpy())
    assert cohort.y.sum() == 20 and len(set(cohort.groups)) == 20


def test_another_scale_and_counts_give_the_same_features(tmp_path, counts):
    lc, _ = log_cpm(counts.T.to_numpy(), None, list(counts.columns))
    original = pd.DataFrame(lc.T, index=counts.index, columns=counts.columns)
    base = load_cohort("a", write_cohort(tmp_path, original, "a.tsv"))
    # values up to 3 * 17 + 5 > 50 look linear to `values: auto` (prepare's rule): say `log`
    affine = load_cohort("b", {**write_cohort(tmp_path, 3 * original + 5, "b.tsv"), "values": "log"})
    from_counts = load_cohort("c", write_cohort(tmp_path, counts.astype(int), "c.tsv"))
    np.testing.assert_allclose(from_counts.log.to_numpy(), base.log.to_numpy(), atol=1e-9)
    for other in (affine, from_counts):
        np.testing.assert_allclose(minmax(other.log.to_numpy()), minmax(base.log.to_numpy()), atol=1e-9)
        np.testing.assert_allclose(zscores(other.log.to_numpy()), zscores(base.log.to_numpy()), atol=1e-9)


def test_scaling_is_label_free_and_bounded():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    np.testing.assert_allclose(minmax(x), [[0, 0.5], [1, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(zscores(x)[:, 0], [-1, 1, 0])
    assert (zscores(x)[:, 1] == 0).all()


def test_bad_cohort_settings_name_the_problem(tmp_path, counts):
    cfg = write_cohort(tmp_path, np.log2(counts + 1.0))
    with pytest.raises(InputError, match="unknown key"):
        load_cohort("a", {**cfg, "labels": "x"})
    with pytest.raises(InputError, match="positive_label"):
        load_cohort("a", {k: v for k, v in cfg.items() if k != "positive_label"})
    with pytest.raises(InputError):
        load_cohort("a", {**cfg, "positive_label": "tumour"})


def test_every_gene_is_kept_and_duplicates_are_chosen_without_labels(tmp_path, counts):
    logv = np.log2(counts + 1.0)
    logv.loc["CONST"] = 3.0  # constant: kept (a set gene is then found, min-max 0.5, z 0)
    dup = logv.iloc[[0]].copy()
    dup.iloc[0, :] = np.linspace(0, 20, logv.shape[1])  # the more variable copy of G0
    frame = pd.concat([logv, dup])
    cohort = load_cohort("a", write_cohort(tmp_path, frame))
    assert cohort.genes == [*logv.index]  # G0 once, at its first position; CONST kept
    np.testing.assert_allclose(cohort.log["G0"], dup.iloc[0].to_numpy())
    assert (minmax(cohort.log[["CONST"]].to_numpy()) == 0.5).all()


def test_read_log_values_transforms_like_prepare(tmp_path, counts):
    path = tmp_path / "c.tsv"
    counts.astype(int).to_csv(path, sep="\t", index_label="symbol")
    values = read_log_values(path)
    expected, _ = log_cpm(counts.T.to_numpy(), None, list(counts.columns))
    np.testing.assert_allclose(values.to_numpy(), expected, atol=1e-9)
    assert values.attrs["values"] == "counts"
    linear = read_log_values(path, values="linear")
    np.testing.assert_allclose(linear.to_numpy(), np.log2(counts.T.to_numpy() + 1.0))
    with pytest.raises(InputError, match="values 'tpm'"):
        read_log_values(path, values="tpm")


def test_too_small_a_class_is_an_input_error(tmp_path, counts):
    cfg = write_cohort(tmp_path, np.log2(counts.iloc[:, :4] + 1.0))
    with pytest.raises(InputError, match="fewer than 3"):
        load_cohort("a", cfg)

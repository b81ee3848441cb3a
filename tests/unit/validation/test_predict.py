"""Feature scaling policies and the prediction table of `mpsomics predict`."""

import numpy as np
import pandas as pd
import pytest

from mpsomics.core.errors import InputError
from mpsomics.mps.state import MPSState
from mpsomics.validation.predict import features, predict_file, predict_prepared, predict_table

GENES = ["A", "B", "C"]


def product_model(informative="A"):
    """A bond-dimension-1 MPS: P(tumor | x) = sin²(π x_informative / 2); other sites inert."""
    uniform = np.full((1, 2, 1), 1 / np.sqrt(2))
    label = np.array([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)
    return MPSState(sites=[label if g == informative else uniform for g in GENES],
                    label_site=GENES.index(informative), genes=list(GENES), classes=["normal", "tumor"])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared .h5ad (by `prepare` itself) and the log table it came from."""
    from mpsomics.omics.prepare import prepare, read_expression, read_sample_sheet

    d = tmp_path_factory.mktemp("prepared")
    rng = np.random.default_rng(0)
    n = 40
    y = np.arange(n) % 2
    x = 6 + rng.normal(size=(n, 3))
    x[:, 0] += 2 * y
    samples = [f"s{i}" for i in range(n)]
    pd.DataFrame(x.T, index=pd.Index(GENES, name="symbol"), columns=samples).to_csv(d / "log.tsv", sep="\t")
    pd.DataFrame({"sample": samples, "label": np.where(y == 1, "tumor", "normal"),
                  "patient": [f"p{i}" for i in range(n)]}).to_csv(d / "sheet.tsv", sep="\t", index=False)
    adata = prepare(read_expression(d / "log.tsv"),
                    read_sample_sheet(d / "sheet.tsv", sample_col="sample", group_col="patient"),
                    min_expression=0.0, values="log")
    adata.write_h5ad(d / "expression.h5ad")
    return d, adata


def test_feature_policies():
    values = pd.DataFrame({"A": [1.0, 3.0, 2.0], "B": [0.0, 10.0, 5.0]})
    np.testing.assert_allclose(features(values, ["B", "A"], "cohort"), [[0, 0], [1, 1], [0.5, 0.5]])
    var = pd.DataFrame({"scale_min": [0.0, 2.0], "scale_max": [4.0, 3.0]}, index=["A", "B"])
    np.testing.assert_allclose(features(values, ["A", "B"], "train", var), [[0.25, 0], [0.75, 1], [0.5, 1]])
    with pytest.raises(InputError, match="missing"):
        features(values, ["A", "C"], "cohort")
    with pytest.raises(InputError, match="--reference") as exc:
        features(values, ["A"], "train", path="cohort.tsv")
    assert exc.value.path == "--scaling"  # the option at fault, not the expression table
    with pytest.raises(InputError, match="no training scaling for 1 model gene") as exc:
        features(values, ["A", "B"], "train", var.loc[["A"]], "cohort.tsv", "ref.h5ad")
    assert exc.value.path == "ref.h5ad"
    with pytest.raises(InputError, match="scale_min/scale_max") as exc:
        features(values, ["A"], "train", var[["scale_min"]], "cohort.tsv", "ref.h5ad")
    assert exc.value.path == "ref.h5ad"


def test_prediction_table_is_the_born_probability():
    x = np.array([[0.0, 0.3, 0.9], [1.0, 0.2, 0.1], [0.5, 0.5, 0.5], [0.25, 0.0, 1.0]])
    t = predict_table(product_model(), x, ["a", "b", "c", "d"], ["normal", "tumor", "tumor", ""])
    assert list(t.columns) == ["sample", "probability_normal", "probability_tumor", "predicted", "label"]
    np.testing.assert_allclose(t["probability_tumor"], np.sin(np.pi / 2 * x[:, 0]) ** 2, atol=1e-12)
    np.testing.assert_allclose(t["probability_normal"] + t["probability_tumor"], 1.0)
    assert t["predicted"].tolist()[:2] == ["normal", "tumor"] and t["predicted"].iloc[3] == "normal"


def test_prepared_input_reproduces_the_training_time_scores(prepared):
    from mpsomics.omics.scores import community_probability

    d, adata = prepared
    model = product_model()
    t = predict_prepared(model, d / "expression.h5ad")
    np.testing.assert_allclose(t["probability_tumor"], community_probability(adata, model, "tumor"), rtol=1e-12)
    assert t["split"].tolist() == adata.obs["split"].astype(str).tolist()
    assert t["label"].tolist() == adata.obs["label"].astype(str).tolist()
    # the raw table under the training min-max gives the same features, test samples clipped like prepare's
    raw = predict_file(model, d / "log.tsv", scaling="train", reference=d / "expression.h5ad", values="log",
                       samples=d / "sheet.tsv")
    np.testing.assert_allclose(raw["probability_tumor"], t["probability_tumor"], rtol=1e-10, atol=1e-12)
    assert raw["label"].tolist() == t["label"].tolist()


def test_cohort_scaling_is_affine_invariant_and_needs_no_reference(prepared, tmp_path):
    d, _ = prepared
    table = pd.read_csv(d / "log.tsv", sep="\t", index_col=0)
    (3 * table + 5).to_csv(tmp_path / "shifted.tsv", sep="\t")
    a = predict_file(product_model(), d / "log.tsv", values="log")
    b = predict_file(product_model(), tmp_path / "shifted.tsv", values="log")
    np.testing.assert_allclose(a["probability_tumor"], b["probability_tumor"], rtol=1e-12)
    assert "label" not in a.columns
    x = table.loc["A"].to_numpy()
    np.testing.assert_allclose(a["probability_tumor"], np.sin(np.pi / 2 * (x - x.min()) / np.ptp(x)) ** 2)


def test_bad_requests_are_input_errors(prepared):
    d, _ = prepared
    with pytest.raises(InputError, match="--reference"):
        predict_file(product_model(), d / "log.tsv", scaling="train")
    with pytest.raises(InputError, match="--sample-col"):
        predict_file(product_model(), d / "log.tsv", samples=d / "sheet.tsv", sample_col="label")
    bad = MPSState(sites=product_model().sites, label_site=0, genes=["A", "B", "Z"], classes=["normal", "tumor"])
    with pytest.raises(InputError, match="missing: Z"):
        predict_prepared(bad, d / "expression.h5ad")

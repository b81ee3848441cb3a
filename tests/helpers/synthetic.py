"""Prepared AnnData from synthetic log2 values, as `mpsomics prepare` would write it.

Shared by the planted-community tests: the values are min-max scaled on the training
samples only (clipped to [0, 1] elsewhere), every sample is its own patient.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata
import numpy as np
import pandas as pd


def prepared_anndata(log2: np.ndarray, y: np.ndarray, split: np.ndarray, genes: Sequence[str],
                     classes: Sequence[str] = ("normal", "tumor"), positive: str = "tumor",
                     **uns: object) -> anndata.AnnData:
    """AnnData with ``.X`` scaled on ``split == "train"``, ``layers["log"]``, ``obs`` label/group/split."""
    train = split == "train"
    lo, hi = log2[train].min(axis=0), log2[train].max(axis=0)
    X = np.clip((log2 - lo) / (hi - lo), 0.0, 1.0)
    n = len(y)
    obs = pd.DataFrame({"label": [classes[k] for k in y], "group": [f"p{i}" for i in range(n)], "split": split},
                       index=[f"s{i}" for i in range(n)])
    ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame({"scale_min": lo, "scale_max": hi}, index=list(genes)))
    ad.layers["log"] = log2
    ad.uns["classes"] = list(classes)
    ad.uns["positive_label"] = positive
    if uns:
        ad.uns["prepare"] = dict(uns)
    return ad

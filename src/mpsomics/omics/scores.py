"""Per-sample scores of communities and subcommunities.

Definitions (every sample of the prepared AnnData, train and test):

* **Community** ``{c}``: the MPS classifier's probability of the positive class,
  ``P(pos | x) = f_pos(x)² / Σ_ℓ f_ℓ(x)²`` (Born rule on the class scores f_ℓ of
  :func:`mpsomics.mps.contract.log_scores`, computed from ``.X`` in the model's site
  order). In [0, 1]; > 0.5 is the model's prediction of the positive class.
* **Subcommunity** ``{c}/{id}``: the signed mean z-score of its genes,
  ``(1/|S|) Σ_{g∈S} s_g (x_g − μ_g) / σ_g`` on ``layers['log']``, with μ_g, σ_g the
  mean and standard deviation over the **training** samples and s_g = +1 when gene g
  is higher on average in the positive class among the training samples, −1 when
  lower. Positive values: the sample looks like the positive class on these genes.
  A gene with σ_g = 0 contributes 0.

Both use only training samples for anything fitted (the models, μ, σ, s), so test
samples' scores are out-of-sample.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.mps.state import MPSState
from mpsomics.ttn.classifier import log_scores  # MPS or TTN (config `model`)

log = logging.getLogger(__name__)

#: ``.obsm`` keys of ``expression_scored.h5ad``.
OBSM_COMMUNITIES = "mps_probability"
OBSM_SUBCOMMUNITIES = "subcommunity_score"
#: Leading columns of ``scores.tsv``.
SAMPLE_COLUMNS = ["sample", "label", "group", "split"]


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


def _columns(adata, genes: Sequence[str], what: str) -> np.ndarray:
    index = {g: i for i, g in enumerate(adata.var_names)}
    missing = [g for g in genes if g not in index]
    if missing:
        raise InputError(None, f"{what}: {len(missing)} gene(s) not in the prepared AnnData: {', '.join(missing[:5])}")
    return np.asarray([index[g] for g in genes], dtype=np.int64)


def community_probability(adata, model: MPSState, positive: str) -> np.ndarray:
    """P(positive | x) of every sample under ``model`` (Born rule, shape (n,))."""
    if positive not in model.classes:
        raise InputError(None, f"model classes {model.classes} do not include the positive class {positive!r}")
    cols = _columns(adata, model.genes, "model")
    scaled, _ = log_scores(model, _dense(adata.X)[:, cols])  # unit norm per sample
    return scaled[:, model.classes.index(positive)] ** 2


def subcommunity_score(adata, genes: Sequence[str], positive: str) -> np.ndarray:
    """Signed mean z-score of ``genes`` for every sample (shape (n,)); see the module docstring."""
    cols = _columns(adata, genes, "subcommunity")
    x = _dense(adata.layers["log"])[:, cols]
    train = (adata.obs["split"].astype(str) == "train").to_numpy()
    is_pos = (adata.obs["label"].astype(str) == positive).to_numpy()
    mu = x[train].mean(axis=0)
    sd = x[train].std(axis=0, ddof=1) if train.sum() > 1 else np.zeros(len(cols))
    diff = x[train & is_pos].mean(axis=0) - x[train & ~is_pos].mean(axis=0)
    sign = np.where(diff < 0, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (x - mu) / sd, 0.0)
    return (z * sign).mean(axis=1)


def score_table(
    adata,
    models: Mapping[str, MPSState],
    subcommunities: Mapping[str, Sequence[str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Community and subcommunity scores, samples × sets (index ``obs_names``).

    Parameters
    ----------
    adata
        Prepared AnnData (:func:`mpsomics.core.readers.read_prepared`).
    models
        Community id -> trained model, in the order of the columns.
    subcommunities
        Subcommunity id -> genes, in the order of the columns.
    """
    positive = str(adata.uns["positive_label"])
    comm = pd.DataFrame(
        {c: community_probability(adata, m, positive) for c, m in models.items()},
        index=adata.obs_names.copy(), columns=list(models), dtype=np.float64,
    )
    subs = pd.DataFrame(
        {s: subcommunity_score(adata, g, positive) for s, g in subcommunities.items()},
        index=adata.obs_names.copy(), columns=list(subcommunities), dtype=np.float64,
    )
    log.info("scored %d samples: %d communities, %d subcommunities", adata.n_obs, comm.shape[1], subs.shape[1])
    return comm, subs


def scores_tsv(adata, communities: pd.DataFrame, subcommunities: pd.DataFrame) -> pd.DataFrame:
    """``scores.tsv``: :data:`SAMPLE_COLUMNS`, then one column per community and subcommunity."""
    head = pd.DataFrame(
        {
            "sample": adata.obs_names.astype(str),
            "label": adata.obs["label"].astype(str).to_numpy(),
            "group": adata.obs["group"].astype(str).to_numpy(),
            "split": adata.obs["split"].astype(str).to_numpy(),
        }
    )
    return pd.concat(
        [head, communities.reset_index(drop=True), subcommunities.reset_index(drop=True)], axis=1
    )


def scored_anndata(adata, communities: pd.DataFrame, subcommunities: pd.DataFrame):
    """A copy of ``adata`` with the scores in ``.obsm`` (:data:`OBSM_COMMUNITIES`,
    :data:`OBSM_SUBCOMMUNITIES`, columns named by :func:`obsm_name`) and their
    definitions and the subcommunity ids in ``.uns['scores']``."""
    out = adata.copy()
    out.obsm[OBSM_COMMUNITIES] = communities
    # h5ad keys cannot hold "/": c03/graph1 -> c03_graph1 (the ids are kept in uns)
    out.obsm[OBSM_SUBCOMMUNITIES] = subcommunities.rename(columns=obsm_name)
    out.uns["scores"] = {
        OBSM_COMMUNITIES: "MPS probability of the positive class, f_pos^2 / sum_l f_l^2",
        OBSM_SUBCOMMUNITIES: "signed mean z-score of the genes on layers['log'] (train mean, SD and sign)",
        "subcommunity_ids": [str(c) for c in subcommunities.columns],
    }
    return out


def obsm_name(subcommunity: str) -> str:
    """Column name of a subcommunity in ``.obsm``: ``/`` replaced by ``_``."""
    return str(subcommunity).replace("/", "_")


__all__ = [
    "OBSM_COMMUNITIES",
    "OBSM_SUBCOMMUNITIES",
    "community_probability",
    "obsm_name",
    "score_table",
    "scored_anndata",
    "scores_tsv",
    "subcommunity_score",
]

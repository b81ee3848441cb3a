"""Shared, generic test fixtures (keep small; stages may add their own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
TCGA_DIR = REPO / "data" / "tcga_lihc"


@dataclass
class SyntheticExpression:
    """A small expression table and sample sheet written to disk.

    ``expr`` is genes x samples (log2 scale unless ``linear=True``), index = gene
    symbols; ``sheet`` has columns ``sample``, ``label``, ``patient``.
    """

    expression: Path
    samples: Path
    expr: pd.DataFrame
    sheet: pd.DataFrame

    def write(self, expr: pd.DataFrame | None = None, sheet: pd.DataFrame | None = None) -> None:
        """Rewrite the files from (modified) frames, in the layout of the originals."""
        if expr is not None:
            self.expr = expr
        if sheet is not None:
            self.sheet = sheet
        sep = "," if self.expression.suffix == ".csv" else "\t"
        self.expr.rename_axis("symbol").reset_index().to_csv(self.expression, sep=sep, index=False)
        self.sheet.to_csv(self.samples, sep="\t", index=False)

    def cli_args(self, out: Path, *extra: str) -> list[str]:
        """``mpsomics prepare`` arguments for these files."""
        return [
            "prepare",
            "--expression",
            str(self.expression),
            "--samples",
            str(self.samples),
            "--out",
            str(out),
            "--sample-col",
            "sample",
            *extra,
        ]


@pytest.fixture
def synthetic_expression(tmp_path):
    """Factory: ``synthetic_expression(n_patients=24, labels=("normal", "tumor"), ...)``.

    Patients get labels round-robin; each has ``samples_per_patient`` samples of its
    label. Gene ``G000..`` values are log2-like in [1, 12] (3 decimals); the first
    ``n_informative`` genes are shifted by +2 in the last label.
    """

    def make(
        n_patients: int = 24,
        labels: tuple[str, ...] = ("normal", "tumor"),
        samples_per_patient: int = 1,
        n_genes: int = 30,
        n_informative: int = 5,
        linear: bool = False,
        seed: int = 0,
        name: str = "expr.tsv",
    ) -> SyntheticExpression:
        rng = np.random.default_rng(seed)
        rows = []
        for p in range(n_patients):
            for k in range(samples_per_patient):
                rows.append(
                    {
                        "sample": f"S{p:03d}_{k}",
                        "label": labels[p % len(labels)],
                        "patient": f"P{p:03d}",
                    }
                )
        sheet = pd.DataFrame(rows)
        x = rng.uniform(1.0, 10.0, size=(n_genes, len(sheet)))
        x[:n_informative, (sheet["label"] == labels[-1]).to_numpy()] += 2.0
        if linear:
            x = np.round(2.0**x - 1.0, 3)
        expr = pd.DataFrame(
            np.round(x, 3), index=[f"G{i:03d}" for i in range(n_genes)], columns=sheet["sample"]
        )
        data = SyntheticExpression(tmp_path / name, tmp_path / "samples.tsv", expr, sheet)
        data.write()
        return data

    return make


@pytest.fixture(scope="session")
def make_prepared(tmp_path_factory):
    """Factory for a small prepared AnnData (``prepare``'s output format) and its gene list.

    ``make(name, n_samples, n_genes, n_train)`` writes ``<dir>/expression.h5ad`` (.X in
    [0, 1], the label planted as ``x_2 + x_5 > 1``) and ``<dir>/genes.txt``; returns
    both paths.
    """
    import anndata

    def make(name: str, n_samples: int, n_genes: int, n_train: int, seed: int = 4):
        d = tmp_path_factory.mktemp(name)
        rng = np.random.default_rng(seed)
        genes = [f"G{i}" for i in range(n_genes)]
        X = rng.random((n_samples, n_genes))
        y = (X[:, 2] + X[:, 5] > 1.0).astype(int)
        obs = pd.DataFrame(
            {
                "label": np.array(["normal", "tumor"])[y],
                "group": [f"p{i}" for i in range(n_samples)],
                "split": np.where(np.arange(n_samples) < n_train, "train", "test"),
            },
            index=[f"s{i}" for i in range(n_samples)],
        )
        ad = anndata.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))
        ad.uns["classes"] = ["normal", "tumor"]
        ad.uns["positive_label"] = "tumor"
        ad.layers["log"] = 10.0 * X  # part of the prepared contract (core.readers.read_prepared)
        ad.write_h5ad(d / "expression.h5ad")
        (d / "genes.txt").write_text("\n".join(genes) + "\n")
        return d / "expression.h5ad", d / "genes.txt"

    return make

"""``mpsomics communities``: co-expression network, hierarchical Leiden, baselines.

Writes under ``--out-dir`` (format: ``docs/outputs.md``, section "communities"):
``communities.tsv``, ``baseline.tsv``, ``selected.txt``, ``genes/{community}.txt``
(selected communities only, genes in site order), ``network.tsv`` (edges among
the genes of kept communities) and ``pool.txt`` (every gene of the co-expression
network, i.e. the genes a community could have come from: the universe of the
enrichment tests and the pool of random gene sets). Everything is computed before anything is
written, into temporary files published together at the end (``genes/`` as a whole
directory), so an error or a signal leaves no partial output and no mix of old and new files.

Selection (``--method``): ``permutation`` (default) keeps the communities whose
cross-validated ridge discriminant beats its own label-permutation null (BH
``q <= --fdr`` across communities), best effect first, at most
``--max-communities``; ``threshold`` keeps those whose baseline balanced accuracy is
``>= --min-accuracy`` (Lacalamita's rule). With either, ``--min-communities`` fills a
short selection up with the next best, flagged in ``baseline.tsv`` (``selection =
min_communities``) as exploratory. The rules and the null are described in
:mod:`mpsomics.omics.baselines`.

When no community is selected, the outputs are still written (empty
``selected.txt`` and an empty ``genes/`` directory) with a WARNING: a downstream
fan-out over zero communities is legitimate.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import anndata as ad
import pandas as pd

from mpsomics.commands.argtypes import random_seed
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_files

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mpsomics communities``."""
    d = argparse.ArgumentDefaultsHelpFormatter
    parser.formatter_class = d
    parser.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    parser.add_argument("--out-dir", required=True, help="output directory")
    g = parser.add_argument_group("network")
    g.add_argument("--n-genes", type=int, default=2000, help="most variable genes (train variance of the log layer)")
    g.add_argument("--correlation", choices=["spearman", "pearson"], default="spearman",
                   help="gene-gene correlation on the train samples")
    g.add_argument("--edges", choices=["threshold", "knn"], default="threshold", help="edge rule")
    g.add_argument("--threshold", type=float, default=0.6, help="edge if |r| >= threshold (--edges threshold)")
    g.add_argument("--knn", type=int, default=10, help="neighbours per gene by |r| (--edges knn)")
    g = parser.add_argument_group("communities")
    g.add_argument("--source", choices=["leiden", "file"], default="leiden",
                   help="leiden: detect communities; file: read them from --file")
    g.add_argument("--file", default=None, metavar="TSV",
                   help="gene -> community table (columns gene, community) for --source file")
    g.add_argument("--partition", choices=["rbconfiguration", "modularity"], default="rbconfiguration",
                   help="Leiden quality function")
    g.add_argument("--resolution", type=float, default=1.0, help="RB configuration resolution")
    g.add_argument("--max-size", type=int, default=48, help="split larger communities recursively")
    g.add_argument("--min-size", type=int, default=10, help="drop smaller communities")
    g.add_argument("--max-depth", type=int, default=8, help="maximal recursive split levels")
    g = parser.add_argument_group("baseline and selection")
    g.add_argument("--folds", type=int, default=5, help="patient-grouped stratified CV folds")
    g.add_argument("--n-estimators", type=int, default=100, help="random forest trees")
    g.add_argument("--method", choices=["permutation", "threshold"], default="permutation",
                   help="permutation: ridge CV AUC beats its label-permutation null (BH q <= --fdr), "
                        "best effect first; threshold: baseline balanced accuracy >= --min-accuracy")
    g.add_argument("--selection-model", choices=["best", "logistic_regression", "random_forest"],
                   default="best", help="model whose balanced accuracy ranks communities for --method "
                                        "threshold and breaks AUC ties for --method permutation "
                                        "(best = max of both)")
    g.add_argument("--min-accuracy", type=float, default=0.9,
                   help="minimal baseline balanced accuracy (--method threshold)")
    g.add_argument("--fdr", type=float, default=0.05,
                   help="BH false discovery rate across communities (--method permutation)")
    g.add_argument("--permutations", type=int, default=999,
                   help="patient-respecting label permutations of the null (the smallest p is "
                        "1/(permutations+1), and BH needs it well below --fdr / #communities); "
                        "0 skips the null (--method threshold only)")
    g.add_argument("--max-communities", type=int, default=20, help="select at most this many communities")
    g.add_argument("--min-communities", type=int, default=0,
                   help="if fewer pass, fill up with the next best (flagged min_communities: exploratory)")
    parser.add_argument("--seed", type=random_seed, default=0, help="Leiden, CV and forest seed")
    parser.add_argument("--threads", type=int, default=1, help="parallel baseline evaluations")


def _check_args(args: argparse.Namespace) -> None:
    checks = [
        (args.n_genes >= 2, "--n-genes must be >= 2"),
        (0.0 < args.threshold <= 1.0, "--threshold must be in (0, 1]"),
        (args.knn >= 1, "--knn must be >= 1"),
        (args.resolution > 0, "--resolution must be > 0"),
        (1 <= args.min_size <= args.max_size, "need 1 <= --min-size <= --max-size"),
        (args.max_depth >= 0, "--max-depth must be >= 0"),
        (args.folds >= 2, "--folds must be >= 2"),
        (args.n_estimators >= 1, "--n-estimators must be >= 1"),
        (args.max_communities >= 0, "--max-communities must be >= 0"),
        (args.min_communities >= 0, "--min-communities must be >= 0"),
        (0.0 < args.fdr <= 1.0, "--fdr must be in (0, 1]"),
        (args.permutations >= 0, "--permutations must be >= 0"),
        (args.method != "permutation" or args.permutations >= 1,
         "--method permutation needs --permutations >= 1"),
        (args.method != "permutation" or not 0.0 < args.fdr <= 1.0
         or 1.0 / (args.permutations + 1) <= args.fdr,
         f"--permutations {args.permutations} cannot reach p <= --fdr {args.fdr}: "
         f"use at least {math.ceil(1.0 / args.fdr) - 1 if args.fdr > 0 else 'more'}"),
        (args.threads >= 1, "--threads must be >= 1"),
        (args.source != "file" or bool(args.file), "--source file needs --file"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InputError(None, msg)


def detect_communities(adata: ad.AnnData, args: argparse.Namespace, path: str | None = None):
    """Co-expression graph and its labelled hierarchical Leiden communities ``[(id, community)]``."""
    from mpsomics.omics import coexpression
    from mpsomics.omics import communities as cm

    t0 = time.perf_counter()
    graph = coexpression.coexpression_graph(
        adata, n_genes=args.n_genes, correlation=args.correlation, edges=args.edges,
        threshold=args.threshold, knn=args.knn, path=path,
    )
    tree = cm.leiden_tree(
        graph, resolution=args.resolution, partition=args.partition, max_size=args.max_size,
        min_size=args.min_size, seed=args.seed, max_depth=args.max_depth,
    )
    if not tree:
        hint = (f"lower --threshold (now {args.threshold})" if args.edges == "threshold"
                else f"raise --knn (now {args.knn})")
        raise InputError(
            path,
            f"no community of >= {args.min_size} genes in the co-expression network of "
            f"{graph.vcount()} genes ({graph.ecount()} edges): {hint}, lower --min-size or raise --n-genes",
        )
    labelled = cm.label_communities(tree)
    sizes = [len(c.genes) for _, c in labelled]
    log.info("%d communities of %d-%d genes (%.1f s)", len(labelled), min(sizes), max(sizes),
             time.perf_counter() - t0)
    return graph, labelled


def file_communities(adata: ad.AnnData, args: argparse.Namespace, path: str | None = None):
    """Own communities (``--source file``) and the co-expression graph on their genes."""
    import igraph as ig
    import numpy as np

    from mpsomics.omics import coexpression
    from mpsomics.omics import communities as cm

    comms = cm.read_community_file(args.file, list(map(str, adata.var_names)), args.min_size)
    big = [c.path for c in comms if len(c.genes) > args.max_size]
    if big:
        log.warning("%d communities from the file exceed --max-size %d and are kept whole: %s",
                    len(big), args.max_size, ", ".join(big[:5]))
    genes = sorted({g for c in comms for g in c.genes})
    corr = coexpression.gene_correlation(adata, genes, args.correlation).to_numpy()
    w = coexpression.adjacency(corr, edges=args.edges, threshold=args.threshold, knn=args.knn)
    src, dst = np.nonzero(np.triu(w, k=1))
    graph = ig.Graph(n=len(genes), edges=list(zip(src.tolist(), dst.tolist(), strict=True)))
    graph.vs["name"] = genes
    graph.es["weight"] = w[src, dst].tolist()
    return graph, cm.label_communities(comms)


def order_sites(adata: ad.AnnData, graph, labelled, correlation: str) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """Genes of each community in MPS site order, and the ``communities.tsv`` table."""
    from mpsomics.omics import coexpression
    from mpsomics.omics import communities as cm

    degree = dict(zip(graph.vs["name"], graph.degree(), strict=True))
    ordered: dict[str, list[str]] = {}
    rows = []
    for cid, comm in labelled:
        corr = coexpression.gene_correlation(adata, list(comm.genes), correlation)
        ordered[cid] = cm.order_genes(corr)
        rows += [{"gene": g, "community": cid, "degree": int(degree[g]), "path": comm.path}
                 for g in ordered[cid]]
    return ordered, pd.DataFrame(rows, columns=["gene", "community", "degree", "path"])


def select_by_baselines(adata: ad.AnnData, ordered: dict[str, list[str]], args: argparse.Namespace,
                        path: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Patient-grouped CV baselines and permutation null of every community, and the selection."""
    from mpsomics.omics import baselines

    t1 = time.perf_counter()
    y, groups = baselines.train_labels(adata)
    try:
        splits = baselines.cv_splits(y, groups, args.folds, args.seed)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    base = baselines.baseline_table(
        adata, ordered, folds=args.folds, seed=args.seed, n_estimators=args.n_estimators,
        threads=args.threads,
    )
    t2 = time.perf_counter()
    null = baselines.permutation_table(adata, ordered, permutations=args.permutations, seed=args.seed,
                                       splits=splits)
    log.info("baselines of %d communities in %.1f s, permutation null (%d permutations) in %.1f s",
             len(ordered), t2 - t1, args.permutations, time.perf_counter() - t2)
    selected, table = baselines.selection_table(
        base, null, args.method, min_accuracy=args.min_accuracy, fdr=args.fdr,
        max_communities=args.max_communities, min_communities=args.min_communities,
        model=args.selection_model,
    )
    _log_selection(table, selected, args)
    return table, selected


def _log_selection(table: pd.DataFrame, selected: list[str], args: argparse.Namespace) -> None:
    per = table.drop_duplicates("community").set_index("community")
    n_sig = int(per["significant"].sum())
    filled = [c for c in selected if per.at[c, "selection"] == "min_communities"]
    if args.permutations:
        log.info("%d of %d communities beat their permutation null at FDR %g (smallest p %.3g, q %.3g)",
                 n_sig, len(per), args.fdr, per["permutation_p"].min(), per["permutation_q"].min())
    rule = (f"permutation null, BH q <= {args.fdr}" if args.method == "permutation"
            else f"balanced accuracy >= {args.min_accuracy}")
    log.info("%d selected (%s, at most %d): %s", len(selected), rule, args.max_communities,
             ", ".join(selected) or "none")
    if filled:
        log.warning("%d selected only to reach --min-communities %d (not passing the %s rule; "
                    "exploratory, flagged min_communities in baseline.tsv): %s", len(filled),
                    args.min_communities, args.method, ", ".join(filled))
    if not selected:
        hint = ("raise --permutations for a smaller attainable p (1/(permutations+1)), raise --fdr "
                "or set --min-communities" if args.method == "permutation"
                else "lower --min-accuracy or set --min-communities")
        log.warning("no community selected: writing an empty selection (%s)", hint)


def community_tables(adata: ad.AnnData, args: argparse.Namespace, path: str | None = None) -> dict:
    """Network, communities, baselines and the selection: all tables of the stage, in memory.

    Nothing is written (:func:`write_community_tables` does).
    """
    from mpsomics.omics import coexpression

    if getattr(args, "source", "leiden") == "file":
        graph, labelled = file_communities(adata, args, path)
    else:
        graph, labelled = detect_communities(adata, args, path)
    ordered, comm_table = order_sites(adata, graph, labelled, args.correlation)
    base, selected = select_by_baselines(adata, ordered, args, path)
    return {
        "communities": comm_table,
        "baseline": base,
        "selected": selected,
        "genes": {cid: ordered[cid] for cid in selected},
        "network": coexpression.edge_table(graph, comm_table["gene"].tolist()),
        "pool": sorted(map(str, graph.vs["name"])),
    }


def write_community_tables(outdir: str | Path, tables: dict) -> None:
    """Write the tables of :func:`community_tables` under ``outdir``, published together."""
    outdir = Path(outdir)
    names = ("communities.tsv", "baseline.tsv", "selected.txt", "network.tsv", "pool.txt")
    with atomic_files([outdir / n for n in names], directories=[outdir / "genes"]) as temps:
        tmp = dict(zip(names, temps, strict=False))
        genes_dir = temps[-1]
        tables["communities"].to_csv(tmp["communities.tsv"], sep="\t", index=False)
        tables["baseline"].to_csv(tmp["baseline.tsv"], sep="\t", index=False, float_format="%.6g")
        tmp["selected.txt"].write_text("".join(f"{c}\n" for c in tables["selected"]))
        tables["network"].to_csv(tmp["network.tsv"], sep="\t", index=False, float_format="%.6g")
        tmp["pool.txt"].write_text("".join(f"{g}\n" for g in tables["pool"]))
        for cid, genes in tables["genes"].items():
            (genes_dir / f"{cid}.txt").write_text("".join(f"{g}\n" for g in genes))


def run(args: argparse.Namespace) -> int:
    """Run the stage; bad input raises :class:`InputError`."""
    from mpsomics.core.readers import read_prepared

    _check_args(args)
    t0 = time.perf_counter()
    adata = read_prepared(args.expression)
    tables = community_tables(adata, args, path=args.expression)
    write_community_tables(args.out_dir, tables)
    log.info("wrote %s (%d communities, %d selected) in %.1f s", args.out_dir,
             tables["communities"]["community"].nunique(), len(tables["selected"]),
             time.perf_counter() - t0)
    return 0

"""``mpsomics stability``: are a community's subcommunities stable under resampling of patients?

::

    mpsomics stability --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c04.txt \\
        --subcommunities results/subcommunities/c04.tsv \\
        [--magnetization results/mps/c04/magnetization_trajectory.tsv] \\
        --community c04 --out results/validation/stability/c04.tsv \\
        [--resamples 20] [--random-sets 1000] [--seed 0] [--threads 1] \\
        [MPS options of `mpsomics train`: --bond-dim 16 --epochs 60 --lr 0.005 ... --observe-every 1] \\
        [grokking options: --delta --window --plateau --saturation --initial-epochs --rate-smooth] \\
        [subcommunity options: --methods --threshold --epoch-window --graph-threshold \\
         --min-contrast --resolution --min-size --magnetization-weight
         --min-correlation-contrast --leiden-seed]

On ``--resamples`` bootstrap resamples of the *training* patients (stratified by class
pattern; the test split is never read), reruns train -> grokking -> subcommunities in
process with the given options (``--threads`` forked workers, one BLAS thread each) and
writes one row per reference subcommunity: the best-match Jaccard index across resamples
(mean, median, 2.5-97.5 % percentile range, recovered / dissolved fractions) and the
magnetization-contrast null against size-matched random subsets of the community's
genes (needs ``--magnetization``, the reference run's trajectory). Definitions:
:mod:`mpsomics.validation.stability`. A reference table without subcommunities gives a
header-only output at once (nothing is trained).

``--classical results/classical/{c}.tsv`` (the table of ``mpsomics
classical-subcommunities``) adds one row per classical / top_de set: the same resamples
rerun the classical procedure (no MPS; ``top_de`` with the sizes of the reference MPS
subcommunities) with ``--classical-threshold``, ``--classical-fdr``,
``--classical-resolution``, ``--classical-min-size`` and ``--classical-min-contrast`` (pass
those of the classical run; the last three default to the graph method's ``--resolution``,
``--min-size``, ``--min-contrast``, which the classical stage shares) and the Leiden
seed; the contrast null uses the *data* contrast of the training split (no
``--magnetization`` needed). These rows follow the MPS rows; without ``--classical`` the
output is what it was. When the MPS reference is header-only but the
classical table is not, nothing is trained and only the classical rows are written.

Pass the options the reference run used (the pipeline passes the config's ``mps``,
``grokking`` and ``subcommunities`` sections): the model seed of resample b is
``--seed + b``, the Leiden seed is ``--leiden-seed`` (default ``--seed``, as the
``subcommunities`` rule uses the config seed). ``--checkpoint-every`` is accepted and
ignored (resample fits are not checkpointed).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mpsomics.commands.argtypes import integer, number, random_seed
from mpsomics.commands.subcommunities import _methods
from mpsomics.commands.train import add_train_config_arguments, train_config
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mpsomics.dynamics import grokking
    from mpsomics.omics import subcommunities

    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    p.add_argument("--genes", required=True, help="the community's gene list (site order)")
    p.add_argument(
        "--subcommunities", required=True,
        help="the reference subcommunity table of the main run (results/subcommunities/{c}.tsv)",
    )
    p.add_argument(
        "--magnetization", default=None,
        help="the main run's magnetization_trajectory.tsv (results/mps/{c}/...): per-gene contrast "
        "of every community gene for the contrast null (omitted: null columns empty)",
    )
    p.add_argument("--community", default=None, help="community id (default: name of --genes)")
    p.add_argument("--out", required=True, help="output TSV (results/validation/stability/{c}.tsv)")
    g = p.add_argument_group("stability")
    g.add_argument("--resamples", type=integer(1), default=20, help="bootstrap resamples of the training patients")
    g.add_argument(
        "--random-sets", type=integer(0), default=1000,
        help="size-matched random subsets of the community for the contrast null (0 = none)",
    )
    add_train_config_arguments(p, observe_every=1)
    d = grokking.DEFAULTS
    g = p.add_argument_group("grokking (as in `mpsomics grokking`; only the transition epoch is used)")
    g.add_argument("--initial-epochs", type=integer(0), default=d["initial_epochs"],
                   help="initial phase = epochs < N (default: automatic)")
    g.add_argument("--delta", type=number(0, 1, lo_open=True), default=d["delta"], help="minimal test-accuracy rise of a jump")
    g.add_argument("--window", type=integer(1), default=d["window"], help="epochs within which the rise must happen")
    g.add_argument("--plateau", type=integer(1), default=d["plateau"], help="plateau epochs before a jump")
    g.add_argument("--saturation", type=number(0, 1, lo_open=True), default=d["saturation"], help="train balanced accuracy counted as saturated")
    g.add_argument("--rate-smooth", type=integer(1), default=d["rate_smooth"],
                   help="moving-average width of the entropy change rate")
    g.add_argument("--min-drop", type=number(0, 1), default=d["min_drop"],
                   help="a transition loses at least this fraction of the peak summed entropy")
    d = subcommunities.DEFAULTS
    g = p.add_argument_group("subcommunities (as in `mpsomics subcommunities`)")
    g.add_argument("--methods", type=_methods, default=d["methods"], help="comma-separated: paper,graph (default both)")
    g.add_argument("--threshold", type=number(0, 1, hi_open=True), default=d["threshold"], help="|C| threshold of the paper method")
    g.add_argument("--epoch-window", type=integer(0), default=d["epoch_window"],
                   help="use recorded epochs within transition +- W")
    g.add_argument("--graph-threshold", type=number(0, 1, hi_open=True), default=d["graph_threshold"],
                   help="graph method: edge threshold on mean |C|")
    g.add_argument("--min-contrast", type=number(0, 1, hi_open=True), default=d["min_contrast"],
                   help="graph method: smallest mean magnetization contrast of a kept cluster")
    g.add_argument("--resolution", type=number(0), default=d["resolution"], help="Leiden resolution")
    g.add_argument("--min-size", type=integer(1), default=d["min_size"], help="smallest graph subcommunity")
    g.add_argument("--magnetization-weight", type=number(0), default=d["magnetization_weight"],
                   help="alpha of the graph edge re-weighting by the magnetization contrast")
    g.add_argument("--min-correlation-contrast", type=number(0, 1), default=d.get("min_correlation_contrast"),
                   help="graph method: also keep clusters whose mean pair correlation contrast |C_k - C_l|/2 "
                   "reaches this (unset or 0 = off)")
    g.add_argument("--leiden-seed", type=random_seed, default=None, help="Leiden seed (default: --seed)")
    from mpsomics.omics import classical

    d = classical.DEFAULTS
    g = p.add_argument_group("classical sets (as in `mpsomics classical-subcommunities`)")
    g.add_argument("--classical", default=None, metavar="TSV",
                   help="the classical table of this community (results/classical/{c}.tsv): add its "
                   "sets' rows (omitted: MPS subcommunities only)")
    g.add_argument("--classical-threshold", type=number(0, 1, hi_open=True), default=d["threshold"],
                   help="|Spearman r| edge threshold of the classical co-expression graph")
    g.add_argument("--classical-resolution", type=number(0), default=None,
                   help="Leiden resolution of the classical graph (default: --resolution)")
    g.add_argument("--classical-min-size", type=integer(1), default=None,
                   help="smallest classical set (default: --min-size)")
    g.add_argument("--classical-min-contrast", type=number(0, 1, hi_open=True), default=None,
                   help="smallest data contrast of a gene kept by the DE filter (default: --min-contrast)")
    g.add_argument("--classical-fdr", type=number(0, 1, lo_open=True), default=d["fdr"],
                   help="BH q threshold of the DE filter (Mann-Whitney)")


def _chain(args: argparse.Namespace):
    from mpsomics.validation.stability import Chain

    config = train_config(args, model="mps")
    return Chain(
        config=config,
        observe_every=args.observe_every,
        grokking=dict(initial_epochs=args.initial_epochs, delta=args.delta, window=args.window,
                      plateau=args.plateau, saturation=args.saturation, rate_smooth=args.rate_smooth,
                      min_drop=args.min_drop),
        subcommunities=dict(
            methods=tuple(args.methods), threshold=args.threshold, epoch_window=args.epoch_window,
            graph_threshold=args.graph_threshold, resolution=args.resolution, min_size=args.min_size,
            seed=config.seed if args.leiden_seed is None else args.leiden_seed,
            magnetization_weight=args.magnetization_weight, min_contrast=args.min_contrast,
            min_correlation_contrast=args.min_correlation_contrast,
        ),
    )


def _write(table, out: Path) -> None:
    from mpsomics.core.files import atomic_path

    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")


def _read_magnetization(path: str, genes: list[str], classes: list[str]):
    from mpsomics.dynamics import training_run

    mag = training_run.load_magnetization(path)
    site_gene = mag.drop_duplicates("site").sort_values("site")["gene"].astype(str).tolist()
    if site_gene != genes:
        raise InputError(path, "its genes per site differ from --genes: not the run of this community")
    labels = set(mag["label"].astype(str))
    if labels != set(classes):
        raise InputError(path, f"labels {sorted(labels)} differ from the expression file's classes {classes}")
    return mag


def _read_classical(path: str, genes: list[str]):
    from mpsomics.core.readers import read_subcommunities
    from mpsomics.validation.stability import CLASSICAL_METHODS

    table = read_subcommunities(path)
    outside = sorted(set(table["gene"].astype(str)) - set(genes))
    if outside:
        raise InputError(path, f"genes not in the community's gene list: {', '.join(outside[:5])}")
    other = sorted(set(table["method"].astype(str)) - set(CLASSICAL_METHODS))
    if other:
        raise InputError(path, f"method(s) {', '.join(other)} are not classical ({', '.join(CLASSICAL_METHODS)}): "
                               "pass MPS tables with --subcommunities")
    return table


def _classical_rows(args, data, reference, classical_table, resamples, community, seed):
    """Stability rows of the classical table's sets on the same resamples."""
    from mpsomics.validation import stability

    refs = stability.reference_sets(reference)
    chain = stability.ClassicalChain(
        threshold=args.classical_threshold,
        # the classical run shares these with the graph method (workflow: config `subcommunities`)
        resolution=args.resolution if args.classical_resolution is None else args.classical_resolution,
        min_size=args.min_size if args.classical_min_size is None else args.classical_min_size,
        min_contrast=args.min_contrast if args.classical_min_contrast is None else args.classical_min_contrast,
        fdr=args.classical_fdr, seed=seed, sizes={sid: len(g) for sid, _, g in refs},
    )
    t0 = time.perf_counter()
    results = stability.run_classical_resamples(data, resamples, chain, community=community)
    for res in results:
        if res.table is None:
            log.warning("classical, resample %d failed (%s): left out", res.index, res.error)
    log.info("%s: classical procedure on %d resamples (%.1f s)", community, len(results), time.perf_counter() - t0)
    return stability.classical_stability_table(
        classical_table, results, community=community, contrast_all=stability.data_contrast(data),
        community_genes=data.genes, n_random_sets=args.random_sets, seed=seed,
    )


def _mps_rows(args, data, reference, refs, chain, resamples, genes, community):
    """Stability rows of the reference MPS subcommunities (trains one chain per resample)."""
    from mpsomics.validation import stability
    from mpsomics.validation.stats import best_match_jaccard

    magnetization = None
    if args.magnetization:
        magnetization = _read_magnetization(args.magnetization, genes, data.classes)
    else:
        log.info("no --magnetization: contrast null columns left empty")
    methods = sorted({m for _, m, _ in refs})
    log.info(
        "%s: %d reference subcommunities (%s); %d resamples of %d training patients (%d samples), "
        "%d worker(s)", community, len(refs), ", ".join(s for s, _, _ in refs), len(resamples),
        len(set(data.groups)), len(data.y), chain.config.threads,
    )
    results = []
    for res in stability.run_resamples(data, resamples, chain, community=community,
                                       workers=chain.config.threads):
        results.append(res)
        if res.table is None:
            log.warning("resample %d failed (%s): left out", res.index, res.error)
            continue
        found = {m: [len(s) for s in stability.sets_of_method(res.table, m)] for m in methods}
        best = [f"{sid} {best_match_jaccard(g, stability.sets_of_method(res.table, m)):.2f}"
                for sid, m, g in refs]
        log.info("resample %d: transition epoch %s, out-of-bag balanced accuracy %.3f, found %s; "
                 "best match %s (%.1f s)", res.index, res.transition_epoch, res.oob_balanced_accuracy,
                 found, ", ".join(best), res.seconds)
    return stability.stability_table(
        reference, results, community=community, community_genes=genes, magnetization=magnetization,
        classes=data.classes, n_random_sets=args.random_sets, seed=chain.config.seed,
    )


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from mpsomics.core.readers import read_gene_list, read_subcommunities
    from mpsomics.validation import stability

    t0 = time.perf_counter()
    community = args.community or Path(args.genes).stem
    out = Path(args.out)
    genes = read_gene_list(args.genes)
    reference = read_subcommunities(args.subcommunities)
    outside = sorted(set(reference["gene"].astype(str)) - set(genes))
    if outside:
        raise InputError(args.subcommunities, f"genes not in {args.genes}: {', '.join(outside[:5])}")
    classical_table = _read_classical(args.classical, genes) if args.classical else None
    chain = _chain(args)
    if chain.config.seed < 0:
        raise InputError(None, f"--seed must be >= 0 (it seeds the resamples), got {chain.config.seed}")
    if chain.observe_every < 1:
        raise InputError(None, "--observe-every must be >= 1: subcommunities need recorded correlations")
    if chain.config.method == "sweep" and len(genes) < 2:
        raise InputError(args.genes, "the sweep method needs at least 2 genes (two-site updates)")
    refs = stability.reference_sets(reference)
    if not refs and (classical_table is None or classical_table.empty):
        log.info("%s: the reference run has no subcommunity (%s is header-only): nothing to resample",
                 community, args.subcommunities)
        _write(stability.empty_table(), out)
        return 0
    absent = sorted({m for _, m, _ in refs} - set(chain.subcommunities["methods"]))
    if absent:
        raise InputError(None, f"--methods {','.join(chain.subcommunities['methods'])} lacks the method(s) "
                               f"{', '.join(absent)} of {args.subcommunities}: pass the reference run's options")
    data = stability.load_stability_data(args.expression, genes, args.genes)
    resamples = stability.bootstrap_resamples(data.y, data.groups, args.resamples, seed=chain.config.seed)
    tables = []
    if refs:
        tables.append(_mps_rows(args, data, reference, refs, chain, resamples, genes, community))
    else:
        log.info("%s: no MPS subcommunity in %s: nothing trained, classical sets only",
                 community, args.subcommunities)
    if classical_table is not None and not classical_table.empty:
        tables.append(_classical_rows(args, data, reference, classical_table, resamples, community,
                                      chain.subcommunities["seed"]))
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    _write(table, out)
    for r in table.itertuples(index=False):
        log.info("%s: Jaccard mean %.3f [%.3f, %.3f] over %d resamples; contrast %.3f, null p %s",
                 r.subcommunity, r.jaccard_mean, r.jaccard_low, r.jaccard_high, r.n_resamples,
                 r.contrast, f"{r.contrast_null_p:.3g}")
    log.info("%s: %d subcommunities -> %s (%.1f s)", community, len(table), out, time.perf_counter() - t0)
    return 0

"""``mpsomics report``: one self-contained HTML report of the run.

::

    mpsomics report --selected results/communities/selected.txt \\
        --baseline results/communities/baseline.tsv --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c01.txt ... --history results/mps/c01/history.tsv ... \\
        [--entanglement ...] [--magnetization ...] [--correlations ...] [--grokking ...] \\
        [--controls results/controls/c01/entanglement_trajectory.tsv ...] \\
        [--subcommunities ...] [--enrichment ...] [--observed-magnetization ...] \\
        [--observed-correlations ...] [--cv results/validation/cv.tsv] \\
        [--stability results/validation/stability.tsv] [--validation results/validation/summary.tsv] \\
        --out-dir results/report

Every per-community option takes one file per community of ``--selected``, in its
order (the workflow expands them in that order); an option left out shows a note in
each community's section. ``--controls`` (the label-permutation controls of
``mpsomics controls``) draws each control's summed entropy beside the real one; the
transition status and its comparison with the controls come from the ``--grokking``
files either way. ``--cv``, ``--stability`` and ``--validation`` (the tables of
``cv-summary``, ``stability-summary`` and ``validate``) fill each community's "How far to
trust this" panel and the verdict columns of the summary tables; without them the report
says that validation was not run. The verdict thresholds come from ``validation``
(``stable_jaccard``, ``fdr``, ``preserved_z``) of ``--config-json``. Writes ``index.html``,
``figures/{community}_grokking.png``, ``figures/{community}_diagnostics.png`` (when
``history.tsv`` has the centroid / norm diagnostics) and, with validation tables,
``figures/validation_cv.png`` / ``figures/validation_subcommunities.png`` into ``--out-dir``.
``--panels`` with ``--panel-curves`` adds the minimal-gene-panel section (and
``figures/{community}_panels.png``); ``--comparison`` (+ ``--comparison-sets``) the
MPS-against-classical section.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mpsomics.commands.argtypes import integer

REPORT_FILE = "index.html"
FIGURES_DIR = "figures"

#: per-community option -> what it holds
PER_COMMUNITY = {
    "genes": "gene lists genes/{community}.txt of `mpsomics communities`",
    "history": "history.tsv of `mpsomics train`",
    "entanglement": "entanglement_trajectory.tsv of `mpsomics train`",
    "magnetization": "magnetization_trajectory.tsv of `mpsomics train`",
    "correlations": "correlations_trajectory.npz of `mpsomics train`",
    "grokking": "{community}.tsv of `mpsomics grokking`",
    "controls": "entanglement_trajectory.tsv of `mpsomics controls` (results/controls/{community}/): the label-"
                "permutation controls' summed entropy, drawn beside the real run's",
    "modes": "modes.tsv of `mpsomics controls --compare-updates` (results/controls/{community}/): the "
             "community trained with other sweep updates, each transition against its controls",
    "subcommunities": "{community}.tsv of `mpsomics subcommunities`",
    "enrichment": "{community}.tsv of `mpsomics enrichment`",
    "observed_magnetization": "magnetization.tsv of `mpsomics observe` (shown without a trajectory)",
    "observed_correlations": "correlations/ directory of `mpsomics observe` (shown without a trajectory)",
    "tree": "tree.tsv of `mpsomics train --model ttn` (TTN runs: entropy per dendrogram split)",
    "representation": "representation_trajectory.tsv of `mpsomics train`: the samples' representation entropy "
                      "and purity per bond (drawn at the half-chain bond beside the learning curve)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the stage's options."""
    parser.add_argument("--selected", required=True, help="selected.txt of `mpsomics communities`: the communities shown, in order")
    parser.add_argument("--baseline", help="baseline.tsv of `mpsomics communities` (baseline columns); optional")
    parser.add_argument("--expression", help="prepared AnnData (sample counts); optional")
    parser.add_argument("--config-json", help="config used for the run, a JSON file or inline JSON text (shown in the header; "
                        "`validation.stable_jaccard`, `.fdr`, `.preserved_z` set the verdict thresholds); optional")
    trust = parser.add_argument_group("validation tables (how far to trust each community and subcommunity; all optional)")
    trust.add_argument("--cv", metavar="TSV", help="cv.tsv of `mpsomics cv-summary`: cross-validated AUC of the MPS and the "
                       "baselines on identical folds, permutation p, held-out test AUC")
    trust.add_argument("--stability", metavar="TSV", help="stability.tsv of `mpsomics stability-summary`: Jaccard "
                       "stability of each subcommunity under bootstrap resampling of patients")
    trust.add_argument("--validation", metavar="TSV", help="summary.tsv of `mpsomics validate`: AUC vs random gene sets "
                       "and preservation Z in each independent cohort")
    beyond = parser.add_argument_group("beyond the paper (optional)")
    beyond.add_argument("--panels", metavar="TSV", help="summary.tsv of `mpsomics panels-summary`: the minimal gene "
                        "panel of each pruned community with its cross-validated AUC, L1 comparison and null")
    beyond.add_argument("--panel-curves", nargs="*", default=[], metavar="TSV",
                        help="{community}.tsv curves of `mpsomics panels` (AUC against the fraction of genes kept)")
    beyond.add_argument("--comparison", metavar="TSV", help="summary.tsv of `mpsomics compare-subcommunities`: MPS "
                        "against classical subcommunities on the same validation")
    beyond.add_argument("--comparison-sets", metavar="TSV",
                        help="subcommunities.tsv of `mpsomics compare-subcommunities` (one row per subcommunity)")
    files = parser.add_argument_group("per-community files (one per community of --selected, in its order)")
    for name, help_text in PER_COMMUNITY.items():
        files.add_argument(f"--{name.replace('_', '-')}", nargs="*", metavar="FILE", help=help_text)
    parser.add_argument("--top-terms", type=integer(1), default=5, help="enriched terms shown per gene set (default %(default)s)")
    parser.add_argument("--out-dir", required=True, help=f"output directory: {REPORT_FILE} and {FIGURES_DIR}/{{community}}_grokking.png, _diagnostics.png "
                        f"(+ {FIGURES_DIR}/validation_cv.png, validation_subcommunities.png with validation tables)")


def report_paths(args: argparse.Namespace):
    """The :class:`~mpsomics.report.html.ReportPaths` of the options, each list paired with ``--selected``."""
    from mpsomics.core.errors import InputError
    from mpsomics.report.html import CommunityFiles, ReportPaths, read_selected

    communities = read_selected(Path(args.selected))
    per_community: dict[str, dict[str, Path]] = {c: {} for c in communities}
    for name in PER_COMMUNITY:
        given = getattr(args, name)
        if given is None:
            continue
        if len(given) != len(communities):
            raise InputError(
                args.selected,
                f"lists {len(communities)} communities but --{name.replace('_', '-')} has {len(given)} files",
            )
        for c, path in zip(communities, given, strict=True):
            per_community[c][name] = Path(path)
    return ReportPaths(
        communities={c: CommunityFiles(**files) for c, files in per_community.items()},
        baseline=Path(args.baseline) if args.baseline else None,
        expression=Path(args.expression) if args.expression else None,
        config_json=args.config_json,
        selected=Path(args.selected),
        cv=Path(args.cv) if args.cv else None,
        stability=Path(args.stability) if args.stability else None,
        validation=Path(args.validation) if args.validation else None,
        panels=Path(args.panels) if args.panels else None,
        panel_curves=[Path(p) for p in args.panel_curves],
        comparison=Path(args.comparison) if args.comparison else None,
        comparison_sets=Path(args.comparison_sets) if args.comparison_sets else None,
    )


def run(args: argparse.Namespace) -> int:
    """Run the stage; see :mod:`mpsomics.report.html`."""
    from mpsomics.report.html import write_report

    out = Path(args.out_dir)
    paths = report_paths(args)
    # figures/ is written even with no community (the workflow declares it), with the page
    write_report(out / REPORT_FILE, paths, args.top_terms, out / FIGURES_DIR)
    return 0


def run_info_path(args: argparse.Namespace) -> Path:
    """Provenance beside the page: ``index.run_info.json``."""
    return Path(args.out_dir) / "index.run_info.json"

"""Command-line entry point: ``mpsomics <stage> [options]``.

Each stage lives in :mod:`mpsomics.commands.<stage>` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Stage modules are imported
lazily so ``mpsomics --help`` stays fast and one stage's heavy imports (torch,
gseapy) do not slow the others down.

Before a stage runs, :func:`mpsomics.core.files.check_stage_outputs` checks its output
paths (exit 2 with one line naming the option and path). While it runs, SIGTERM and
SIGINT end it with one line ``mpsomics <stage>: interrupted by SIGTERM; unfinished
outputs removed`` and exit code ``128 + signal number`` (143 for SIGTERM, 130 for
SIGINT), after the atomic writers removed their temporary files.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from mpsomics import __version__
from mpsomics.core.errors import EXIT_INPUT, EXIT_NUMERICAL, InputError, NumericalError

#: stage name -> one-line help. Order is the pipeline order.
STAGES: dict[str, str] = {
    "prepare": "validate, transform, split and scale an expression matrix into AnnData",
    "communities": "gene co-expression network, hierarchical Leiden communities, baselines",
    "train": "train one MPS classifier on a gene list",
    "fits": "many MPS fits of one gene list in one job (CV folds, label permutations)",
    "observe": "entanglement, magnetization and correlations of a trained MPS",
    "controls": "label-permutation controls of a community's entanglement transition",
    "grokking": "entanglement transition and generalisation jump from a training history",
    "grokking-summary": "concatenate per-community grokking tables into one summary table",
    "subcommunities": "gene subcommunities from MPS correlations and magnetization",
    "enrichment": "offline over-representation analysis of communities and subcommunities",
    "cv": "repeated patient-grouped CV of MPS and baselines on identical folds, permutation null",
    "cv-summary": "one table of per-community cross-validation results, BH across communities",
    "stability": "stability of a community's subcommunities under bootstrap resampling of patients",
    "stability-summary": "one table of per-community stability results",
    "classical-subcommunities": "classical baseline subcommunities: co-expression Leiden + DE filter, top-k DE",
    "compare-subcommunities": "MPS and classical subcommunities side by side on the same validation",
    "panels": "minimal gene panels of a community by lottery-ticket pruning of its MPS, with CV and nulls",
    "panels-summary": "one table of per-community gene panels, BH across communities",
    "validate": "independent cohorts: external AUC, random-set nulls and module preservation",
    "predict": "apply a saved model to new samples: per-sample class scores and predictions",
    "scores": "per-sample scores of communities (MPS probability) and subcommunities (z-scores)",
    "graph-network": "the co-expression network as GraphML (Cytoscape, Gephi, networkx)",
    "graph-community": "a community's MPS correlation graph with its subcommunities as GraphML",
    "report": "one self-contained HTML report",
    "fashion-run": "one Fashion-MNIST grokking run (one task, one seed)",
    "fashion-summary": "summary tables and HTML page of finished Fashion-MNIST runs",
    "fashion-grokking": "the whole Fashion-MNIST grokking experiment: missing runs, then the summary",
}


def _command_module(stage: str):
    return importlib.import_module(f"mpsomics.commands.{stage.replace('-', '_')}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default, except where it says nothing.

    Required options, options without a default (``None``) and help texts that
    already name their default are left as written.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.required
            or action.default is None
            or action.default is argparse.SUPPRESS
            or "default" in text.lower()
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            return text
        return super()._get_help_string(action)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpsomics",
        description="Gene subcommunities with Matrix Product State classifiers.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mpsomics {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="debug messages of mpsomics (third-party libraries stay at INFO)",
    )
    sub = parser.add_subparsers(dest="stage", metavar="<stage>", required=True)
    # Only the invoked stage is imported: the others' heavy imports (torch,
    # gseapy, scanpy) would slow every command down.
    wanted = next((a for a in (argv or []) if a in STAGES), None)
    for stage, help_text in STAGES.items():
        p = sub.add_parser(
            stage, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        if stage == wanted:
            _command_module(stage).add_arguments(p)
            p.formatter_class = HelpFormatter  # one formatter, even if a stage sets its own
    return parser


def configure_logging(verbose: bool = False) -> None:
    """INFO for everything; ``-v`` raises only the ``mpsomics.*`` loggers to DEBUG.

    Third-party libraries (numba, matplotlib, h5py, urllib3, ...) stay at INFO, so
    ``-v`` shows the project's debug messages without theirs.
    """
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("mpsomics").setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if os.environ.get("SLURM_JOB_ID"):
        # Ties a rule's log to its scheduler job (sacct/squeue) on a cluster.
        logging.getLogger("mpsomics").info("SLURM_JOB_ID=%s", os.environ["SLURM_JOB_ID"])
    module = _command_module(args.stage)
    from mpsomics.core.files import Interrupted, check_stage_outputs, signals_as_exceptions

    # SIGTERM/SIGINT raise Interrupted: the atomic writers remove their temporary files
    # on the way out, and the exit code is 128 + the signal number (143, 130).
    with signals_as_exceptions():
        try:
            # before any work: no stage starts with an output it cannot write
            check_stage_outputs(args, module)
            status = int(module.run(args) or 0)
            if status == 0:
                from mpsomics.core.provenance import record

                # A stage may name its record itself (``run_info_path(args)``), else it goes
                # inside --out-dir or beside --out.
                locate = getattr(module, "run_info_path", None)
                record(args.stage, args, argv, locate(args) if locate else None)
        except InputError as exc:
            print(f"mpsomics {args.stage}: error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except NumericalError as exc:
            print(f"mpsomics {args.stage}: numerical error: {exc}", file=sys.stderr)
            return EXIT_NUMERICAL
        except Interrupted as exc:
            print(f"mpsomics {args.stage}: {exc}; unfinished outputs removed", file=sys.stderr)
            return exc.exit_code
    return status

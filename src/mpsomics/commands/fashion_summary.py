"""``mpsomics fashion-summary``: tables and HTML page of finished Fashion-MNIST runs.

::

    mpsomics fashion-summary --runs results/fashion/runs/*/seed* --out-dir results/fashion

Writes ``summary.tsv``, ``comparison.tsv`` and ``report.html`` into ``--out-dir`` from
the run directories of ``mpsomics fashion-run`` (formats: ``docs/outputs.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mpsomics.core.errors import InputError

SUMMARY_FILE = "summary.tsv"
COMPARISON_FILE = "comparison.tsv"
REPORT_FILE = "report.html"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", nargs="+", required=True, metavar="RUN_DIR", help="run directories written by `mpsomics fashion-run`")
    p.add_argument("--out-dir", required=True, help="output folder (summary.tsv, comparison.tsv, report.html)")


def summarize_runs(run_dirs: list[Path], out: Path) -> None:
    """Write the three summary files of ``run_dirs`` into ``out``."""
    from mpsomics.experiments.fashion_mnist import runs as fx
    from mpsomics.experiments.fashion_mnist.report import render_report, write_html

    missing = [d for d in run_dirs if not (d / fx.GROKKING_FILE).is_file()]
    if missing:
        raise InputError(missing[0], f"run missing ({len(missing)} of {len(run_dirs)}); run `mpsomics fashion-run` first")
    # Every run file is read and the page rendered before anything is written: a hand-edited
    # or truncated run is an error naming its file and leaves the previous tables in place.
    summary, comparison = fx.summarize(run_dirs)
    html = render_report(summary, comparison, run_dirs)
    fx.write_table(summary, out / SUMMARY_FILE)
    fx.write_table(comparison, out / COMPARISON_FILE)
    write_html(out / REPORT_FILE, html, len(summary))


def run(args: argparse.Namespace) -> int:
    dirs = [Path(d) for d in dict.fromkeys(args.runs)]
    summarize_runs(dirs, Path(args.out_dir))
    return 0

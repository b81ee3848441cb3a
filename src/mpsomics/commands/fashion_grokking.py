"""``mpsomics fashion-grokking``: the whole Fashion-MNIST grokking experiment in one command.

::

    mpsomics fashion-grokking --out-dir results/fashion              # 10 tasks x seeds 0,1,2

Trains each missing (task, seed) into ``{out-dir}/runs/{task}/seed{seed}/`` as
``mpsomics fashion-run`` does (a complete run is kept unless ``--force``), then writes
``summary.tsv``, ``comparison.tsv`` and ``report.html`` into ``--out-dir`` as
``mpsomics fashion-summary`` does. The Snakemake workflow runs those two commands as
separate jobs. File formats: ``docs/outputs.md``; method and our results:
``docs/reproduction.md``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.commands.argtypes import SEED_MAX
from mpsomics.commands.fashion_run import add_experiment_arguments, train_runs
from mpsomics.commands.fashion_summary import summarize_runs

log = logging.getLogger(__name__)


def _tasks(text: str) -> list[str]:
    from mpsomics.experiments.fashion_mnist import data
    names = [t.name for t in data.all_tasks()]
    if text.strip() == "all":
        return names
    out = [t.strip() for t in text.split(",") if t.strip()]
    for t in out:
        if t not in names:
            raise argparse.ArgumentTypeError(f"unknown task {t!r}; known: all, {', '.join(names)}")
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError("a task is listed twice")
    return out


def _seeds(text: str) -> list[int]:
    try:
        out = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers in 0 .. 2**32 - 1, got {text!r}") from None
    if not out or min(out) < 0 or max(out) > SEED_MAX or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"seeds must be distinct integers in 0 .. 2**32 - 1, got {text!r}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="data/fashion_mnist", help="folder with the IDX files (default %(default)s)")
    p.add_argument("--out-dir", required=True, help="output folder (runs/, summary.tsv, comparison.tsv, report.html)")
    p.add_argument("--tasks", type=_tasks, default=_tasks("all"), help="comma-separated task names or 'all' (default: the 9 sneaker-vs-X tasks and the sneaker-vs-sneaker control)")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="comma-separated seeds (sample draw and initial tensors; default 0,1,2)")
    p.add_argument("--force", action="store_true", help="retrain runs that are already complete")
    add_experiment_arguments(p)


def run(args: argparse.Namespace) -> int:
    from mpsomics.experiments.fashion_mnist import data
    from mpsomics.experiments.fashion_mnist import runs as fx

    data.check_data_dir(args.data)  # before anything is written or trained
    out = Path(args.out_dir)
    pairs = [(t, s, fx.run_dir(out, t, s)) for t in args.tasks for s in args.seeds]
    todo = [(t, s, d) for t, s, d in pairs if args.force or not (d / fx.GROKKING_FILE).is_file()]
    if len(todo) < len(pairs):
        log.info("%d of %d runs already complete in %s (use --force to retrain)", len(pairs) - len(todo), len(pairs), out)
    info = {"data": str(args.data), "size": int(args.size)}
    data_dir = Path(args.data)
    train_runs(data_dir / data.IMAGES_FILE, data_dir / data.LABELS_FILE, todo, args, info)
    summarize_runs([d for _, _, d in pairs], out)
    return 0

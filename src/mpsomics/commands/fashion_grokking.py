"""``mpsomics fashion-grokking``: the paper's Fashion-MNIST grokking experiment.

One command runs everything::

    mpsomics fashion-grokking --out-dir results/fashion              # 10 tasks x seeds 0,1,2

Each (task, seed) is trained into ``{out-dir}/runs/{task}/seed{seed}/`` (skipped when
that run is already complete and ``--force`` is not given), then ``summary.tsv``,
``comparison.tsv`` and ``report.html`` are written into ``--out-dir`` from the
requested runs. The Snakemake workflow splits the same work into one job per run
(``--no-summary``) and one summarising job (``--summarize``). File formats:
``docs/outputs.md``; method and our results: ``docs/reproduction.md``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mpsomics.commands.argtypes import integer, number
from mpsomics.core.errors import InputError

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
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"seeds must be distinct non-negative integers, got {text!r}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mpsomics.experiments.fashion_mnist.runs import DEFAULTS as D

    p.add_argument("--data", default="data/fashion_mnist", help="folder with the IDX files (default %(default)s)")
    p.add_argument("--out-dir", dest="outdir", required=True, help="output folder (runs/, summary.tsv, comparison.tsv, report.html)")
    p.add_argument("--tasks", type=_tasks, default=_tasks("all"), help="comma-separated task names or 'all' (default: the 9 sneaker-vs-X tasks and the sneaker-vs-sneaker control)")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="comma-separated seeds (sample draw and initial tensors; default 0,1,2)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--no-summary", action="store_true", help="only train the runs (one Snakemake job per run)")
    mode.add_argument("--summarize", action="store_true", help="only write summary.tsv, comparison.tsv and report.html from finished runs")
    p.add_argument("--force", action="store_true", help="retrain runs that are already complete")
    g = p.add_argument_group("experiment (defaults: a fast setting; config/paper.yaml has the paper's)")
    g.add_argument("--n-per-label", type=integer(2), default=D["n_per_label"], help="images per label, split in half into train and test (default %(default)s)")
    g.add_argument("--size", type=integer(2), default=D["size"], help="images are area-averaged to size x size pixels = sites (default %(default)s)")
    g.add_argument("--bond-dim", type=integer(1), default=D["bond_dim"], help="maximum bond dimension chi (default %(default)s; paper 400)")
    g.add_argument("--init-bond-dim", type=integer(1), default=D["init_bond_dim"], help="bond dimension of the random initial MPS (default %(default)s)")
    g.add_argument("--epochs", type=integer(1), default=D["epochs"], help="sweeps (default %(default)s, as the paper)")
    g.add_argument("--lr", type=number(0, lo_open=True), default=D["lr"], help="sweep step alpha on the mean loss (default %(default)s)")
    g.add_argument("--init", choices=["random", "uniform"], default=D["init"], help="initial tensors (default %(default)s: Gaussian, as the paper)")
    g.add_argument("--environments", choices=["raw", "normalized"], default=D["environments"], help="sweep environments (default %(default)s: the textbook update)")
    g.add_argument("--output-scale", choices=["fixed", "profiled"], default=D["output_scale"], help="default %(default)s (the paper's update)")
    g.add_argument("--loss", choices=["mse", "cross_entropy"], default=D["loss"], help="default %(default)s (the paper's)")
    g.add_argument("--cutoff", type=number(0), default=D["cutoff"], help="drop singular values < cutoff * s_max (default %(default)s)")
    g.add_argument("--dtype", choices=["float64", "float32"], default=D["dtype"])
    g.add_argument("--threads", type=integer(1), default=1, help="BLAS threads per run (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from mpsomics.experiments.fashion_mnist import data
    from mpsomics.experiments.fashion_mnist import runs as fx
    from mpsomics.mps.config import TrainConfig

    out = Path(args.outdir)
    dirs = [fx.run_dir(out, t, s) for t in args.tasks for s in args.seeds]
    todo = [] if args.summarize else [
        (t, s) for t in args.tasks for s in args.seeds
        if args.force or not (fx.run_dir(out, t, s) / fx.GROKKING_FILE).is_file()
    ]
    if len(todo) < len(dirs) and not args.summarize:
        log.info("%d of %d runs already complete in %s (use --force to retrain)", len(dirs) - len(todo), len(dirs), out)
    if todo:
        images, labels = data.load(args.data)
        X = data.features(images, args.size)
        config = TrainConfig(
            method="sweep",
            bond_dim=args.bond_dim,
            init_bond_dim=args.init_bond_dim,
            epochs=args.epochs,
            lr=args.lr,
            loss=args.loss,
            class_weights="none",  # the tasks are balanced by construction
            cutoff=args.cutoff,
            dtype=args.dtype,
            threads=args.threads,
            output_scale=args.output_scale,
            init=args.init,
            environments=args.environments,
        )
        info = {"data": str(args.data), "size": int(args.size)}
        for task, seed in todo:
            t0 = time.perf_counter()
            fx.run_one(X, labels, data.task_by_name(task), seed, fx.run_dir(out, task, seed),
                       n_per_label=args.n_per_label, config=config, run_info=info)
            log.info("%s seed %d: %.1f s", task, seed, time.perf_counter() - t0)
    if args.no_summary:
        return 0
    missing = [d for d in dirs if not (d / fx.GROKKING_FILE).is_file()]
    if missing:
        raise InputError(missing[0], f"run missing ({len(missing)} of {len(dirs)}); run without --summarize first")
    from mpsomics.experiments.fashion_mnist.report import write_report

    summary, comparison = fx.summarize(dirs)
    fx.write_table(summary, out / "summary.tsv")
    fx.write_table(comparison, out / "comparison.tsv")
    write_report(out / "report.html", summary, comparison, dirs)
    return 0

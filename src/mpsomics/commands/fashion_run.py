"""``mpsomics fashion-run``: one run of the paper's Fashion-MNIST grokking experiment.

::

    mpsomics fashion-run --images data/fashion_mnist/t10k-images-idx3-ubyte.gz \\
        --labels data/fashion_mnist/t10k-labels-idx1-ubyte.gz \\
        --task sneaker_vs_dress --seed 0 --out-dir results/fashion/runs/sneaker_vs_dress/seed0

Trains one (task, seed) into ``--out-dir`` (replaced as a whole): ``history.tsv``,
``entanglement_trajectory.tsv``, ``magnetization_trajectory.tsv``, ``spectrum.tsv``,
``grokking.tsv``, ``model.npz``, ``run_info.json``. ``mpsomics fashion-summary`` collects
finished runs; ``mpsomics fashion-grokking`` does both. File formats:
``docs/outputs.md``; method and our results: ``docs/reproduction.md``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mpsomics.commands.argtypes import field_choices, integer, number, random_seed

log = logging.getLogger(__name__)

#: the bundled IDX files (``data/fashion_mnist``)
DEFAULT_DATA = "data/fashion_mnist"


def task_name(text: str) -> str:
    """argparse type: one known task name."""
    from mpsomics.experiments.fashion_mnist import data

    names = [t.name for t in data.all_tasks()]
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown task {text!r}; known: {', '.join(names)}")
    return text


def add_experiment_arguments(p: argparse.ArgumentParser) -> None:
    """The training settings of a run (defaults: the fast setting of ``runs.DEFAULTS``)."""
    from mpsomics.experiments.fashion_mnist.runs import DEFAULTS as D
    from mpsomics.mps.config import TrainConfig

    def choices(name: str) -> tuple[str, ...]:
        return field_choices(TrainConfig, name)

    g = p.add_argument_group("experiment (defaults: a fast setting; config/paper.yaml has the paper's)")
    g.add_argument("--n-per-label", type=integer(2), default=D["n_per_label"], help="images per label, split in half into train and test (default %(default)s)")
    g.add_argument("--size", type=integer(2), default=D["size"], help="images are area-averaged to size x size pixels = sites (default %(default)s)")
    g.add_argument("--bond-dim", type=integer(1), default=D["bond_dim"], help="maximum bond dimension chi (default %(default)s; paper 400)")
    g.add_argument("--init-bond-dim", type=integer(1), default=D["init_bond_dim"], help="bond dimension of the random initial MPS (default %(default)s)")
    g.add_argument("--epochs", type=integer(1), default=D["epochs"], help="sweeps (default %(default)s, as the paper)")
    g.add_argument("--lr", type=number(0, lo_open=True), default=D["lr"], help="sweep step alpha on the mean loss (default %(default)s)")
    g.add_argument("--init", choices=choices("init"), default=D["init"], help="initial tensors (default %(default)s: Gaussian, as the paper)")
    g.add_argument("--environments", choices=choices("environments"), default=D["environments"], help="sweep environments (default %(default)s: the textbook update)")
    g.add_argument("--output-scale", choices=choices("output_scale"), default=D["output_scale"], help="sweep update: 'fixed' renormalises the state after every bond, 'free' lets its norm carry the output scale (Stoudenmire-Schwab), 'profiled' fits a global scale (default %(default)s)")
    g.add_argument("--loss", choices=choices("loss"), default=D["loss"], help="default %(default)s (the paper's)")
    g.add_argument("--cutoff", type=number(0), default=D["cutoff"], help="drop singular values < cutoff * s_max (default %(default)s)")
    g.add_argument("--dtype", choices=choices("dtype"), default=D["dtype"])
    g.add_argument("--threads", type=integer(1), default=1, help="BLAS threads per run (default %(default)s)")
    g.add_argument("--controls", type=integer(0), default=D["controls"],
                   help="label-permutation controls per run: the same training on shuffled training labels; "
                   "a transition counts only when it beats all of them (default %(default)s)")


def train_config(args: argparse.Namespace):
    """The sweep :class:`~mpsomics.mps.config.TrainConfig` of the experiment options."""
    from mpsomics.mps.config import TrainConfig

    return TrainConfig(
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


def check_size(size: int, image_shape: tuple[int, ...], images) -> None:
    """InputError naming ``--size`` when the images cannot be area-averaged to size x size."""
    from mpsomics.core.errors import InputError

    rows, cols = (int(k) for k in image_shape)
    if not 1 <= size <= min(rows, cols):
        raise InputError(
            None, f"--size: {size} is larger than the images ({rows} x {cols} pixels in {images}); "
            f"use at most {min(rows, cols)}",
        )


def train_runs(images, labels, runs: list[tuple[str, int, Path]], args: argparse.Namespace, info: dict) -> None:
    """Train each (task, seed, out_dir) of ``runs`` on the IDX files ``images``/``labels``."""
    from mpsomics.experiments.fashion_mnist import data
    from mpsomics.experiments.fashion_mnist import runs as fx

    if not runs:
        return
    image_array, label_array = data.load_files(images, labels)
    check_size(args.size, image_array.shape[1:], images)
    X = data.features(image_array, args.size)
    config = train_config(args)
    for task, seed, out in runs:
        t0 = time.perf_counter()
        fx.run_one(X, label_array, data.task_by_name(task), seed, out,
                   n_per_label=args.n_per_label, config=config, run_info=info,
                   controls=args.controls)
        log.info("%s seed %d: %.1f s", task, seed, time.perf_counter() - t0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mpsomics.experiments.fashion_mnist import data

    p.add_argument("--images", default=f"{DEFAULT_DATA}/{data.IMAGES_FILE}", help="IDX images file (default %(default)s)")
    p.add_argument("--labels", default=f"{DEFAULT_DATA}/{data.LABELS_FILE}", help="IDX labels file (default %(default)s)")
    p.add_argument("--task", type=task_name, required=True, help="task name, e.g. sneaker_vs_dress")
    p.add_argument("--seed", type=random_seed, required=True, help="seed of the sample draw and the initial tensors")
    p.add_argument("--out-dir", required=True, help="run directory (replaced as a whole)")
    add_experiment_arguments(p)


def run(args: argparse.Namespace) -> int:
    info = {"data": str(Path(args.images).parent), "size": int(args.size)}
    train_runs(args.images, args.labels, [(args.task, args.seed, Path(args.out_dir))], args, info)
    return 0

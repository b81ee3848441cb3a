"""``mpsomics train``: train one MPS classifier on a gene list.

::

    mpsomics train --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c03.txt --out results/mps/c03 \\
        [--method sweep|gradient] [--bond-dim 10] [--epochs 30] [--lr ALPHA] \\
        [--batch-size 32] [--loss mse|cross_entropy] [--class-weights balanced|none] \\
        [--cutoff 0] [--init-bond-dim 2] [--seed 0] [--dtype float64|float32] \\
        [--threads 1] [--site-sparsity 0] [--identity-l2 0] [--born-smoothing 0] \\
        [--ema-decay 0] [--lr-schedule constant|cosine] [--validation-fraction 0] \\
        [--early-stopping] [--patience 0] [--observe-every K] [--community NAME] \
        [--checkpoint-every 10] [--checkpoint-path PATH]

Outputs (all or nothing, see ``docs/outputs.md`` "train"): ``model.npz``,
``history.tsv``, ``run_info.json`` and, with ``--observe-every K`` > 0,
``entanglement.tsv``, ``magnetization.tsv``, ``correlations.npz`` and (sweep)
``singular_values.npz``.

Checkpoints: every ``--checkpoint-every K`` epochs (default 10, 0 = off) the whole
training state is written atomically to ``<out>.checkpoint.pt`` next to the output
directory (e.g. ``results/mps/c03.checkpoint.pt``; ``--checkpoint-path`` overrides).
Rerunning the same command after a kill resumes from it ("resuming from epoch E
(checkpoint PATH)") and produces the same outputs as an uninterrupted run; the file is
deleted after a successful run and kept when training diverges. Which settings may
differ on resume (``--epochs``, ``--lr``) is described in
:mod:`mpsomics.mps.checkpoint`.

Genes that are constant on the training samples (zero variance) are allowed: such a
site multiplies every score by the same factor and cannot change a prediction. They are
listed in a warning; a gene list whose genes are *all* constant on the training samples
is an error (nothing to learn from).
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics import __version__
from mpsomics.commands.argtypes import integer, number
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir
from mpsomics.dynamics import training_run
from mpsomics.mps.config import TrainConfig

log = logging.getLogger(__name__)

#: Step size alpha of the sweep method when --lr is not given (unit-norm MPS,
#: mean-gradient step; see mpsomics.mps.sweep).
DEFAULT_SWEEP_LR = 0.05












def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument(
        "--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`"
    )
    p.add_argument(
        "--genes", required=True, help="gene list, one symbol per line, in MPS site order"
    )
    p.add_argument("--out", required=True, help="output directory (replaced as a whole on success)")
    p.add_argument("--method", choices=["sweep", "gradient"], default=d.method)
    p.add_argument(
        "--bond-dim", type=integer(1), default=d.bond_dim, help="maximum bond dimension chi"
    )
    p.add_argument(
        "--epochs", type=integer(0), default=d.epochs, help="epochs (sweeps for --method sweep)"
    )
    p.add_argument(
        "--lr",
        type=number(0, lo_open=True),
        default=None,
        help=f"step size alpha (sweep, default {DEFAULT_SWEEP_LR}) or Adam learning rate (gradient, default {d.lr})",
    )
    p.add_argument(
        "--batch-size", type=integer(1), default=d.batch_size, help="minibatch size (gradient)"
    )
    p.add_argument("--loss", choices=["mse", "cross_entropy"], default=d.loss)
    p.add_argument("--class-weights", choices=["balanced", "none"], default=d.class_weights)
    p.add_argument(
        "--cutoff",
        type=number(0),
        default=d.cutoff,
        help="drop singular values < cutoff * s_max (sweep)",
    )
    p.add_argument("--init-bond-dim", type=integer(1), default=d.init_bond_dim)
    p.add_argument(
        "--init",
        choices=["uniform", "random"],
        default=d.init,
        help="sweep: initial state, near-uniform product state (default) or Gaussian random "
        "tensors at --init-bond-dim (the paper's Fashion-MNIST start)",
    )
    p.add_argument(
        "--environments",
        choices=["normalized", "raw"],
        default=d.environments,
        help="sweep: per-sample unit-norm environments (default) or the raw ones "
        "(needs a ~100x larger --lr; short chains only)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dtype", choices=["float64", "float32"], default=d.dtype)
    p.add_argument("--threads", type=integer(1), default=d.threads)
    p.add_argument(
        "--output-scale",
        choices=["fixed", "profiled"],
        default=d.output_scale,
        help="sweep + mse: 'fixed' is the paper's update (shows the entanglement transition); "
        "'profiled' fits a global output scale at every bond (closer fit, entanglement keeps growing)",
    )
    p.add_argument(
        "--site-sparsity",
        type=number(0),
        default=d.site_sparsity,
        help="group-sparsity prox pulling sites towards neutral (0 = off; sweep: ~0.03 at --lr 0.1)",
    )
    p.add_argument(
        "--identity-l2",
        type=number(0),
        default=d.identity_l2,
        help="gradient: L2 pull of the bulk tensors towards pass-through sites (0 = off)",
    )
    p.add_argument(
        "--born-smoothing",
        type=number(0, 1, hi_open=True),
        default=d.born_smoothing,
        help="gradient, cross_entropy: mix Born probabilities with uniform, weight eta in [0, 1)",
    )
    p.add_argument(
        "--ema-decay",
        type=number(0, 1, hi_open=True),
        default=d.ema_decay,
        help="gradient: Polyak (EMA) averaging of the iterates per step, decay in [0, 1) (0 = off)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default=d.lr_schedule,
        help="gradient: learning-rate schedule (cosine: annealed to ~0 at the last step)",
    )
    p.add_argument(
        "--validation-fraction",
        type=number(0, 1, hi_open=True),
        default=d.validation_fraction,
        help="hold out this stratified fraction of the training samples for validation (0 = off)",
    )
    p.add_argument(
        "--early-stopping",
        action="store_true",
        default=d.early_stopping,
        help="return the model of the best validation epoch (needs --validation-fraction)",
    )
    p.add_argument(
        "--patience",
        type=integer(0),
        default=d.patience,
        help="stop after this many epochs without validation improvement (0 = off)",
    )
    p.add_argument(
        "--observe-every",
        type=integer(0),
        default=0,
        help="record entanglement/magnetization/correlations every K epochs (0 = off)",
    )
    p.add_argument(
        "--community", default=None, help="name used in messages (default: name of --out)"
    )
    p.add_argument(
        "--checkpoint-every",
        type=integer(0),
        default=d.checkpoint_every,
        help="write a resumable checkpoint every K epochs (0 = off); a rerun resumes from it",
    )
    p.add_argument(
        "--checkpoint-path",
        default=None,
        help="checkpoint file (default: <out>.checkpoint.pt next to the output directory)",
    )


def read_genes(path: str | Path) -> list[str]:
    """Gene symbols, one per line (blank lines and ``#`` comments ignored); InputError when unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "gene list does not exist")
    genes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        g = line.strip()
        if g and not g.startswith("#"):
            genes.append(g)
    if not genes:
        raise InputError(path, "gene list is empty")
    seen, dups = set(), []
    for g in genes:
        if g in seen and g not in dups:
            dups.append(g)
        seen.add(g)
    if dups:
        raise InputError(
            path,
            f"{len(dups)} duplicated gene(s): {', '.join(dups[:5])}{' ...' if len(dups) > 5 else ''}",
        )
    return genes


def load_training_data(expression: str | Path, genes: list[str], genes_path: str | Path) -> dict:
    """Read and validate the prepared AnnData; return the arrays :func:`fit` needs."""
    import anndata

    path = Path(expression)
    if not path.is_file():
        raise InputError(path, "expression file does not exist (run `mpsomics prepare` first)")
    try:
        adata = anndata.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(path, f"not a readable .h5ad file ({type(exc).__name__}: {exc})") from None
    var = pd.Index(adata.var_names.astype(str))
    if not var.is_unique:
        raise InputError(path, "gene names (var_names) are not unique")
    missing = [g for g in genes if g not in var]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} of {len(genes)} genes of {genes_path} missing from the expression file: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
        )
    for col in ("label", "split"):
        if col not in adata.obs.columns:
            raise InputError(path, f"obs column {col!r} missing (run `mpsomics prepare`)")
    classes = [str(c) for c in np.asarray(adata.uns.get("classes", []), dtype=object).ravel()]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise InputError(
            path, f"uns['classes'] must list at least two distinct class names, got {classes}"
        )
    positive_label = adata.uns.get("positive_label", classes[-1])
    positive_label = str(
        np.asarray(positive_label).item() if np.ndim(positive_label) == 0 else positive_label
    )
    if positive_label not in classes:
        raise InputError(
            path, f"uns['positive_label'] {positive_label!r} is not one of the classes {classes}"
        )
    labels = adata.obs["label"].astype(str).to_numpy()
    split = adata.obs["split"].astype(str).to_numpy()
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InputError(
            path,
            f"obs['label'] has values not in uns['classes'] {classes}: {', '.join(unknown[:5])}",
        )
    bad_split = sorted(set(split) - {"train", "test"})
    if bad_split:
        raise InputError(
            path, f"obs['split'] must be 'train' or 'test', found {', '.join(bad_split[:5])}"
        )
    train = split == "train"
    if not train.any():
        raise InputError(path, "no training samples (obs['split'] == 'train')")
    y = np.array([classes.index(lab) for lab in labels], dtype=np.int64)
    absent = [c for i, c in enumerate(classes) if not np.any(y[train] == i)]
    if absent:
        raise InputError(path, f"class(es) absent from the training samples: {', '.join(absent)}")
    cols = var.get_indexer(genes)
    X = adata.X[:, cols]
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        bad = [genes[j] for j in np.flatnonzero(~np.all(np.isfinite(X), axis=0))]
        raise InputError(
            path, f"non-finite expression values for {len(bad)} gene(s): {', '.join(bad[:5])}"
        )
    tol = 1e-6
    if X.size and (X.min() < -tol or X.max() > 1 + tol):
        raise InputError(
            path,
            f".X values outside [0, 1] (min {X.min():.3g}, max {X.max():.3g}); use the scaled output of `mpsomics prepare`",
        )
    X = np.clip(X, 0.0, 1.0)
    return {
        "X_train": X[train],
        "y_train": y[train],
        "X_test": X[~train],
        "y_test": y[~train],
        "classes": classes,
        "positive": classes.index(positive_label),
        "positive_label": positive_label,
    }


def _check_constant_genes(X_train: np.ndarray, genes: list[str], genes_path) -> None:
    """Warn about genes constant on the training samples; InputError when all are."""
    if len(X_train) == 0:
        return
    const = np.ptp(X_train, axis=0) == 0
    if const.all():
        raise InputError(
            genes_path,
            f"all {len(genes)} genes are constant on the training samples "
            "(zero variance): nothing to learn from",
        )
    if const.any():
        names = [g for g, c in zip(genes, const, strict=True) if c]
        log.warning(
            "%d gene(s) constant on the training samples (zero variance; such a site cannot "
            "change a prediction): %s%s",
            len(names),
            ", ".join(names[:10]),
            " ..." if len(names) > 10 else "",
        )


def _versions() -> dict:
    out = {"python": platform.python_version(), "mpsomics": __version__, "numpy": np.__version__}
    for pkg in ("torch", "scipy", "anndata"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run(args: argparse.Namespace) -> int:
    from mpsomics.mps.fit import fit

    t0 = time.perf_counter()
    out = Path(args.out)
    community = args.community or out.name
    genes = read_genes(args.genes)
    if args.method == "sweep" and len(genes) < 2:
        raise InputError(args.genes, "the sweep method needs at least 2 genes (two-site updates)")
    data = load_training_data(args.expression, genes, args.genes)
    lr = (
        args.lr
        if args.lr is not None
        else (DEFAULT_SWEEP_LR if args.method == "sweep" else TrainConfig().lr)
    )
    config = TrainConfig(
        method=args.method,
        bond_dim=args.bond_dim,
        epochs=args.epochs,
        lr=lr,
        batch_size=args.batch_size,
        loss=args.loss,
        class_weights=args.class_weights,
        cutoff=args.cutoff,
        init_bond_dim=args.init_bond_dim,
        init=args.init,
        environments=args.environments,
        seed=args.seed,
        dtype=args.dtype,
        threads=args.threads,
        site_sparsity=args.site_sparsity,
        output_scale=args.output_scale,
        identity_l2=args.identity_l2,
        born_smoothing=args.born_smoothing,
        ema_decay=args.ema_decay,
        lr_schedule=args.lr_schedule,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
        patience=args.patience,
        checkpoint_every=args.checkpoint_every,
    )
    if (config.early_stopping or config.patience) and not config.validation_fraction:
        raise InputError(None, "--early-stopping/--patience need --validation-fraction > 0")
    _check_constant_genes(data["X_train"], genes, args.genes)
    from mpsomics.mps.checkpoint import default_checkpoint_path, remove

    ckpt_path = Path(args.checkpoint_path) if args.checkpoint_path else default_checkpoint_path(out)
    if ckpt_path.resolve() == out.resolve() or out.resolve() in ckpt_path.resolve().parents:
        raise InputError(
            ckpt_path,
            "--checkpoint-path must lie outside --out (the output is replaced as a whole)",
        )
    log.info(
        "training %s: %d genes, %d train / %d test samples, method %s, chi %d, %d epochs",
        community,
        len(genes),
        len(data["y_train"]),
        len(data["y_test"]),
        config.method,
        config.bond_dim,
        config.epochs,
    )
    state, history, obs = fit(
        data["X_train"],
        data["y_train"],
        data["X_test"],
        data["y_test"],
        genes=genes,
        classes=data["classes"],
        config=config,
        positive=data["positive"],
        observe_every=args.observe_every,
        community=community,
        checkpoint_path=ckpt_path if config.checkpoint_every > 0 else None,
    )
    run_info = {
        "community": community,
        "config": config.to_dict(),
        "seed": config.seed,
        "observe_every": args.observe_every,
        "expression": str(args.expression),
        "genes_file": str(args.genes),
        "classes": data["classes"],
        "positive_label": data["positive_label"],
        "n_train": int(len(data["y_train"])),
        "n_test": int(len(data["y_test"])),
        "n_sites": len(genes),
        "label_site": int(state.label_site),
        "bond_dims": [int(b) for b in state.bond_dims],
        "versions": _versions(),
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    if "best_epoch" in history.attrs:  # validation split: epoch of the best validation score
        run_info["best_epoch"] = int(history.attrs["best_epoch"])
        run_info["returned_epoch"] = (
            int(history.attrs["best_epoch"])
            if config.early_stopping
            else int(history["epoch"].iloc[-1])
        )
    if "resumed_from_epoch" in history.attrs:
        run_info["resumed_from_epoch"] = int(history.attrs["resumed_from_epoch"])
        run_info["checkpoint"] = str(ckpt_path)
        run_info["checkpoint_lr"] = float(history.attrs["resumed_lr"])
    with atomic_dir(out) as tmp:
        training_run.write_train_dir(tmp, state, history, obs, run_info)
    remove(ckpt_path)  # only once the outputs are in place
    last = history.iloc[-1]
    log.info(
        "%s: epoch %d, train balanced accuracy %.3f, test balanced accuracy %.3f -> %s",
        community,
        int(last["epoch"]),
        last["train_balanced_accuracy"],
        last["test_balanced_accuracy"],
        out,
    )
    return 0

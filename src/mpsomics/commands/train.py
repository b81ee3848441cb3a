"""``mpsomics train``: train one MPS classifier on a gene list.

::

    mpsomics train --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c03.txt --out-dir results/mps/c03 \\
        [--model mps|ttn] [--method sweep|gradient] [--bond-dim 10] [--epochs 30] [--lr ALPHA] \\
        [--batch-size 32] [--loss mse|cross_entropy] [--class-weights balanced|none] \\
        [--cutoff 0] [--init-bond-dim 2] [--seed 0] [--dtype float64|float32] \\
        [--threads 1] [--site-sparsity 0] [--identity-l2 0] [--born-smoothing 0] \\
        [--ema-decay 0] [--lr-schedule constant|cosine] [--validation-fraction 0] \\
        [--early-stopping] [--patience 0] [--observe-every K] [--representation-every K] \
        [--community NAME] [--checkpoint-every 10] [--checkpoint-path PATH]

Outputs in ``--out-dir`` (all or nothing, see ``docs/outputs.md`` "train"): ``model.npz``,
``history.tsv``, ``run_info.json`` and, with ``--observe-every K`` > 0, the per-epoch
trajectories ``entanglement_trajectory.tsv``, ``magnetization_trajectory.tsv``,
``correlations_trajectory.npz`` and (sweep) ``singular_values.npz`` (names:
:mod:`mpsomics.dynamics.training_run`), and with ``--representation-every K`` > 0 (default:
the smallest multiple of the ``--observe-every`` stride >= 5, chosen by its measured cost,
see :data:`MIN_REPRESENTATION_EVERY`; off with ``--observe-every 0``; 0 = off; MPS only)
``representation_trajectory.tsv``: at epochs 0, K, 2K, ... and the last, per class and bond,
the representation metrics of the training (fit) samples (:mod:`mpsomics.mps.representation`).

Checkpoints: every ``--checkpoint-every K`` epochs (default 10, 0 = off) the whole
training state is written atomically to ``<out-dir>.checkpoint.pt`` next to the output
directory (e.g. ``results/mps/c03.checkpoint.pt``; ``--checkpoint-path`` overrides).
Rerunning the same command after a kill resumes from it ("resuming from epoch E
(checkpoint PATH)") and produces the same outputs as an uninterrupted run; the file is
deleted after a successful run and kept when training diverges. Which settings may
differ on resume (``--epochs``, ``--lr``) is described in
:mod:`mpsomics.mps.checkpoint`.

``--model ttn`` trains a tree tensor network on the gene dendrogram instead
(:func:`mpsomics.ttn.fit.fit_ttn`): the tree is built on the training samples only, the
sites are reordered to its leaf order, training is by Adam whatever ``--method`` says
(default ``--lr`` :data:`mpsomics.ttn.fit.DEFAULT_TTN_LR`), and the same files are
written: ``model.npz`` in the TTN format (:mod:`mpsomics.ttn.state`), the trajectories
per tree edge (``bond`` = edge index, the duplicated root edge left out) and a
``tree.tsv`` (node, parent, genes below the node). Checkpoints and the validation split
are MPS-only.

Genes that are constant on the training samples (zero variance) are allowed: such a
site multiplies every score by the same factor and cannot change a prediction. They are
listed in a warning; a gene list whose genes are *all* constant on the training samples
is an error (nothing to learn from).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from mpsomics import __version__
from mpsomics.commands.argtypes import field_choices, field_default, integer, number, random_seed
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir
from mpsomics.core.readers import check_genes_present, read_gene_list, read_prepared
from mpsomics.dynamics import training_run
from mpsomics.mps.config import TrainConfig

log = logging.getLogger(__name__)

#: Step size alpha of the sweep method when --lr is not given (unit-norm MPS,
#: mean-gradient step; see mpsomics.mps.sweep).
DEFAULT_SWEEP_LR = 0.005
#: Smallest default ``--representation-every``: a record every epoch costs ~44 % more CPU in
#: a default fit (c04 of TCGA-LIHC: 43 genes, chi 16, 60 sweeps, 134 training samples, 12 ms
#: per record), every 5th epoch ~9 % of the fit (8 % of the whole command).
MIN_REPRESENTATION_EVERY = 5












def _config_option(group, name: str, help: str | None = None, type=None) -> None:
    """``--name`` for TrainConfig field ``name``: default and choices from the dataclass."""
    kwargs: dict = {"default": field_default(TrainConfig, name), "help": help}
    if name in _LITERAL_FIELDS:
        kwargs["choices"] = field_choices(TrainConfig, name)
    elif isinstance(kwargs["default"], bool):
        kwargs["action"] = "store_true"
    else:
        kwargs["type"] = type
    group.add_argument("--" + name.replace("_", "-"), **kwargs)


#: TrainConfig fields annotated with a ``Literal``: their values are argparse choices.
_LITERAL_FIELDS = (
    "method", "loss", "class_weights", "dtype", "lr_schedule", "output_scale", "init", "environments",
)  # fmt: skip


def _add_io_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`"
    )
    p.add_argument(
        "--genes", required=True, help="gene list, one symbol per line, in MPS site order"
    )
    p.add_argument(
        "--out-dir", required=True, help="output directory (replaced as a whole on success)"
    )
    p.add_argument(
        "--community", default=None, help="name used in messages (default: name of --out-dir)"
    )
    p.add_argument(
        "--observe-every",
        type=integer(0),
        default=1,
        help="record entanglement/magnetization/correlations every K epochs (0 = off)",
    )
    p.add_argument(
        "--representation-every",
        type=integer(0),
        default=None,
        help="record the representation metrics of the training samples (entropy/purity of "
        "their Schmidt-basis representations, Renyi-2 and Schmidt gap of the class states) "
        "at epochs 0, K, 2K, ... and the last into representation_trajectory.tsv (0 = off; "
        f"default: the smallest multiple of --observe-every >= {MIN_REPRESENTATION_EVERY}, "
        "off with --observe-every 0; ~9 %% extra CPU for a default fit at K = 5, ~44 %% at "
        "K = 1; MPS only)",
    )
    p.add_argument(
        "--checkpoint-path",
        default=None,
        help="checkpoint file (default: <out-dir>.checkpoint.pt next to the output directory)",
    )


def _add_model_arguments(g) -> None:
    g.add_argument(
        "--model",
        choices=("mps", "ttn"),
        default="mps",
        help="mps: matrix product state along the gene order (default); ttn: tree tensor "
        "network on the gene dendrogram of the training samples (gradient training)",
    )
    _add_mps_model_arguments(g)


def _add_mps_model_arguments(g) -> None:
    """The model-shape TrainConfig options (everything of the model group but ``--model``)."""
    _config_option(g, "method")
    _config_option(g, "bond_dim", "maximum bond dimension chi", integer(1))
    _config_option(g, "init_bond_dim", type=integer(1))
    _config_option(
        g,
        "init",
        "sweep: initial state, near-uniform product state (default) or Gaussian random "
        "tensors at --init-bond-dim (the paper's Fashion-MNIST start)",
    )
    _config_option(
        g,
        "environments",
        "sweep: per-sample unit-norm environments (default) or the raw ones "
        "(needs a ~100x larger --lr; short chains only)",
    )
    _config_option(
        g,
        "output_scale",
        "sweep + mse: 'profiled' fits a global output scale at every bond (closer fit, entanglement "
        "keeps growing); 'fixed' keeps the state normalised (|f| <= 1: the class states relax onto "
        "the class centroids); 'free' is the Stoudenmire-Schwab update without renormalisation "
        "(the norm of the MPS carries the output scale, so f can reach the targets)",
    )
    _config_option(g, "cutoff", "drop singular values < cutoff * s_max (sweep)", number(0))
    _config_option(g, "dtype")
    _config_option(g, "seed", type=random_seed)
    _config_option(g, "threads", type=integer(1))


def _add_optimiser_arguments(g) -> None:
    _config_option(g, "epochs", "epochs (sweeps for --method sweep)", integer(0))
    g.add_argument(
        "--lr",
        type=number(0, lo_open=True),
        default=None,
        help=f"step size alpha (sweep, default {DEFAULT_SWEEP_LR}) or Adam learning rate "
        f"(gradient, default {field_default(TrainConfig, 'lr')})",
    )
    _config_option(g, "batch_size", "minibatch size (gradient)", integer(1))
    _config_option(g, "loss")
    _config_option(g, "class_weights")
    _config_option(
        g,
        "site_sparsity",
        "group-sparsity prox pulling sites towards neutral (0 = off; sweep: ~0.03 at --lr 0.1)",
        number(0),
    )
    _config_option(
        g,
        "identity_l2",
        "gradient: L2 pull of the bulk tensors towards pass-through sites (0 = off)",
        number(0),
    )
    _config_option(
        g,
        "born_smoothing",
        "gradient, cross_entropy: mix Born probabilities with uniform, weight eta in [0, 1)",
        number(0, 1, hi_open=True),
    )
    _config_option(
        g,
        "ema_decay",
        "gradient: Polyak (EMA) averaging of the iterates per step, decay in [0, 1) (0 = off)",
        number(0, 1, hi_open=True),
    )
    _config_option(
        g, "lr_schedule", "gradient: learning-rate schedule (cosine: annealed to ~0 at the last step)"
    )


def _add_validation_arguments(g) -> None:
    _config_option(
        g,
        "validation_fraction",
        "hold out this stratified fraction of the training samples for validation (0 = off)",
        number(0, 1, hi_open=True),
    )
    _config_option(
        g, "early_stopping", "return the model of the best validation epoch (needs --validation-fraction)"
    )
    _config_option(
        g, "patience", "stop after this many epochs without validation improvement (0 = off)", integer(0)
    )
    _config_option(
        g,
        "checkpoint_every",
        "write a resumable checkpoint every K epochs (0 = off); a rerun resumes from it",
        integer(0),
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``mpsomics train``: defaults and choices come from :class:`TrainConfig`."""
    _add_io_arguments(p)
    _add_model_arguments(p.add_argument_group("model"))
    _add_optimiser_arguments(p.add_argument_group("optimisation"))
    _add_validation_arguments(p.add_argument_group("validation and checkpoints"))


def add_train_config_arguments(p: argparse.ArgumentParser, *, observe_every: int | None = 1) -> None:
    """Add an option for every :class:`TrainConfig` field to a command that trains MPS.

    For stages that run many in-process fits (``cv``, ``stability``) and must accept the
    config ``mps`` section exactly as ``mpsomics train`` does (``--bond-dim 16 --epochs 60
    ... --checkpoint-every 10``): the same names, defaults, choices and validators as
    ``train``, in three argument groups, but without ``train``'s ``--model mps|ttn``
    (such stages always fit MPS and may use ``--model`` for something else) and without
    its I/O options. ``--seed`` and ``--threads`` are included (TrainConfig fields).
    ``observe_every``: default of an added ``--observe-every K`` option (``train``'s is
    1; ``None`` = do not add the option). Build the config with :func:`train_config`
    (``model="mps"``).
    """
    _add_mps_model_arguments(p.add_argument_group("MPS model (as in `mpsomics train`)"))
    _add_optimiser_arguments(p.add_argument_group("MPS optimisation (as in `mpsomics train`)"))
    _add_validation_arguments(
        p.add_argument_group("MPS validation split and checkpoints (as in `mpsomics train`)")
    )
    if observe_every is not None:
        p.add_argument(
            "--observe-every",
            type=integer(0),
            default=observe_every,
            help="record entanglement/magnetization every K epochs (0 = off)",
        )


def load_training_data(expression: str | Path, genes: list[str], genes_path: str | Path) -> dict:
    """Read the prepared AnnData (:func:`~mpsomics.core.readers.read_prepared`); return the arrays :func:`fit` needs."""
    path = Path(expression)
    adata = read_prepared(path)
    check_genes_present(adata, genes, path, genes_path)
    classes = list(adata.uns["classes"])
    positive_label = adata.uns["positive_label"]
    labels = adata.obs["label"].astype(str).to_numpy()
    train = adata.obs["split"].astype(str).to_numpy() == "train"
    y = np.array([classes.index(lab) for lab in labels], dtype=np.int64)
    X = adata.X[:, adata.var_names.get_indexer(genes)]
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = np.clip(np.asarray(X, dtype=np.float64), 0.0, 1.0)
    return {
        "X_train": X[train],
        "y_train": y[train],
        "X_test": X[~train],
        "y_test": y[~train],
        "groups_train": adata.obs["group"].astype(str).to_numpy()[train],
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


def train_config(args: argparse.Namespace, *, model: str | None = None) -> TrainConfig:
    """The :class:`TrainConfig` of the parsed options (every field has an option of its name).

    ``model``: ``"mps"`` or ``"ttn"`` (picks the default ``--lr``); ``None`` = ``args.model``
    (``mpsomics train --model``), else ``"mps"``. Commands whose ``--model`` means something
    else (see :func:`add_train_config_arguments`) pass ``model="mps"``.
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    if model is None:
        model = getattr(args, "model", "mps")
    if args.lr is None and model == "ttn":
        from mpsomics.ttn.fit import DEFAULT_TTN_LR

        values["lr"] = DEFAULT_TTN_LR
    elif args.lr is None:
        values["lr"] = DEFAULT_SWEEP_LR if args.method == "sweep" else field_default(TrainConfig, "lr")
    config = TrainConfig(**values)
    if (config.early_stopping or config.patience) and not config.validation_fraction:
        raise InputError(None, "--early-stopping/--patience need --validation-fraction > 0")
    return config


def read_inputs(args: argparse.Namespace) -> tuple[list[str], dict]:
    """The gene list and the training arrays (:func:`load_training_data`), checked."""
    genes = read_gene_list(args.genes)
    if (args.method == "sweep" or getattr(args, "model", "mps") == "ttn") and len(genes) < 2:
        raise InputError(args.genes, "the sweep method needs at least 2 genes (two-site updates)")
    data = load_training_data(args.expression, genes, args.genes)
    _check_constant_genes(data["X_train"], genes, args.genes)
    return genes, data


def checkpoint_path(args: argparse.Namespace, out: Path) -> Path:
    """``--checkpoint-path``, or the default beside the output directory; never inside it."""
    from mpsomics.mps.checkpoint import default_checkpoint_path

    ckpt_path = Path(args.checkpoint_path) if args.checkpoint_path else default_checkpoint_path(out)
    if ckpt_path.resolve() == out.resolve() or out.resolve() in ckpt_path.resolve().parents:
        raise InputError(
            ckpt_path,
            "--checkpoint-path must lie outside --out-dir (the output is replaced as a whole)",
        )
    return ckpt_path


def run_info(args, config: TrainConfig, data: dict, state, history, ckpt_path: Path, t0: float) -> dict:
    """The training-specific ``run_info.json`` (the generic provenance is added by the CLI)."""
    info = {
        "community": args.community or Path(args.out_dir).name,
        "config": config.to_dict(),
        "seed": config.seed,
        "observe_every": args.observe_every,
        "representation_every": representation_every(args),
        "expression": str(args.expression),
        "genes_file": str(args.genes),
        "classes": data["classes"],
        "positive_label": data["positive_label"],
        "n_train": int(len(data["y_train"])),
        "n_test": int(len(data["y_test"])),
        **_model_info(args, state),
        "versions": _versions(),
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    if "best_epoch" in history.attrs:  # validation split: epoch of the best validation score
        info["best_epoch"] = int(history.attrs["best_epoch"])
        info["returned_epoch"] = (
            int(history.attrs["best_epoch"])
            if config.early_stopping
            else int(history["epoch"].iloc[-1])
        )
    if "resumed_from_epoch" in history.attrs:
        info["resumed_from_epoch"] = int(history.attrs["resumed_from_epoch"])
        info["checkpoint"] = str(ckpt_path)
        info["checkpoint_lr"] = float(history.attrs["resumed_lr"])
    return info


def representation_every(args: argparse.Namespace) -> int:
    """``--representation-every``; by default the smallest multiple of ``--observe-every``
    that is >= :data:`MIN_REPRESENTATION_EVERY` (so its epochs are observed epochs too),
    0 with ``--observe-every 0``, for a TTN, or for a command without the option."""
    if getattr(args, "model", "mps") == "ttn" or not hasattr(args, "representation_every"):
        return 0
    if args.representation_every is not None:
        return int(args.representation_every)
    every = int(getattr(args, "observe_every", 0) or 0)
    return every * -(-MIN_REPRESENTATION_EVERY // every) if every > 0 else 0


def _model_info(args: argparse.Namespace, state) -> dict:
    """Model-specific ``run_info.json`` fields (MPS chain or TTN tree)."""
    if getattr(args, "model", "mps") == "ttn":
        return {
            "model": "ttn",
            "n_sites": int(state.n_leaves),
            "label_node": int(state.label_node),
            "bond_dims": [int(b) for b in state.bond_dims()],
            "genes_leaf_order": list(state.genes),
        }
    return {
        "model": "mps",
        "n_sites": int(state.n_sites),
        "label_site": int(state.label_site),
        "bond_dims": [int(b) for b in state.bond_dims],
    }


def run_ttn(args: argparse.Namespace) -> int:
    """``train --model ttn``: :func:`mpsomics.ttn.fit.fit_ttn`, the same train directory."""
    from mpsomics.ttn.fit import fit_ttn

    t0 = time.perf_counter()
    out = Path(args.out_dir)
    community = args.community or out.name
    genes, data = read_inputs(args)
    config = train_config(args)
    log.info(
        "training TTN %s: %d genes, %d train / %d test samples, chi %d, %d epochs, Adam lr %g",
        community, len(genes), len(data["y_train"]), len(data["y_test"]), config.bond_dim,
        config.epochs, config.lr,
    )
    if config.validation_fraction:
        log.warning("TTN: --validation-fraction/--early-stopping are MPS-only and ignored")
    if getattr(args, "representation_every", None):
        log.warning("TTN: --representation-every is MPS-only and ignored")
    state, history, obs = fit_ttn(
        data["X_train"], data["y_train"], data["X_test"], data["y_test"],
        genes=genes, classes=data["classes"], config=config, positive=data["positive"],
        observe_every=args.observe_every, name=community,
    )
    info = run_info(args, config, data, state, history, out, t0)
    with atomic_dir(out) as tmp:
        training_run.write_train_dir(tmp, state, history, obs, info)
    last = history.iloc[-1]
    log.info(
        "%s (TTN): epoch %d, train balanced accuracy %.3f, test balanced accuracy %.3f -> %s",
        community, int(last["epoch"]), last["train_balanced_accuracy"],
        last["test_balanced_accuracy"], out,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from mpsomics.mps.checkpoint import remove
    from mpsomics.mps.fit import fit

    if getattr(args, "model", "mps") == "ttn":
        return run_ttn(args)
    t0 = time.perf_counter()
    out = Path(args.out_dir)
    community = args.community or out.name
    genes, data = read_inputs(args)
    config = train_config(args)
    ckpt_path = checkpoint_path(args, out)
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
        name=community,
        checkpoint_path=ckpt_path if config.checkpoint_every > 0 else None,
        representation_every=representation_every(args),
    )
    info = run_info(args, config, data, state, history, ckpt_path, t0)
    with atomic_dir(out) as tmp:
        training_run.write_train_dir(tmp, state, history, obs, info)
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

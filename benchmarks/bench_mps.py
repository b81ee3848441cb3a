#!/usr/bin/env python
"""MPS benchmarks: ``python benchmarks/bench_mps.py gradient|accuracy|sweep|observables|all``.

``gradient`` (this file's section): mpsomics gradient mode vs TensorKrowch's
``tensorkrowch.models.MPSLayer``, side by side in one process run, on the reference task

    N = 100 sites, chi = 10, x ~ U[0, 1]^100 (400 train / 400 test),
    y = [x_10 + x_30 + x_50 + x_70 + x_90 > 2.5], 20 epochs of Adam (lr 1e-3, batch 32),
    feature map (cos, sin)(pi x / 2), torch.set_num_threads(2).

Both models see the same data, the same minibatch order, the same loss and optimiser.
Reported: seconds per epoch (median over epochs; training steps only), test accuracy
(argmax_l |f^l|), and the ratio. ``--accuracy-run`` additionally trains gradient mode
with ``ACCURACY_RUN`` (the gradient settings of ``ACCURACY_SETTINGS``) on ``--seed``.

``accuracy``: both training methods (sweep and gradient) on the reference task with
``ACCURACY_SETTINGS``, per data seed (default 0, 1, 2; settings tuned once on data
seeds 10-15), trained on all 400 training samples and, as a variant, with a 20 %
validation split carved from the training samples and best-validation early stopping.

``sweep``: seconds per sweep at N = 48, 150 samples, chi = 100 and 400.
``observables``: all-pairs correlations at N = 100, chi = 32 and ``observe_all`` at
N = 48, chi = 100 (random MPS).
``all``: every section (a few minutes on 2 cores).

This is a script, not a test: timings on a shared machine are noisy, only the ratio
measured in one run is meaningful.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.gradient import accuracy, make_adam, sample_losses, train_gradient
from mpsomics.mps.torch_model import MPSClassifier, embed

REF_SITES = (10, 30, 50, 70, 90)
#: Settings of the accuracy runs (TrainConfig fields), chosen once on data seeds 10-15
#: of the reference task and then run unchanged on the reported data seeds 0, 1, 2
#: (see docs/benchmarks.md "Accuracy on the reference task").
ACCURACY_SETTINGS = {
    "sweep": dict(
        method="sweep",
        bond_dim=2,
        epochs=12,
        lr=0.1,
        site_sparsity=0.03,
        init_bond_dim=2,
        output_scale="profiled",
    ),
    "gradient": dict(
        method="gradient",
        bond_dim=4,
        epochs=80,
        lr=3e-3,
        batch_size=100,
        loss="cross_entropy",
        class_weights="none",
        site_sparsity=1.0,
        born_smoothing=0.05,
        ema_decay=0.95,
        lr_schedule="cosine",
        dtype="float32",
    ),
}
#: Variant: hold out 20 % of the training samples and return the best-validation epoch.
VALIDATION_VARIANT = dict(validation_fraction=0.2, early_stopping=True)
#: gradient settings of ``gradient --accuracy-run`` (kept for that flag)
ACCURACY_RUN = {k: v for k, v in ACCURACY_SETTINGS["gradient"].items() if k != "method"}
ACCURACY_RUN_KW: dict = {}


# --------------------------------------------------------------------------- helpers
def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def reference_task(n_train: int, n_test: int, n_sites: int, seed: int):
    """x ~ U[0,1]^N, y = [sum of x at REF_SITES > len(REF_SITES) / 2]."""
    rng = np.random.default_rng(seed)
    sites = [s for s in REF_SITES if s < n_sites]

    def draw(n):
        X = rng.random((n, n_sites))
        y = (X[:, sites].sum(axis=1) > len(sites) / 2).astype(np.int64)
        return X, y

    return draw(n_train), draw(n_test)


def _epoch_order(n: int, batch: int, epochs: int, seed: int) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        out.append([perm[i : i + batch] for i in range(0, n, batch)])
    return out


def train_epochs(
    model: torch.nn.Module,
    prepare: Callable,
    forward: Callable,
    X,
    y,
    *,
    epochs,
    lr,
    batch,
    loss,
    seed,
):
    """Plain Adam loop shared by both libraries; yields (seconds, mean loss) per epoch.

    ``prepare(phi)`` turns the embedded training set (n, N, 2) into what ``forward``
    takes, indexed by minibatch; its (one-off) time is added to epoch 1. A generator,
    so that the libraries can run interleaved epoch by epoch and see the same machine
    load (the benchmark machine is shared).
    """
    opt = make_adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    data = prepare(embed(X, torch.float32))
    setup = time.perf_counter() - t0
    yt = torch.as_tensor(y)
    for order in _epoch_order(len(X), batch, epochs, seed):
        t0 = time.perf_counter()
        total = 0.0
        for idx in order:
            f = forward(data, idx)
            lo = sample_losses(f, yt[idx], loss).mean()
            opt.zero_grad(set_to_none=True)
            lo.backward()
            opt.step()
            total += lo.item() * len(idx)
        yield time.perf_counter() - t0 + setup, total / len(X)
        setup = 0.0


# --------------------------------------------------------------------------- gradient
def tensorkrowch_model(n_sites: int, n_classes: int, chi: int, init: str, X_init, seed: int):
    """MPSLayer with TensorKrowch's fastest documented training settings."""
    import tensorkrowch as tk

    torch.manual_seed(seed)
    if init == "randn_eye":  # TensorKrowch's recommended initialisation for long chains
        mps = tk.models.MPSLayer(
            n_features=n_sites + 1,
            in_dim=2,
            out_dim=n_classes,
            bond_dim=chi,
            boundary="obc",
            init_method="randn_eye",
            std=1e-9,
            dtype=torch.float32,
        )
    elif init == "mpsomics":  # the same identity-channel tensors mpsomics starts from
        ours = MPSClassifier(
            n_sites,
            n_classes,
            chi,
            dtype=torch.float64,
            X_init=X_init,
            generator=torch.Generator().manual_seed(seed),
        )
        sites = ours.site_tensors()  # per-site scales folded in, float64
        L = ours.label_site
        s_L = math.exp(float(ours.label_log_scale))
        T = sites[L]  # (chi, 2, C, chi) = s_L (I/sqrt2 + noise) / C
        # TensorKrowch's output node has no input leg: it gets T at s = 0 without the
        # phys factor, and x_L gets its own identity-channel input node (as every bulk site)
        out_node = T[:, 0] * math.sqrt(2.0) / s_L  # (chi, C, chi)
        x_L_node = s_L * np.stack([np.eye(chi)] * 2, axis=1) / math.sqrt(2.0)
        tensors = sites[:L] + [out_node, x_L_node] + sites[L + 1 :]
        tensors = [torch.as_tensor(t, dtype=torch.float32) for t in tensors]
        tensors[0] = tensors[0][0]  # obc ends are rank-2 for TensorKrowch
        tensors[-1] = tensors[-1][..., 0]
        mps = tk.models.MPSLayer(tensors=tensors, out_position=L)
    else:
        raise ValueError(init)
    mps.auto_stack = True  # documented as faster for training and inference
    mps.auto_unbind = False  # documented as faster for training
    return mps


def bench_gradient(args) -> dict:
    torch.set_num_threads(args.threads)
    (X, y), (Xt, yt) = reference_task(args.n_train, args.n_test, args.sites, args.seed)
    N, C, chi = args.sites, 2, args.bond_dim
    res: dict = {"machine": machine_info(), "settings": vars(args).copy()}
    print(f"# machine: {res['machine']}", flush=True)

    # ---- models. mpsomics: the same MPSClassifier and Adam set-up train_gradient uses
    # (for N <= 101 its bulk learning rate equals lr), driven by the same loop as TensorKrowch.
    ours_model = MPSClassifier(
        N, C, chi, dtype=torch.float32, X_init=X, generator=torch.Generator().manual_seed(args.seed)
    )
    # as in train_gradient: parameter-independent block features computed once
    runs = {
        "mpsomics": (
            ours_model,
            lambda phi: (phi[:, ours_model.label_site].contiguous(), ours_model.features(phi)),
            lambda d, idx: ours_model.forward_features(d[0][idx], d[1][:, :, idx]),
            ours_model,
        )
    }
    try:
        import tensorkrowch  # noqa: F401
    except ImportError:
        print("tensorkrowch not installed: pip install -e '.[bench]'", file=sys.stderr)
        args.tk_init = []
    kw = dict(inline_input=False, inline_mats=args.tk_inline_mats, renormalize=False)
    for init in args.tk_init:
        mps = tensorkrowch_model(N, C, chi, init, X, args.seed)
        mps.trace(torch.zeros(1, N, 2), **kw)  # documented: trace once before training
        runs[f"tensorkrowch[{init}]"] = (
            mps,
            lambda phi: phi,
            (lambda m: lambda d, idx: m(d[idx], **kw))(mps),
            (lambda m: lambda p: m(p, **kw))(mps),
        )

    loops = {
        name: train_epochs(
            model,
            prep,
            fwd,
            X,
            y,
            epochs=args.epochs,
            lr=args.lr,
            batch=args.batch,
            loss=args.loss,
            seed=args.seed,
        )
        for name, (model, prep, fwd, _) in runs.items()
    }
    secs: dict[str, list[float]] = {name: [] for name in runs}
    losses: dict[str, list[float]] = {name: [] for name in runs}
    for epoch in range(1, args.epochs + 1):  # interleaved: epoch e of every library, then e + 1
        for name, loop in loops.items():
            sec, lo = next(loop)
            secs[name].append(sec)
            losses[name].append(lo)
        print(
            f"  epoch {epoch}: "
            + "  ".join(f"{n} {secs[n][-1]:.3f}s loss {losses[n][-1]:.4g}" for n in runs),
            flush=True,
        )

    for name, (_m, _p, _f, fwd) in runs.items():
        with torch.no_grad():
            f_test = fwd(embed(Xt, torch.float32)).double().numpy()
            f_train = fwd(embed(X, torch.float32)).double().numpy()
        r = {
            "sec_per_epoch": statistics.median(secs[name]),
            "sec_per_epoch_all": secs[name],
            "test_accuracy": float(np.mean(np.argmax(np.abs(f_test), 1) == yt)),
            "train_accuracy": float(np.mean(np.argmax(np.abs(f_train), 1) == y)),
            "final_loss": losses[name][-1],
            "median_abs_f_test": float(np.median(np.abs(f_test))),
            "finite": bool(np.all(np.isfinite(f_test))),
        }
        res[name] = r
    base = res["mpsomics"]["sec_per_epoch"]
    # exactness check of the exported MPSState against the torch forward
    state = ours_model.to_state([f"g{i}" for i in range(N)], ["neg", "pos"])
    res["mpsomics"]["export_test_accuracy"] = accuracy(state, Xt, yt)
    for name in runs:
        r = res[name]
        r["mpsomics_speedup"] = r["sec_per_epoch"] / base
        print(
            f"{name:28s}: {r['sec_per_epoch']:.4f} s/epoch (median)  test acc {r['test_accuracy']:.4f}  "
            f"train acc {r['train_accuracy']:.4f}  median|f| {r['median_abs_f_test']:.3g}  "
            f"mpsomics speed-up x{r['mpsomics_speedup']:.2f}",
            flush=True,
        )

    if args.accuracy_run:
        acfg = TrainConfig(
            **{"method": "gradient", "seed": args.seed, "threads": args.threads, **ACCURACY_RUN}
        )
        t0 = time.perf_counter()
        st = train_gradient(
            X,
            y,
            genes=[f"g{i}" for i in range(N)],
            classes=["neg", "pos"],
            config=acfg,
            **ACCURACY_RUN_KW,
        )
        acc = {
            "settings": {**ACCURACY_RUN, **ACCURACY_RUN_KW},
            "seconds": time.perf_counter() - t0,
            "test_accuracy": accuracy(st, Xt, yt),
            "train_accuracy": accuracy(st, X, y),
        }
        res["accuracy_run"] = acc
        print(
            f"accuracy run {acc['settings']}: test acc {acc['test_accuracy']:.4f} train acc "
            f"{acc['train_accuracy']:.4f} ({acc['seconds']:.1f} s)",
            flush=True,
        )
    return res


# --------------------------------------------------------------------------- accuracy
def bench_accuracy(args) -> dict:
    """Both methods on the reference task, per data seed, with ACCURACY_SETTINGS.

    Each run goes through the training driver :func:`mpsomics.mps.fit.fit`; the test
    samples are only evaluated (never used for any choice). Variant ``full`` trains on
    all 400 training samples and returns the last epoch; variant ``validation`` holds
    out a stratified 20 % of the *training* samples and returns the epoch with the best
    validation balanced accuracy.
    """
    from mpsomics.mps.contract import predict
    from mpsomics.mps.fit import fit

    out: dict = {"machine": machine_info(), "data_seeds": list(args.data_seeds), "runs": []}
    genes = [f"g{i}" for i in range(args.sites)]
    variants = {"full": {}, "validation": VALIDATION_VARIANT}
    for method in args.methods:
        for vname, extra in variants.items():
            accs = []
            for ds in args.data_seeds:
                (X, y), (Xt, yt) = reference_task(args.n_train, args.n_test, args.sites, ds)
                cfg = TrainConfig(
                    seed=0, threads=args.threads, **ACCURACY_SETTINGS[method], **extra
                )
                t0 = time.perf_counter()
                state, hist, _ = fit(
                    X, y, Xt, yt, genes=genes, classes=["neg", "pos"], config=cfg, progress=False
                )
                sec = time.perf_counter() - t0
                acc = float(np.mean(predict(state, Xt) == yt))
                accs.append(acc)
                run = {
                    "method": method,
                    "variant": vname,
                    "data_seed": ds,
                    "test_accuracy": acc,
                    "train_accuracy": float(np.mean(predict(state, X) == y)),
                    "best_epoch": hist.attrs.get("best_epoch"),
                    "seconds": sec,
                }
                out["runs"].append(run)
                print(
                    f"accuracy {method:8s} {vname:10s} data seed {ds}: test {acc:.4f} "
                    f"train {run['train_accuracy']:.4f} best epoch {run['best_epoch']} "
                    f"({sec:.1f} s)",
                    flush=True,
                )
            out[f"{method}/{vname}/mean"] = float(np.mean(accs))
            print(
                f"accuracy {method:8s} {vname:10s} MEAN over data seeds {list(args.data_seeds)}: "
                f"{np.mean(accs):.4f}  settings {ACCURACY_SETTINGS[method]} {extra}",
                flush=True,
            )
    return out


# --------------------------------------------------------------------------- sweep
def bench_sweep(args) -> dict:
    """Seconds per sweep at N = 48, 150 samples, chi = 100 and 400 (benchmarks/bench_sweep.py)."""
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_sweep import sweep_timing

    out = {"machine": machine_info()}
    for chi in (100, 400):
        # sweep 1 grows the bonds from 2 to chi; sweep 2 runs at full chi
        r = sweep_timing(n_sites=48, n_samples=150, bond_dim=chi, epochs=2, threads=args.threads)
        out[f"chi{chi}"] = r
        print(
            f"sweep N=48 n=150 chi={chi} threads={args.threads}: seconds per sweep "
            f"{[round(x, 2) for x in r['seconds']]} max bond {r['max_bond']}",
            flush=True,
        )
    return out


# --------------------------------------------------------------------------- observables
def _random_state(n_sites: int, chi: int, seed: int = 0):
    from mpsomics.mps.state import MPSState

    rng = np.random.default_rng(seed)
    label = n_sites // 2
    dims = [1] + [min(chi, 2 ** min(i, n_sites - i)) for i in range(1, n_sites)] + [1]
    sites = []
    for i in range(n_sites):
        shape = (dims[i], 2, 2, dims[i + 1]) if i == label else (dims[i], 2, dims[i + 1])
        sites.append(rng.standard_normal(shape))
    return MPSState(sites, label, [f"g{i}" for i in range(n_sites)], ["neg", "pos"])


def bench_observables(args) -> dict:
    """All-pairs correlations at N = 100, chi = 32 and observe_all at N = 48, chi = 100."""
    from threadpoolctl import threadpool_limits

    from mpsomics.mps import observables as ob

    out = {"machine": machine_info()}
    with threadpool_limits(args.threads):
        st = _random_state(100, 32)
        t0 = time.perf_counter()
        for label in range(2):
            ob.correlation(st, label)
        out["correlation_N100_chi32_per_class"] = (time.perf_counter() - t0) / 2
        st = _random_state(48, 100)
        t0 = time.perf_counter()
        ob.observe_all(st)
        out["observe_all_N48_chi100"] = time.perf_counter() - t0
    print(
        f"observables (threads={args.threads}): all-pairs connected correlations N=100 chi=32 "
        f"{out['correlation_N100_chi32_per_class']:.3f} s per class; observe_all (2 classes: "
        f"entropy, magnetization, correlations) N=48 chi=100 {out['observe_all_N48_chi100']:.3f} s",
        flush=True,
    )
    return out


SECTIONS: dict[str, Callable] = {
    "gradient": bench_gradient,
    "accuracy": bench_accuracy,
    "sweep": bench_sweep,
    "observables": bench_observables,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("section", choices=[*SECTIONS, "all"])
    p.add_argument("--sites", type=int, default=100)
    p.add_argument("--bond-dim", type=int, default=10)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-test", type=int, default=400)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--loss", choices=["mse", "cross_entropy"], default="mse")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tk-init",
        nargs="+",
        default=["randn_eye", "mpsomics"],
        choices=["randn_eye", "mpsomics"],
        help="TensorKrowch initialisations to run",
    )
    p.add_argument(
        "--tk-inline-mats",
        action="store_true",
        help="TensorKrowch: contract the matrix chain inline instead of pairwise (stacked)",
    )
    p.add_argument(
        "--accuracy-run",
        action="store_true",
        help=f"also train gradient mode with {ACCURACY_RUN} {ACCURACY_RUN_KW} (float32)",
    )
    p.add_argument(
        "--data-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="accuracy: data seeds of the reference task (settings were tuned on 10-15)",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=["sweep", "gradient"],
        choices=["sweep", "gradient"],
        help="accuracy: methods to run",
    )
    p.add_argument("--json", help="write all results to this JSON file")
    args = p.parse_args(argv)
    results = {}
    for name in SECTIONS if args.section == "all" else [args.section]:
        results[name] = SECTIONS[name](args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

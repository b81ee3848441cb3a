"""Issue 19 benchmarks: the fast sweep engine against the previous one, side by side.

::

    python benchmarks/bench_fits.py all --old-src /tmp/old/src \\
        --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c06.txt --json fits.json

Sections (docs/benchmarks.md, "Sweep engine (issue 19)"):

* ``fit`` (a): one default community fit (chi 16, 60 sweeps, lr 0.005, observables every
  epoch), in-process, old engine vs new, interleaved repeats in one run (the old engine
  runs from ``--old-src`` in a subprocess per repeat, timed inside that process), with and
  without correlations; then the whole ``mpsomics train`` process, old vs new.
* ``throughput`` (b): validation fits (5-fold CV x repeats + label permutations, 60
  sweeps, entropy and magnetization every epoch) per minute with ``--workers`` processes
  (``mpsomics.mps.fits.run_fits``), then as many default fits of the old engine in
  ``--workers`` processes side by side.
* ``chi400`` (d): one sweep at chi 400, N = 48, 150 samples (after a first sweep that grows
  the bonds) and the time of its SVDs alone at the same shapes, old and new engine.

Gradient vs TensorKrowch (c) is ``python benchmarks/bench_mps.py gradient``.
Timings are wall-clock; BLAS is limited to 1 thread per process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

FIT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from threadpoolctl import threadpool_limits
from mpsomics.commands.train import load_training_data
try:
    from mpsomics.mps.fit import fit
except ImportError:  # the engine before the reorganisation
    from mpsomics.mps.train import fit
from mpsomics.mps.config import TrainConfig
expr, genes_path, corr, repeats = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
genes = [g.strip() for g in open(genes_path) if g.strip() and not g.startswith("#")]
data = load_training_data(expr, genes, genes_path)
cfg = TrainConfig(method="sweep", bond_dim=16, epochs=60, lr=0.005, init_bond_dim=2,
                  output_scale="profiled", class_weights="balanced", seed=0)
out = []
with threadpool_limits(1):
    for _ in range(repeats):
        t = time.perf_counter()
        st, h, obs = fit(data["X_train"], data["y_train"], data["X_test"], data["y_test"],
                         genes=genes, classes=data["classes"], config=cfg,
                         positive=data["positive"], observe_every=1, correlations=corr)
        out.append(time.perf_counter() - t)
print(json.dumps({"fit": out, "test_bacc": float(h["test_balanced_accuracy"].iloc[-1])}))
"""


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "loadavg_at_start": os.getloadavg()}


def _env(src: str | None) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src
    else:
        env.pop("PYTHONPATH", None)
    return env


def _fit_in(src, args, corr, repeats=1) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT, args.expression, args.genes, "1" if corr else "0",
         str(repeats)], env=_env(src), capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_fit(args) -> dict:
    res = {"old": {"corr": [], "nocorr": []}, "new": {"corr": [], "nocorr": []}}
    for _ in range(args.repeats):  # interleaved: old, new, old, new ...
        for corr in (True, False):
            key = "corr" if corr else "nocorr"
            for name, src in (("old", args.old_src), ("new", None)):
                r = _fit_in(src, args, corr)
                res[name][key] += r["fit"]
                res[name]["test_bacc"] = r["test_bacc"]
    proc_times = {"old": [], "new": []}
    for i in range(args.repeats):
        for name, src in (("old", args.old_src), ("new", None)):
            out = os.path.join(args.tmp, f"train_{name}_{i}")
            cmd = [sys.executable, "-m", "mpsomics", "train", "--expression", args.expression,
                   "--genes", args.genes, "--out" if src else "--out-dir", out, "--community", "c06", "--method",
                   "sweep", "--bond-dim", "16", "--epochs", "60", "--lr", "0.005",
                   "--observe-every", "1", "--checkpoint-every", "10"]
            t = time.perf_counter()
            subprocess.run(cmd, env=_env(src), check=True, capture_output=True)
            proc_times[name].append(time.perf_counter() - t)
    res["train_process"] = proc_times
    for name in ("old", "new"):
        med = {k: float(np.median(res[name][k])) for k in ("corr", "nocorr")}
        res[name]["median"] = med
        print(f"(a) {name}: fit median {med['corr']:.3f} s with correlations, "
              f"{med['nocorr']:.3f} s entropy+magnetization only; test bacc "
              f"{res[name]['test_bacc']:.3f}; `mpsomics train` process median "
              f"{np.median(proc_times[name]):.2f} s", flush=True)
    return res


def bench_throughput(args) -> dict:
    from mpsomics.commands.train import load_training_data
    from mpsomics.core.readers import read_gene_list
    from mpsomics.mps.config import TrainConfig
    from mpsomics.mps.fits import cv_specs, permutation_specs, run_fits

    genes = read_gene_list(args.genes)
    data = load_training_data(args.expression, genes, args.genes)
    y = data["y_train"]
    specs = cv_specs(y, 5, args.cv_repeats) + permutation_specs(y, args.permutations, 10_000)
    cfg = TrainConfig(method="sweep", bond_dim=16, epochs=60, lr=0.005, seed=0)
    t = time.perf_counter()
    seconds = [r.seconds for r in run_fits(data["X_train"], y, specs, genes=genes,
                                           classes=data["classes"], config=cfg,
                                           positive=data["positive"], observe_every=1,
                                           workers=args.workers)]
    sec = time.perf_counter() - t
    n = len(seconds)
    # the old engine on the same number of fits: `workers` processes side by side, each
    # running its share of default fits (seeds differ only in the spec list of the new one)
    per = -(-n // args.workers)
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", FIT_SCRIPT, args.expression, args.genes, "0",
                               str(per)], env=_env(args.old_src), stdout=subprocess.PIPE,
                              text=True) for _ in range(args.workers)]
    old = [json.loads(p.communicate()[0].strip().splitlines()[-1])["fit"] for p in procs]
    old_sec = time.perf_counter() - t
    res = {"fits": n, "workers": args.workers, "seconds": sec, "fits_per_min": 60 * n / sec,
           "old_fits": per * args.workers, "old_seconds": old_sec,
           "old_fits_per_min": 60 * per * args.workers / old_sec,
           "new_seconds_per_fit": [float(r) for r in seconds],
           "old_seconds_per_fit": [float(x) for o in old for x in o]}
    print(f"(b) new: {n} fits in {sec:.1f} s on {args.workers} workers = "
          f"{res['fits_per_min']:.0f} fits/min (median {np.median(seconds):.2f} s per fit); "
          f"old: {per * args.workers} fits in {old_sec:.1f} s = {res['old_fits_per_min']:.0f} "
          f"fits/min (median {np.median(res['old_seconds_per_fit']):.2f} s per fit)", flush=True)
    return res


def bench_chi400(args) -> dict:
    res = {}
    for name, src in (("old", args.old_src), ("new", None)):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "chi400-one",
                               "--chi", str(args.chi)], env=_env(src), capture_output=True,
                              text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        res[name] = r
        print(f"(d) {name} engine, chi={args.chi}: sweep {r['sweep_seconds']:.2f} s (max bond "
              f"{r['max_bond']}), its {r['n_svds']} SVDs alone: {r['svd_engine_seconds']:.2f} s "
              f"as the engine does them, {r['svd_gesdd_seconds']:.2f} s by exact gesdd; ratio "
              f"{r['ratio_to_engine_svd']:.2f} / {r['ratio_to_gesdd']:.2f}", flush=True)
    return res


def chi400_one(args) -> dict:
    from threadpoolctl import threadpool_limits

    from mpsomics.mps import sweep as sw_mod
    from mpsomics.mps.config import TrainConfig

    rng = np.random.default_rng(0)
    X = rng.random((150, 48))
    y = (X[:, :5].sum(1) > 2.5).astype(np.int64)
    cfg = TrainConfig(method="sweep", bond_dim=args.chi, epochs=2, lr=0.05, seed=0)
    shapes: list = []
    real = sw_mod._Sweeper._decompose

    def recording(self, M):
        shapes.append(M.shape)
        return real(self, M)

    res = {}
    with threadpool_limits(1):
        sw = sw_mod._Sweeper(X, y, n_classes=2, config=cfg)
        sw.right_to_left(update=False)
        sw.left_to_right()
        sw.right_to_left(update=True)  # sweep 1: bonds grow
        sw_mod._Sweeper._decompose = recording
        try:
            t = time.perf_counter()
            sw.left_to_right()
            sw.right_to_left(update=True)  # sweep 2 at full chi
            res["sweep_seconds"] = time.perf_counter() - t
        finally:
            sw_mod._Sweeper._decompose = real
        res["max_bond"] = int(max(s.shape[-1] for s in sw.sites[:-1]))
        mats = [rng.standard_normal(s) for s in shapes]
        t = time.perf_counter()
        for M in mats:
            sw_mod._svd(M)  # exact LAPACK gesdd, full thin SVD (the engine's wrapper)
        res["svd_gesdd_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        for M in mats:
            sw._decompose(M)  # what the engine uses (Gram SVD for large truncated bonds)
        res["svd_engine_seconds"] = time.perf_counter() - t
    res["n_svds"] = len(shapes)
    res["largest_svd_shape"] = max(shapes, key=lambda s: s[0] * s[1])
    res["ratio_to_engine_svd"] = res["sweep_seconds"] / res["svd_engine_seconds"]
    res["ratio_to_gesdd"] = res["sweep_seconds"] / res["svd_gesdd_seconds"]
    print(json.dumps(res, default=str))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=["fit", "throughput", "chi400", "all", "chi400-one"])
    p.add_argument("--old-src", default="/tmp/old/src", help="src/ of the previous main")
    p.add_argument("--expression", default="results/prepared/expression.h5ad")
    p.add_argument("--genes", default="results/communities/genes/c06.txt")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cv-repeats", type=int, default=4)
    p.add_argument("--permutations", type=int, default=10)
    p.add_argument("--chi", type=int, default=400)
    p.add_argument("--tmp", default="/tmp/bench_fits")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.section == "chi400-one":  # one engine, in this process (run by `chi400`)
        chi400_one(args)
        return 0
    os.makedirs(args.tmp, exist_ok=True)
    out = {"machine": machine(), "argv": sys.argv}
    for name, fn in (("fit", bench_fit), ("throughput", bench_throughput),
                     ("chi400", bench_chi400)):
        if args.section in (name, "all"):
            out[name] = fn(args)
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

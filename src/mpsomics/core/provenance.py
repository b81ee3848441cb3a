"""Provenance: what produced an output (stage, options, seed, package versions).

Written by :func:`mpsomics.cli.main` after every successful stage, as
``<outdir>/run_info.json`` for stages that write a directory and as
``<output stem>.run_info.json`` beside a single output file, so every output
directory records how its content was made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from mpsomics.core.files import write_json

#: Distributions whose versions can change results.
PACKAGES = (
    "mpsomics", "numpy", "scipy", "pandas", "anndata", "scanpy", "scikit-learn", "torch",
    "python-igraph", "leidenalg", "networkx", "gseapy", "matplotlib", "snakemake",
)


def versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (``"not installed"`` when absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def output_location(args: argparse.Namespace) -> Path | None:
    """Where a stage's run_info goes: inside its output directory, or beside its output file."""
    for attr in ("out_dir", "out"):
        value = getattr(args, attr, None)
        if value:
            path = Path(value)
            if path.is_dir():
                return path / "run_info.json"
            if path.exists():
                return path.with_name(path.name.split(".")[0] + ".run_info.json")
    return None


def record(
    stage: str, args: argparse.Namespace, argv: list[str], path: Path | None = None
) -> Path | None:
    """Write (or complete) the run_info of a finished stage; return its path.

    ``path`` overrides :func:`output_location` (a stage writing several files into a
    shared directory names its record after the file it is about).
    """
    path = path or output_location(args)
    if path is None:
        return None
    info = {
        "stage": stage,
        "argv": ["mpsomics", *argv],
        "options": {k: v for k, v in vars(args).items() if k not in ("stage",)},
        "seed": getattr(args, "seed", None),
        "versions": versions(),
        "platform": platform.platform(),
        "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "python_executable": sys.executable,
    }
    if path.is_file():  # a stage may have written its own, richer record: keep it, add ours
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError):
            existing = {}
        info = {**info, **existing}
    write_json(path, info)
    return path

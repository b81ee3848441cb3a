"""Shared fixtures of the workflow tests: one uninterrupted `.test` run per session.

`run_dir` runs `snakemake --cores 2` on a copy of `.test/` once per session and hands
the work directory to every test that asks for it (test_soak.py compares its killed and
resumed run against it). test_workflow.py still defines its own `run_dir` with the same
body, which takes precedence inside that module; deleting it there lets both modules
share this single run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """`snakemake` on the repository's Snakefile, run in `workdir` with its config.yaml."""
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
        "--cores", "2",
        *args,
    ]  # fmt: skip


def run_snakemake(workdir: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        snakemake_command(workdir, *args), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def copy_test_dir(dest: Path) -> Path:
    shutil.copytree(
        ROOT / ".test", dest, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("results", "logs", ".snakemake"),
    )  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """Work directory of one complete, uninterrupted run of the `.test` DAG."""
    work = copy_test_dir(tmp_path_factory.mktemp("workflow"))
    run_snakemake(work)
    return work


@pytest.fixture(scope="session")
def workflow_helpers():
    """The helpers above for test modules (a conftest is not importable by name):
    `.command(workdir, *args)`, `.run(workdir, *args)`, `.copy_test_dir(dest)`."""
    from types import SimpleNamespace

    return SimpleNamespace(
        command=snakemake_command, run=run_snakemake, copy_test_dir=copy_test_dir
    )

"""Running the `.test` DAG from the workflow tests (test_workflow.py, test_soak.py, their conftest)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 1500) -> subprocess.CompletedProcess:
    """Run it; with ``check`` a non-zero exit is an AssertionError carrying the end of stderr."""
    proc = subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def copy_test_dir(dest: Path) -> Path:
    """A copy of `.test/` without earlier results."""
    shutil.copytree(
        ROOT / ".test", dest, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("results", "logs", ".snakemake"),
    )  # fmt: skip
    return dest

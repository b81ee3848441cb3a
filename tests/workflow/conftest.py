"""Shared fixtures of the workflow tests: one uninterrupted `.test` run per session.

`run_dir` runs `snakemake --cores 2` on a copy of `.test/` once per session and hands
the work directory to every test that asks for it (test_soak.py compares its killed and
resumed run against it). The helpers live in `tests/helpers/workflow.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.workflow import copy_test_dir, snakemake, snakemake_command


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """Work directory of one complete, uninterrupted run of the `.test` DAG."""
    work = copy_test_dir(tmp_path_factory.mktemp("workflow"))
    snakemake(work)
    return work


@pytest.fixture(scope="session")
def workflow_helpers():
    """The helpers above for test modules (a conftest is not importable by name):
    `.command(workdir, *args)`, `.run(workdir, *args)`, `.copy_test_dir(dest)`."""
    from types import SimpleNamespace

    return SimpleNamespace(
        command=snakemake_command, run=snakemake, copy_test_dir=copy_test_dir
    )

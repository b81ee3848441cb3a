"""The results-tree comparison used to prove a refactor changes no result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.compare_results import compare


def _tree(root: Path, seconds: str = "0.5", weight: str = "0.9", array: float = 1.0) -> Path:
    (root / "mps/c01").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "mps/c01/history.tsv").write_text(f"epoch\tloss\tseconds\n0\t1.0\t{seconds}\n")
    (root / "network.tsv").write_text(f"gene1\tgene2\tweight\nA\tB\t{weight}\n")
    np.savez(root / "mps/c01/model.npz", site_0=np.full((2, 2), array))
    (root / "mps/c01/run_info.json").write_text(f'{{"seconds": {seconds}}}')
    (root / "logs/x.log").write_text(seconds)
    return root


def test_timing_and_provenance_are_ignored(tmp_path):
    old = _tree(tmp_path / "old")
    new = _tree(tmp_path / "new", seconds="7.25")
    assert compare(old, new, []) == []


def test_a_changed_value_and_a_changed_array_are_found(tmp_path):
    old = _tree(tmp_path / "old")
    new = _tree(tmp_path / "new", weight="0.8", array=1.0 + 1e-15)
    problems = compare(old, new, [])
    assert any("network.tsv" in p for p in problems)
    assert any("model.npz" in p and "site_0" in p for p in problems)


def test_renames_map_old_paths_and_unmapped_files_are_reported(tmp_path):
    old = _tree(tmp_path / "old")
    new = _tree(tmp_path / "new")
    (new / "mps/c01/history.tsv").rename(new / "mps/c01/trajectory.tsv")
    # history.tsv's timing exemption is by name, so the renamed copy compares bytes: equal here
    assert compare(old, new, [("mps/*/history.tsv", "mps/*/trajectory.tsv")]) == []
    assert compare(old, new, []) == [
        "missing in new: mps/c01/history.tsv (old mps/c01/history.tsv)",
        "only in new: mps/c01/trajectory.tsv",
    ]


def test_atol_accepts_rounding_but_reports_its_size(tmp_path):
    old = _tree(tmp_path / "old", weight="0.9")
    new = _tree(tmp_path / "new", weight="0.9000000000000001", array=1.0 + 1e-15)
    problems = compare(old, new, [])
    assert any("network.tsv" in p and "at most 1.11e-16" in p for p in problems)
    assert compare(old, new, [], atol=1e-12) == []

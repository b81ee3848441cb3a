"""The report's "Software and configuration" section: package versions and the full config."""

from __future__ import annotations

import json
from importlib import metadata

from mpsomics.cli import main


def test_report_shows_versions_and_full_config(tmp_path):
    (tmp_path / "selected.txt").write_text("")
    config = {"seed": 3, "mps": {"bond_dim": 16, "epochs": 60}, "graphs": {"min_correlation": 0.1}}
    out = tmp_path / "report"
    assert main(["report", "--selected", str(tmp_path / "selected.txt"),
                 "--config-json", json.dumps(config), "--out-dir", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert "Software and configuration" in html
    for package in ("numpy", "networkx", "gseapy", "scanpy", "snakemake"):
        assert f"<td>{package}</td><td>{metadata.version(package)}</td>" in html
    assert "<td>python</td>" in html
    for key in ("mps.bond_dim", "mps.epochs", "graphs.min_correlation"):
        assert f"<td>{key}</td>" in html

"""The conda environment pins the same versions as pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# These run the workflow itself; the rules' environment does not need them.
RUNNER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert m, requirement
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_env_yaml_pins_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(_split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "mpsomics.yaml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.update(_split(d) for d in dep["pip"] if not d.startswith("-"))
        else:
            name, spec = _split(dep)
            conda[name] = spec
    declared = {**conda, **pip}
    skipped = {"python", "pip"}
    for name, spec in declared.items():
        if name in skipped:
            continue
        assert name in pins, f"envs/mpsomics.yaml lists {name}, pyproject.toml does not"
        assert pins[name] == spec, f"{name}: env {spec!r} vs pyproject {pins[name]!r}"
    missing = set(pins) - set(declared) - RUNNER_ONLY
    assert not missing, f"pyproject dependencies missing from envs/mpsomics.yaml: {sorted(missing)}"
    assert pip["torch"] == "==2.13.0"

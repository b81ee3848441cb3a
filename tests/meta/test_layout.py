"""The test tree mirrors the package: a folder per layer, a direct import of every module."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "mpsomics"
TESTS = REPO / "tests"
LAYERS = ("core", "mps", "dynamics", "omics", "report", "experiments")


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if rel.name in ("__init__", "__main__"):
            continue
        names.append(".".join(rel.parts))
    return names


def _imported_by_tests() -> set[str]:
    found: set[str] = set()
    # `from a import b`, `from a import (b,\n c)` and `import a`, also inside functions
    pattern = re.compile(
        r"^\s*(?:from\s+(mpsomics[\w.]*)\s+import\s+(\([^)]*\)|[\w, ]+)|import\s+(mpsomics[\w.]*))", re.M
    )
    for path in TESTS.rglob("*.py"):
        for m in pattern.finditer(path.read_text()):
            if m.group(3):
                found.add(m.group(3))
                continue
            found.add(m.group(1))
            # `from mpsomics.x import y` imports module mpsomics.x.y when y is one
            for name in re.split(r"[,\s()]+", m.group(2)):
                if name and name != "as":
                    found.add(f"{m.group(1)}.{name}")
    return found


def test_every_module_is_imported_directly_by_a_test():
    imported = _imported_by_tests()
    missing = [m for m in _modules() if m not in imported]
    assert not missing, f"modules no test imports directly: {missing}"


def test_every_layer_has_its_unit_test_folder():
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").is_file(), layer
        assert list((TESTS / "unit" / layer).glob("test_*.py")), f"tests/unit/{layer}/ has no tests"


def test_every_layer_says_what_it_owns_and_may_import():
    for layer in (*LAYERS, "experiments/fashion_mnist"):
        doc = (PACKAGE / layer / "__init__.py").read_text()
        assert doc.lstrip().startswith('"""'), layer
        if layer != "experiments/fashion_mnist":
            assert "import" in doc.split('"""')[1], f"{layer}: docstring does not say what it may import"


def test_architecture_doc_names_every_layer_and_stage():
    from mpsomics.cli import STAGES

    doc = (REPO / "docs" / "architecture.md").read_text()
    for layer in (*LAYERS, "ttn", "commands"):
        assert f"`mpsomics.{layer}`" in doc, f"docs/architecture.md does not describe mpsomics.{layer}"
    for stage in STAGES:
        assert f"| `{stage}` |" in doc, f"docs/architecture.md has no data-flow row for `{stage}`"

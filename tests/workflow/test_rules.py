"""Static checks of the rule files: each `shell:` passes the files its rule declares.

Issue 11: no `results/` path written inside a `shell:` (the rule's `input:`/`output:`
declare the files, the shell passes them), every file placeholder quoted (`:q`, a path
with a space must not split), and one output flag spelling (`--out` / `--out-dir`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))

#: {input}, {input.x}, {input[0]}, {output...}, {log...} with an optional :format
FILE_PLACEHOLDER = re.compile(r"\{(input|output|log)(?:[.\[][^}:]*)?(:[^}]*)?\}")


def shell_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every `shell:` block: the string lines indented below it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != "shell:":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[i + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        blocks.append((i + 1, "\n".join(body)))
    return blocks


ALL_BLOCKS = [(p.name, n, text) for p in RULE_FILES for n, text in shell_blocks(p)]


def test_every_rule_file_is_checked():
    assert len(RULE_FILES) >= 8
    assert len(ALL_BLOCKS) >= 10  # one per rule with a shell


@pytest.mark.parametrize("name, line, text", ALL_BLOCKS, ids=[f"{n}:{ln}" for n, ln, _ in ALL_BLOCKS])
def test_shell_writes_no_results_path(name, line, text):
    assert "results/" not in text, f"{name}:{line}: a shell must pass declared files, not name results/ paths"


@pytest.mark.parametrize("name, line, text", ALL_BLOCKS, ids=[f"{n}:{ln}" for n, ln, _ in ALL_BLOCKS])
def test_file_placeholders_are_quoted(name, line, text):
    found = list(FILE_PLACEHOLDER.finditer(text))
    unquoted = [m.group(0) for m in found if m.group(2) != ":q"]
    assert not unquoted, f"{name}:{line}: unquoted file placeholder(s) {unquoted}; use {{...:q}}"


@pytest.mark.parametrize("name, line, text", ALL_BLOCKS, ids=[f"{n}:{ln}" for n, ln, _ in ALL_BLOCKS])
def test_one_output_flag_spelling_and_no_lookups(name, line, text):
    for old in ("--outdir", "--curve-out", "--figures-dir", "--train-dir", "--summarize", "--no-summary", "-dir "):
        assert old not in text.replace("--out-dir ", ""), f"{name}:{line}: {old!r}"


def test_placeholder_pattern():
    text = '"x {input} {input.h5ad:q} {output[0]} {log:q} {output.html:q} {params.x} {wildcards.c}"'
    found = [(m.group(0), m.group(2)) for m in FILE_PLACEHOLDER.finditer(text)]
    assert found == [("{input}", None), ("{input.h5ad:q}", ":q"), ("{output[0]}", None), ("{log:q}", ":q"),
                     ("{output.html:q}", ":q")]


# --- Issue 15: config checks at parse time (src/mpsomics/core/configcheck.py) ---------------

COMMON = ROOT / "workflow" / "rules" / "common.smk"


def test_every_resource_lookup_names_its_group_literally():
    """`resource("group", key)` only: the allowed `resources` keys are read from these calls."""
    for path in [*RULE_FILES, ROOT / "Snakefile"]:
        text = path.read_text(encoding="utf-8")
        calls = re.findall(r"(?<![\w.])resource\(([^,)]*)", text)
        bad = [c for c in calls if not re.fullmatch(r"\s*\"\w+\"\s*", c) and c.strip() != "rule_name"]
        assert not bad, f"{path.name}: resource() with a computed group {bad}"


def test_bundled_resources_keys_are_groups_the_rules_read():
    import yaml

    from mpsomics.core.configcheck import resource_groups

    groups = resource_groups(RULE_FILES) | {"default"}
    for cfg in [*sorted((ROOT / "config").glob("*.yaml")), ROOT / ".test" / "config.yaml"]:
        keys = set((yaml.safe_load(cfg.read_text()) or {}).get("resources") or {})
        assert keys <= groups, f"{cfg}: {keys - groups}"


def test_common_checks_the_config_around_the_schema():
    """Duplicated keys before the schema (Snakemake already merged them), the rest after it."""
    text = COMMON.read_text(encoding="utf-8")
    dup = text.index("check_duplicate_keys(workflow.configfiles)")
    schema = text.index('validate(config, schema="../schemas/config.schema.yaml")')
    rest = text.index("check_config(")
    assert dup < schema < rest
    assert "resource_groups(" in text[rest:rest + 300] and '"workflow", "rules"' in text[rest:rest + 300]
    # before any rule or helper reads the config
    assert rest < text.index("wildcard_constraints:") < text.index("def cli_options")

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

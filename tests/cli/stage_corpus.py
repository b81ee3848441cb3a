"""The per-stage bad-input corpus: ten cases for every stage of ``mpsomics``, built from its options.

Every stage's required inputs and outputs come from its own parser, so a new stage is covered
without editing this file. Each case must end with exit code 2, one ``mpsomics <stage>: ...``
line naming the file or option at fault, and nothing written. The expected lines are kept in
``tests/data/bad/STAGES.md`` (the README table of the corpus); regenerate it after a deliberate
change of a message with::

    python tests/cli/stage_corpus.py --write
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "tests" / "data" / "bad" / "STAGES.md"
#: required options that are not paths, and a valid value for each
NOT_PATHS = {"community": "c01", "task": "sneaker_vs_dress", "seed": "0"}
#: inputs a stage needs that argparse cannot mark required: stage -> (name, option, value template)
NEEDED = {"enrichment": ("library", "--library", "lib={}")}
#: path options with a default (the bundled data) that are a stage's inputs all the same
OPTIONAL_INPUTS = {"fashion-run": ("images", "labels"), "fashion-grokking": ("data",)}
#: cases that are valid input for a stage, with the reason (the test accepts exit 0 only for these)
VALID = {
    ("report", "empty_input"): "an empty selected.txt is a run without communities: the report says so",
    ("compare-subcommunities", "empty_input"): "an empty selected.txt: header-only comparison tables",
    ("panels-summary", "missing_required"): "no summary tables is a header-only table",
}
CASES = ("missing_input", "directory_input", "empty_input", "binary_input", "latin1_input", "truncated_input",
         "output_is_wrong_kind", "output_parent_is_file", "output_is_input", "empty_output", "bad_number",
         "unknown_option", "missing_required")


#: the first input's bytes in the content cases
CONTENT = {
    "empty_input": b"",
    "binary_input": b"\xff\xfe\x00\x9c\x80 not text\n\x81\x00",
    "latin1_input": "gene\tvalue\nCAF\xc9\t1\n".encode("latin-1"),
    "truncated_input": b"gene\tS1\tS2\nTP53\t1.0\t2.0\nMYC\t3.",
}


@dataclass
class Stage:
    name: str
    inputs: list[argparse.Action]  # required path options and positionals
    output: argparse.Action
    numbers: list[argparse.Action]  # options parsed by argtypes.integer / number


def stage_spec(stage: str) -> Stage:
    from mpsomics import cli

    p = argparse.ArgumentParser()
    cli._command_module(stage).add_arguments(p)
    actions = [a for a in p._actions if a.dest != "help"]
    required = [a for a in actions if _required(p, a)]
    output = next(a for a in required if a.dest in ("out", "out_dir"))
    inputs = [a for a in actions if (a in required or a.dest in OPTIONAL_INPUTS.get(stage, ()))
              and a is not output and a.dest not in NOT_PATHS]
    numbers = [a for a in actions if a.option_strings and a.type is not None
               and getattr(a.type, "__qualname__", "").startswith(("integer", "number"))]
    return Stage(stage, inputs, output, numbers)


def _required(p: argparse.ArgumentParser, a: argparse.Action) -> bool:
    """Required, positional, or the first option of a required either-or group."""
    if a.required or not a.option_strings:
        return True
    return any(g.required and g._group_actions[0] is a for g in p._mutually_exclusive_groups)


def _flag(a: argparse.Action) -> str:
    return next(s for s in a.option_strings if s.startswith("--"))


def argv(spec: Stage, paths: dict[str, str], out: str, drop: str | None = None) -> list[str]:
    """Every required option of ``spec`` with the given paths (``drop``: leave that one out)."""
    from mpsomics import cli

    p = argparse.ArgumentParser()
    cli._command_module(spec.name).add_arguments(p)
    args = [spec.name]
    for a in p._actions:
        wanted = _required(p, a) or a.dest in OPTIONAL_INPUTS.get(spec.name, ())
        if a.dest == "help" or not wanted or a.dest == drop:
            continue
        if a is spec.output or a.dest == spec.output.dest:
            value = [out]
        elif a.dest in NOT_PATHS:
            value = [NOT_PATHS[a.dest]]
        else:
            value = [paths[a.dest]]
        args += value if not a.option_strings else [_flag(a), *value]
    if spec.name in NEEDED:
        name, option, template = NEEDED[spec.name]
        args += [option, template.format(paths[name])]
    return args


def build(spec: Stage, case: str, root: Path) -> tuple[list[str], list[str], Path | None]:
    """``(argv, words the message must contain (any), path that must stay untouched)``."""
    missing = {a.dest: str(root / f"no_{a.dest}.tsv") for a in spec.inputs}
    if spec.name in NEEDED:
        missing[NEEDED[spec.name][0]] = str(root / f"no_{NEEDED[spec.name][0]}.tsv")
    is_dir = spec.output.dest == "out_dir"
    out = str(root / ("out_dir" if is_dir else "out.tsv"))
    first = spec.inputs[0] if spec.inputs else None
    if case == "missing_input":
        if not missing:  # nothing to miss: the stage would run
            return [], [], None
        return argv(spec, missing, out), list(missing.values()), None
    if case in ("directory_input", "empty_input", "binary_input", "latin1_input", "truncated_input"):
        if first is None:
            return [], [], None
        target = root / f"bad_{first.dest}"
        if case == "directory_input":
            target.mkdir()
        else:
            target.write_bytes(CONTENT[case])
        # the other inputs are missing files: a stage that reads one of them first rightly names it
        others = [v for k, v in missing.items() if k != first.dest]
        return argv(spec, {**missing, first.dest: str(target)}, out), [str(target), *others], None
    if case == "output_is_wrong_kind":
        wrong = root / "taken"
        if is_dir:
            wrong.write_text("a file where the output directory should be\n")
        else:
            wrong.mkdir()
        return argv(spec, missing, str(wrong)), [str(wrong), _flag(spec.output)], wrong
    if case == "output_parent_is_file":
        parent = root / "parent_file"
        parent.write_text("not a directory\n")
        return argv(spec, missing, str(parent / "out")), [str(parent), _flag(spec.output)], parent
    if case == "output_is_input":
        if first is None:
            return [], [], None
        same = root / "same.tsv"
        same.write_text("gene\nA\n")
        # --out: the input would be replaced; --out-dir: the input file given as the directory
        return argv(spec, {**missing, first.dest: str(same)}, str(same)), [str(same), _flag(spec.output)], same
    if case == "empty_output":
        return argv(spec, missing, ""), [_flag(spec.output)], None
    if case == "bad_number":
        if not spec.numbers:
            return [], [], None
        opt = _flag(spec.numbers[0])
        return [*argv(spec, missing, out), opt, "nan"], [opt], None
    if case == "unknown_option":
        return [*argv(spec, missing, out), "--no-such-option", "1"], ["--no-such-option"], None
    if case == "missing_required":
        # an input with a default (OPTIONAL_INPUTS) left out is not missing: the stage would run
        required = [a for a in spec.inputs if a.dest not in OPTIONAL_INPUTS.get(spec.name, ())]
        a = (required or [spec.output])[-1]
        if not a.option_strings:  # a positional list: leave out the output instead
            a = spec.output
        return argv(spec, missing, out, drop=a.dest), [_flag(a)], None
    raise ValueError(case)


def run_case(stage: str, case: str) -> tuple[int, str, list[str], bool] | None:
    """Run one case in this process: (exit code, last stderr line, expected words, output untouched)."""
    from mpsomics import cli

    spec = stage_spec(stage)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        args, words, keep = build(spec, case, root)
        if not args:
            return None
        before = _snapshot(root)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(args)
            except SystemExit as exc:
                code = int(exc.code or 0)
        lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("mpsomics")]
        last = lines[-1] if lines else ""
        untouched = _snapshot(root) == before
        words = [w.replace(tmp, "TMP") for w in words]
        return code, last.replace(tmp, "TMP"), words, untouched


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def read_table() -> dict[tuple[str, str], tuple[int, str]]:
    """``{(stage, case): (exit code, expected line)}`` of ``STAGES.md``."""
    out = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `([^`]+)` \| `([^`]+)` \| (\d+) \| `(.*)` \|$", line)
        if m:
            out[(m.group(1), m.group(2))] = (int(m.group(3)), m.group(4).replace("\\|", "|"))
    return out


def write_table(rows: list[tuple[str, str, int, str]]) -> None:
    head = [
        "# Bad input for every stage",
        "",
        "Thirteen cases per stage of `mpsomics`, built from each stage's own options by `tests/cli/stage_corpus.py`",
        "(checked by `tests/cli/test_stage_corpus.py`; regenerate with `python tests/cli/stage_corpus.py --write`",
        "after a deliberate change of a message). Every case exits with code 2, writes nothing and ends with the",
        "one line below (`TMP` = the case's temporary directory; inputs that do not matter to the case are",
        "missing files `TMP/no_<option>.tsv`). A stage without path inputs or number options skips the cases",
        "that need them.",
        "",
        "| case | what |",
        "|---|---|",
        "| `missing_input` | every input file is missing |",
        "| `directory_input` | the first input is a directory |",
        "| `empty_input` | the first input is an empty file |",
        "| `binary_input` | the first input is not text (undecodable bytes) |",
        "| `latin1_input` | the first input is Latin-1 text, not UTF-8 |",
        "| `truncated_input` | the first input is a table cut in the middle of its last row |",
        "| `output_is_wrong_kind` | `--out` is an existing directory, or `--out-dir` an existing file |",
        "| `output_parent_is_file` | the output's parent is a file |",
        "| `output_is_input` | the output (`--out` or `--out-dir`) is the first input file |",
        "| `empty_output` | the output option is an empty string |",
        "| `bad_number` | the first number option is `nan` |",
        "| `unknown_option` | an option the stage does not have |",
        "| `missing_required` | a required option left out |",
        "",
        "Valid after all (exit 0): " + "; ".join(f"`{s}` `{c}`: {why}" for (s, c), why in VALID.items()) + ".",
        "",
        "| stage | case | exit | message |",
        "|---|---|---|---|",
    ]
    body = [f"| `{s}` | `{c}` | {code} | `{m.replace('|', chr(92) + '|')}` |" for s, c, code, m in rows]
    TABLE.write_text("\n".join(head + body) + "\n", encoding="utf-8")


def all_rows(report: Callable[[str], None] = print) -> list[tuple[str, str, int, str]]:
    from mpsomics import cli

    rows = []
    for stage in cli.STAGES:
        for case in CASES:
            got = run_case(stage, case)
            if got is None:
                continue
            code, line, _words, _ok = got
            report(f"{stage:28s} {case:24s} {code} {line}")
            rows.append((stage, case, code, line))
    return rows


if __name__ == "__main__":
    rows = all_rows()
    if "--write" in sys.argv:
        write_table(rows)

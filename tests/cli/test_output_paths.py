"""The output-path check ``mpsomics.cli.main`` runs for every stage before any work.

Each class of bad output path, for several stages with ``--out`` and ``--out-dir``: exit 2,
one line naming the option and the path, nothing written, the inputs untouched. The
argument lists come from each stage's own parser (``stage_corpus``); the input files do
not need to be valid: the check runs before the stage reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import stage_corpus as corpus

from mpsomics.cli import main

FILE_STAGES = ["prepare", "grokking", "grokking-summary", "cv-summary", "enrichment", "predict"]
DIR_STAGES = ["train", "observe", "subcommunities", "panels", "report", "scores"]


def stage_argv(stage: str, root: Path, out: str, first: Path | None = None) -> tuple[list[str], corpus.Stage]:
    spec = corpus.stage_spec(stage)
    paths = {a.dest: str(root / f"no_{a.dest}.tsv") for a in spec.inputs}
    if stage in corpus.NEEDED:
        paths[corpus.NEEDED[stage][0]] = str(root / "no_library.gmt")
    if first is not None:
        paths[spec.inputs[0].dest] = str(first)
    return corpus.argv(spec, paths, out), spec


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run(argv: list[str], root: Path, capsys) -> tuple[int, str]:
    before = snapshot(root)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("mpsomics")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert snapshot(root) == before, "the failed stage changed files"
    return code, lines[0]


@pytest.mark.parametrize("stage", FILE_STAGES + DIR_STAGES)
def test_output_of_the_wrong_kind(tmp_path, capsys, stage):
    taken = tmp_path / "taken"
    spec = corpus.stage_spec(stage)
    flag = "--out-dir" if spec.output.dest == "out_dir" else "--out"
    if flag == "--out":
        taken.mkdir()
        (taken / "keep.txt").write_text("kept\n")
    else:
        taken.write_text("a file where the output directory should be\n")
    argv, _ = stage_argv(stage, tmp_path, str(taken))
    code, line = run(argv, tmp_path, capsys)
    assert code == 2
    assert line.startswith(f"mpsomics {stage}: error: {taken}: {flag}: is a ")


@pytest.mark.parametrize("stage", FILE_STAGES + DIR_STAGES)
@pytest.mark.parametrize("depth", [1, 3])
def test_output_below_a_file(tmp_path, capsys, stage, depth):
    parent = tmp_path / "parent_file"
    parent.write_text("not a directory\n")
    out = parent.joinpath(*["sub"] * (depth - 1), "out")
    argv, spec = stage_argv(stage, tmp_path, str(out))
    code, line = run(argv, tmp_path, capsys)
    assert code == 2
    assert str(out) in line and corpus._flag(spec.output) in line
    assert f"{parent} is a file, not a directory" in line


@pytest.mark.parametrize("stage", FILE_STAGES + DIR_STAGES)
@pytest.mark.parametrize("missing_parent", [False, True])
def test_output_in_an_unwritable_directory(tmp_path, capsys, monkeypatch, stage, missing_parent):
    """As root a mode-0555 directory is writable and no read-only mount is at hand: ``os.access`` says no."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(ro) else real(p, mode, **kw))
    out = ro / "new" / "out" if missing_parent else ro / "out"
    argv, spec = stage_argv(stage, tmp_path, str(out))
    code, line = run(argv, tmp_path, capsys)
    assert code == 2
    assert line == (f"mpsomics {stage}: error: {out}: {corpus._flag(spec.output)}: "
                    f"the directory {ro} is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root and no read-only mount can be made here; "
                                                "test_output_in_an_unwritable_directory covers the check")
@pytest.mark.parametrize("stage", ["grokking", "train"])
def test_output_in_a_read_only_directory_for_real(tmp_path, capsys, stage):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        argv, _ = stage_argv(stage, tmp_path, str(ro / "out"))
        code, line = run(argv, tmp_path, capsys)
        assert code == 2 and "not writable" in line
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("stage", FILE_STAGES)
@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_output_equal_to_an_input(tmp_path, capsys, stage, spelling):
    same = tmp_path / "same.tsv"
    same.write_text("gene\nA\n")
    out = {"same": same, "dotted": tmp_path / "." / "same.tsv", "symlink": tmp_path / "link.tsv"}[spelling]
    if spelling == "symlink":
        out.symlink_to(same)
    argv, spec = stage_argv(stage, tmp_path, str(out), first=same)
    code, line = run(argv, tmp_path, capsys)
    assert code == 2
    first = corpus._flag(spec.inputs[0]) if spec.inputs[0].option_strings else "--" + spec.inputs[0].dest
    assert line.startswith(f"mpsomics {stage}: error: {out}: --out: is also the input of {first};")
    assert same.read_text() == "gene\nA\n"


@pytest.mark.parametrize("stage", FILE_STAGES)
def test_an_input_beside_the_output_is_not_the_output(tmp_path, stage):
    """Only the same resolved path counts: a sibling with a similar name passes the check (the stage may then
    fail on its content, but not with the output message)."""
    from mpsomics.cli import _command_module, build_parser
    from mpsomics.core.files import check_stage_outputs

    same = tmp_path / "same.tsv"
    same.write_text("gene\nA\n")
    argv, _ = stage_argv(stage, tmp_path, str(tmp_path / "same.tsv.out"), first=same)
    args = build_parser(argv).parse_args(argv)
    check_stage_outputs(args, _command_module(stage))

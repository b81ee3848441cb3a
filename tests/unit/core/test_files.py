"""``core.files``: several files published together, the output-path check, signals as exceptions."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import types

import pytest

from mpsomics.core.errors import InputError
from mpsomics.core.files import (
    Interrupted,
    atomic_dir,
    atomic_files,
    atomic_path,
    check_outputs,
    check_stage_outputs,
    inputs_of_args,
    outputs_of_args,
    signals_as_exceptions,
)


def hidden(d) -> list[str]:
    return sorted(p.name for p in d.rglob(".*"))


# ----------------------------------------------------------------------------- atomic_files

def test_atomic_files_publishes_all_only_after_all_were_written(tmp_path):
    a, b = tmp_path / "out" / "c01.tsv", tmp_path / "out" / "c01_curve.tsv"
    with atomic_files([a, b]) as (ta, tb):
        assert ta.parent == a.parent and ta.name.startswith(".c01.") and ta.suffix == ".tsv"
        ta.write_text("table\n")
        assert not a.exists()  # nothing published while the block runs
        tb.write_text("curve\n")
        assert not a.exists() and not b.exists()
    assert a.read_text() == "table\n" and b.read_text() == "curve\n"
    assert hidden(tmp_path) == []
    assert stat.S_IMODE(a.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), Interrupted(signal.SIGTERM)])
def test_atomic_files_keeps_the_old_outputs_and_removes_every_temp_on_failure(tmp_path, exc):
    a, b, other = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "other.txt"
    for p in (a, b, other):
        p.write_text("old\n")
    with pytest.raises(type(exc)), atomic_files([a, b]) as (ta, tb):
        ta.write_text("new\n")
        tb.write_text("new\n")
        raise exc
    assert [p.read_text() for p in (a, b, other)] == ["old\n"] * 3
    assert hidden(tmp_path) == []


def test_atomic_files_rejects_a_path_given_twice(tmp_path):
    with pytest.raises(ValueError, match="twice"), atomic_files([tmp_path / "a", tmp_path / "." / "a"]):
        pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_failed_rename_leaves_no_temp(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    with pytest.raises(OSError), atomic_files([a, b]) as (ta, tb):
        ta.write_text("a\n")
        tb.write_text("b\n")
        b.mkdir()  # the second target turns into a non-empty directory meanwhile
        (b / "x").write_text("x\n")
    assert hidden(tmp_path) == []


def test_atomic_writers_name_the_path_when_its_parent_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x\n")
    for cm in (atomic_path(f / "out.tsv"), atomic_files([f / "out.tsv"]), atomic_dir(f / "d")):
        with pytest.raises(InputError) as err, cm:
            pass
        assert str(f) in str(err.value)


# ------------------------------------------------------------------------------- signals

def test_sigterm_becomes_interrupted_and_temps_are_removed(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    with pytest.raises(Interrupted) as err, signals_as_exceptions(), atomic_files([a, b]) as (ta, tb):
        ta.write_text("a\n")
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs at the next bytecode
            pass
        tb.write_text("never\n")
    assert err.value.signum == signal.SIGTERM and err.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before  # restored


def test_sigint_exit_code_and_atomic_dir_cleanup(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old\n")
    with pytest.raises(Interrupted) as err, signals_as_exceptions(), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new\n")
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    assert err.value.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_signals_are_ignored_after_the_first_until_the_block_ends(tmp_path):
    with pytest.raises(Interrupted), signals_as_exceptions():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        finally:  # the clean-up is not cut short by a second signal
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
            (tmp_path / "cleaned").write_text("yes\n")
    assert (tmp_path / "cleaned").exists()


# ---------------------------------------------------------------------------- check_outputs

def test_check_outputs_accepts_fresh_and_replaceable_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "o.tsv").write_text("old\n")
    check_outputs([("--out", tmp_path / "new" / "deeper" / "o.tsv", "file"),
                   ("--out-dir", tmp_path / "d", "directory"),
                   ("--curve-out", tmp_path / "o.tsv", "file")],
                  [("--genes", tmp_path / "missing.txt")])


@pytest.mark.parametrize("case", ["file_is_dir", "dir_is_file", "parent_is_file", "grandparent_is_file",
                                  "same_as_input", "symlink_to_input", "two_outputs", "empty"])
def test_check_outputs_names_option_and_path(tmp_path, case):
    f = tmp_path / "in.tsv"
    f.write_text("gene\nA\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(f)
    inputs = [("--history", f)]
    outputs, needle = {
        "file_is_dir": ([("--out", tmp_path, "file")], "is a directory"),
        "dir_is_file": ([("--out-dir", f, "directory")], "is a file"),
        "parent_is_file": ([("--out", f / "out.tsv", "file")], "is a file, not a directory"),
        "grandparent_is_file": ([("--out-dir", f / "x" / "y", "directory")], "is a file, not a directory"),
        "same_as_input": ([("--out", f, "file")], "is also the input of --history"),
        "symlink_to_input": ([("--out", link, "file")], "is also the input of --history"),
        "two_outputs": ([("--out", tmp_path / "o.tsv", "file"), ("--curve-out", tmp_path / "." / "o.tsv", "file")],
                        "is also the output of --out"),
        "empty": ([("--out", "", "file")], "empty path"),
    }[case]
    with pytest.raises(InputError) as err:
        check_outputs(outputs, inputs)
    text = str(err.value)
    assert "\n" not in text and needle in text
    flag = outputs[-1][0]
    assert flag in text
    if case != "empty":
        assert str(outputs[-1][1]) in text


def test_check_outputs_unwritable_directory(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(ro) else real(p, mode, **kw))
    for outputs in ([("--out", ro / "x.tsv", "file")], [("--out-dir", ro / "new", "directory")],
                    [("--out-dir", ro, "directory")]):
        with pytest.raises(InputError, match="not writable") as err:
            check_outputs(outputs)
        assert outputs[0][0] in str(err.value) and str(ro) in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a mode-0555 directory; covered by the os.access case")
def test_check_outputs_unwritable_directory_for_real(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="not writable"):
            check_outputs([("--out", ro / "x.tsv", "file")])
    finally:
        ro.chmod(0o755)


def test_outputs_and_inputs_from_parsed_options(tmp_path):
    f = tmp_path / "h.tsv"
    f.write_text("x\n")
    args = argparse.Namespace(stage="x", out=str(tmp_path / "o.tsv"), curve_out=str(tmp_path / "c.tsv"),
                              null_out=None, out_dir=None, history=str(f), tables=[str(f), str(tmp_path / "no")],
                              genes=str(tmp_path), seed=3, library="lib=" + str(f))
    outs = outputs_of_args(args)
    assert outs == [("--out", str(tmp_path / "o.tsv"), "file"), ("--curve-out", str(tmp_path / "c.tsv"), "file")]
    assert inputs_of_args(args, outs) == [("--history", f), ("--tables", f)]
    args.curve_out = str(f)
    with pytest.raises(InputError, match="--curve-out: is also the input of --history"):
        check_stage_outputs(args)


def test_a_stage_may_name_its_outputs(tmp_path):
    f = tmp_path / "in.tsv"
    f.write_text("x\n")
    module = types.SimpleNamespace(output_checks=lambda a: [("--community", f, "file")])
    args = argparse.Namespace(stage="x", out_dir=str(tmp_path), community="c01", genes=str(f))
    with pytest.raises(InputError, match="--community: is also the input of --genes"):
        check_stage_outputs(args, module)
    check_stage_outputs(args)  # without the hook: --out-dir, a directory, is fine


def test_atomic_files_with_a_directory_publishes_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.tsv").write_text("old a\n")
    (out / "genes").mkdir()
    (out / "genes" / "c01.txt").write_text("OLD\n")
    with pytest.raises(RuntimeError):
        with atomic_files([out / "a.tsv"], directories=[out / "genes"]) as (a, genes):
            assert genes.is_dir() and genes.parent == out
            a.write_text("new a\n")
            (genes / "c02.txt").write_text("NEW\n")
            raise RuntimeError("half way")
    assert (out / "a.tsv").read_text() == "old a\n"
    assert sorted(p.name for p in (out / "genes").iterdir()) == ["c01.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["a.tsv", "genes"]  # no temporaries left
    with atomic_files([out / "a.tsv"], directories=[out / "genes"]) as (a, genes):
        a.write_text("new a\n")
        (genes / "c02.txt").write_text("NEW\n")
    assert (out / "a.tsv").read_text() == "new a\n"
    assert sorted(p.name for p in (out / "genes").iterdir()) == ["c02.txt"]  # replaced as a whole
    assert sorted(p.name for p in out.iterdir()) == ["a.tsv", "genes"]
    assert oct((out / "genes").stat().st_mode & 0o777) == oct(0o777 & ~_umask())

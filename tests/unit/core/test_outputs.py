"""The one output-path check every stage passes before any work (``core.outputs.check_outputs``)."""

from __future__ import annotations

import argparse

import pytest

from mpsomics.core.errors import InputError
from mpsomics.core.outputs import check_outputs


def ns(**kw) -> argparse.Namespace:
    return argparse.Namespace(stage="x", **kw)


def test_fresh_paths_pass(tmp_path):
    check_outputs(ns(out=str(tmp_path / "new" / "deeper" / "out.tsv"), genes=str(tmp_path / "g.txt")))
    check_outputs(ns(out_dir=str(tmp_path / "d")))
    (tmp_path / "d").mkdir()
    check_outputs(ns(out_dir=str(tmp_path / "d")))  # an existing directory is reused
    (tmp_path / "o.tsv").write_text("old\n")
    check_outputs(ns(out=str(tmp_path / "o.tsv")))  # an existing output file is replaced


@pytest.mark.parametrize("kind", ["file_is_dir", "dir_is_file", "parent_is_file", "same_as_input", "empty"])
def test_each_problem_is_one_input_error_naming_the_option(tmp_path, kind):
    f = tmp_path / "f.tsv"
    f.write_text("gene\nA\n")
    args = {
        "file_is_dir": ns(out=str(tmp_path)),
        "dir_is_file": ns(out_dir=str(f)),
        "parent_is_file": ns(out=str(f / "x" / "out.tsv")),
        "same_as_input": ns(out=str(f), tables=[str(f)]),
        "empty": ns(out=""),
    }[kind]
    with pytest.raises(InputError) as err:
        check_outputs(args)
    text = str(err.value)
    assert "\n" not in text and ("--out" in text)
    if kind == "same_as_input":
        assert "--tables" in text

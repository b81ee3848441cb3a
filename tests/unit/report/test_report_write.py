"""The report builds everything before it writes, reads pipes, and refuses files of different runs.

Issue 15: a failure in the last community must leave no figure and no page (and an earlier
report exactly as it was); an optional table given as a named pipe is read, not skipped; the
trajectories of one community must come from one training run (report and graph-community).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from test_report import _cli, write_results_tree

from mpsomics.cli import main


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def one_error(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("mpsomics")]
    assert len(lines) == 1, lines
    return lines[0]


def shift_epochs(path: Path, by: int) -> None:
    df = pd.read_csv(path, sep="\t")
    df["epoch"] += by
    df.to_csv(path, sep="\t", index=False)


def test_a_bad_last_community_writes_no_figure_and_keeps_the_old_report(tmp_path, capsys):
    paths = write_results_tree(tmp_path, epochs=4)
    out = tmp_path / "report"
    assert main(_cli(paths, out)) == 0
    before = snapshot(out)
    assert any(name.startswith("figures/c01_") for name in before)
    paths["enrichment"][1].write_text("set\tterm\nc02\tX\n")  # c02 (the last) is malformed
    assert main(_cli(paths, out)) == 2
    assert "c02.tsv" in one_error(capsys)
    assert snapshot(out) == before
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary page or figures directory
    fresh = tmp_path / "fresh"
    assert main(_cli(paths, fresh)) == 2
    capsys.readouterr()
    assert not fresh.exists() or not list(fresh.rglob("*.png"))


def test_a_new_report_replaces_the_figures_directory_as_a_whole(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    out = tmp_path / "report"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "c99_grokking.png").write_bytes(b"an earlier run's figure")
    assert main(_cli(paths, out)) == 0
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert "c99_grokking.png" not in names and "c01_grokking.png" in names


def feed_fifo(fifo: Path, data: bytes) -> None:
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    threading.Thread(target=write, daemon=True).start()


def test_optional_tables_given_as_pipes_are_read(tmp_path):
    paths = write_results_tree(tmp_path, epochs=4)
    cv = Path(paths["cv"])
    on_disk = tmp_path / "from_file"
    assert main(_cli(paths, on_disk)) == 0
    fifo = tmp_path / "cv_pipe"
    feed_fifo(fifo, cv.read_bytes())
    piped = tmp_path / "from_pipe"
    assert main(_cli({**paths, "cv": fifo}, piped)) == 0
    html = (piped / "index.html").read_text()
    assert "cv_pipe is missing" not in html
    # the page differs from the file-based one only in the paths and the generation time
    cut = (on_disk / "index.html").read_text().replace(str(cv), str(fifo)).replace(str(on_disk), str(piped))
    strip = [ln for ln in cut.splitlines() if "UTC" not in ln]
    assert strip == [ln for ln in html.replace(str(piped), str(piped)).splitlines() if "UTC" not in ln]


def test_a_given_optional_file_that_does_not_exist_is_a_warning_and_a_note(tmp_path, caplog):
    paths = write_results_tree(tmp_path, epochs=4)
    missing = tmp_path / "typo_stability.tsv"
    with caplog.at_level("WARNING"):
        assert main(_cli({**paths, "stability": missing}, tmp_path / "r")) == 0
    assert f"{missing}: not found" in caplog.text
    assert f"{missing} is missing" in (tmp_path / "r" / "index.html").read_text()


@pytest.mark.parametrize("shifted", ["entanglement", "magnetization"])
def test_report_refuses_trajectories_of_another_run(tmp_path, capsys, shifted):
    paths = write_results_tree(tmp_path, epochs=4)
    shift_epochs(Path(paths[shifted][1]), 50)
    out = tmp_path / "report"
    assert main(_cli(paths, out)) == 2
    line = one_error(capsys)
    assert str(paths[shifted][1]) in line and "same training run" in line
    assert not out.exists() or not list(out.rglob("*"))


def test_graph_community_refuses_magnetization_of_another_run(tmp_path, capsys):
    paths = write_results_tree(tmp_path, epochs=4)
    magnetization = Path(paths["magnetization"][0])
    args = ["graph-community", "--community", "c01", "--correlations", str(paths["correlations"][0]),
            "--magnetization", str(magnetization), "--subcommunities", str(paths["subcommunities"][0]),
            "--out", str(tmp_path / "c01.graphml")]
    assert main(args) == 0
    shift_epochs(magnetization, 100)
    (tmp_path / "c01.graphml").unlink()
    assert main(args) == 2
    line = one_error(capsys)
    assert str(magnetization) in line and str(paths["correlations"][0]) in line
    assert not (tmp_path / "c01.graphml").exists()

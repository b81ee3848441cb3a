"""SIGTERM/SIGINT in the middle of a write: temp files removed, old outputs untouched, exit 128 + signum.

A small driver (``python -c``) runs ``mpsomics.cli.main`` with ``DataFrame.to_csv`` wrapped so
that the process pauses right after writing its n-th temporary file (a hidden ``.name.*`` file
beside the output); the test sends the signal while it sleeps there.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_values import grokking_argv, run_dir

import mpsomics
from mpsomics.cli import main
from mpsomics.dynamics import training_run

DRIVER = r"""
import os, sys, time
import pandas as pd

pause_at, argv = int(sys.argv[1]), sys.argv[2:]
original, written = pd.DataFrame.to_csv, []

def to_csv(self, path=None, *args, **kwargs):
    result = original(self, path, *args, **kwargs)
    if path is not None and os.path.basename(str(path)).startswith("."):
        written.append(path)
        if len(written) == pause_at:
            print("PAUSED", path, flush=True)
            time.sleep(300)
    return result

pd.DataFrame.to_csv = to_csv
from mpsomics.cli import main
sys.exit(main(argv))
"""


def start(pause_at: int, argv: list[str]) -> subprocess.Popen:
    env = dict(os.environ)
    src = str(Path(mpsomics.__file__).resolve().parents[1])  # the mpsomics under test, not another install
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(pause_at), *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_paused(proc: subprocess.Popen, timeout: float = 120) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=1):
            line = proc.stdout.readline()
            if line.startswith("PAUSED"):
                return line.split(maxsplit=1)[1].strip()
            if not line and proc.poll() is not None:
                break
    proc.kill()
    pytest.fail(f"the driver never paused: {proc.communicate()[1]}")


def interrupt(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def hidden(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob(".*"))


@pytest.fixture
def run(tmp_path) -> dict[str, Path]:
    d = run_dir(tmp_path / "mps")
    grok = tmp_path / "grokking" / "c01.tsv"
    assert main(grokking_argv(d, grok)) == 0
    return {"dir": d, "grokking": grok}


def subcommunities_argv(run: dict[str, Path], out: Path) -> list[str]:
    d = run["dir"]
    return ["subcommunities", "--correlations", str(d / training_run.CORRELATIONS_FILE),
            "--magnetization", str(d / training_run.MAGNETIZATION_FILE), "--grokking", str(run["grokking"]),
            "--community", "c01", "--out-dir", str(out), "--methods", "paper"]


def test_sigterm_during_a_single_file_write(tmp_path, run):
    out_dir = tmp_path / "summary"
    out_dir.mkdir()
    out = out_dir / "summary.tsv"
    out.write_text("old\n")
    proc = start(1, ["grokking-summary", str(run["grokking"]), "--out", str(out)])
    tmp = Path(wait_paused(proc))
    assert tmp.parent == out_dir and tmp.exists() and tmp.name.startswith(".summary.")
    code, err = interrupt(proc, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == ("mpsomics grokking-summary: interrupted by SIGTERM; "
                                            "unfinished outputs removed")
    assert "Traceback" not in err
    assert hidden(out_dir) == [] and out.read_text() == "old\n"


@pytest.mark.parametrize(("signum", "pause_at"), [(signal.SIGTERM, 2), (signal.SIGINT, 1), (signal.SIGTERM, 1)])
def test_signal_during_a_multi_file_write_keeps_the_old_set(tmp_path, run, signum, pause_at):
    out = tmp_path / "sub"
    out.mkdir()
    old = {"c01.tsv": "old table\n", "c01_curve.tsv": "old curve\n", "c02.tsv": "another community\n"}
    for name, text in old.items():
        (out / name).write_text(text)
    proc = start(pause_at, subcommunities_argv(run, out))
    wait_paused(proc)
    assert len(hidden(out)) == 2  # both temporary files exist: the stage is between its writes
    code, err = interrupt(proc, signum)
    assert code == 128 + signum, err
    assert err.strip().splitlines()[-1].startswith(f"mpsomics subcommunities: interrupted by {signum.name}")
    assert hidden(tmp_path) == []
    assert {p.name: p.read_text() for p in out.iterdir()} == old


def test_uninterrupted_multi_file_write_replaces_both(tmp_path, run):
    out = tmp_path / "sub"
    out.mkdir()
    (out / "c01.tsv").write_text("old\n")
    (out / "keep.txt").write_text("kept\n")
    assert main(subcommunities_argv(run, out)) == 0
    assert (out / "c01.tsv").read_text() != "old\n"
    assert (out / "c01_curve.tsv").read_text().startswith("label\t")
    assert (out / "keep.txt").read_text() == "kept\n"
    assert hidden(out) == []

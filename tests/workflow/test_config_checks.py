"""Issue 15, workflow: a bad configuration stops `snakemake -n` with one line naming the key.

Dry runs only (about a second each) on a copy of `.test/`: NaN, an unknown `resources` group,
min > max, a duplicated section, a missing GMT (found before the checkpoint ran, not after),
and paths with a space or a quote, which every job's shell command must keep as one word.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(work: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--cores", "1", "-n", *args, "--configfile", str(work / "config.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def work(tmp_path) -> Path:
    dest = tmp_path / "work dir"
    shutil.copytree(ROOT / ".test", dest, ignore=shutil.ignore_patterns("results", "logs", ".snakemake"))
    return dest


def edit_config(work: Path, old: str, new: str) -> None:
    path = work / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


CASES = {
    "nan": ("  lr: 0.01\n", "  lr: .nan\n", "config mps.lr: nan is not a finite number"),
    "inf": ("  epochs: 6\n  lr: 0.01\n", "  epochs: 6\n  lr: .inf\n", "config mps.lr: inf is not a finite number"),
    "resources": ("resources:\n  default:\n", "resources:\n  trian_mps:\n    threads: 2\n  default:\n",
                  "config resources.trian_mps: no rule reads this resources group; did you mean train_mps?"),
    "min_max": ("  fdr: 0.05\n\nfashion:", "  fdr: 0.05\n  min_set_size: 600\n  max_set_size: 500\n\nfashion:",
                "config enrichment.min_set_size (600) > enrichment.max_set_size (500)"),
    "communities": ("  min_size: 6\n", "  min_size: 20\n",
                    "config communities.min_size (20) > communities.max_size (14)"),
    "duplicate": ("\nfashion:", "\nmps:\n  bond_dim: 2\n\nfashion:", "key 'mps' given twice in one mapping"),
    "missing_gmt": ("hallmark: data/hallmark.gmt", "hallmark: data/halmark.gmt",
                    "config enrichment.libraries.hallmark: no such file or directory: 'data/halmark.gmt'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_stops_the_dry_run_with_one_line(work, case):
    old, new, message = CASES[case]
    edit_config(work, old, new)
    proc = dry_run(work)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    lines = [line for line in out.splitlines() if message in line]
    assert lines, out[-3000:]
    assert "Building DAG" not in out  # stopped while parsing, before any job was planned
    if case == "duplicate":
        assert lines[0].startswith(f"{work / 'config.yaml'}: line ")


def test_the_fashion_data_is_not_needed_by_the_default_target(work):
    edit_config(work, "data: ../data/fashion_mnist", "data: nowhere")
    proc = dry_run(work)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def fake_checkpoint(work: Path) -> None:
    """The outputs of prepare and the communities checkpoint, so the dry run plans every job."""
    (work / "results/prepared").mkdir(parents=True)
    (work / "results/prepared/expression.h5ad").touch()
    comm = work / "results/communities"
    (comm / "genes").mkdir(parents=True)
    for name in ("communities.tsv", "baseline.tsv", "network.tsv", "pool.txt"):
        (comm / name).touch()
    (comm / "selected.txt").write_text("c01\n")
    (comm / "genes/c01.txt").write_text("A\nB\n")


def shell_words(work: Path) -> dict[str, list[str]]:
    """`mpsomics <command>` -> its dry-run shell command split as the shell would."""
    proc = dry_run(work, "--printshellcmds")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    shells = [line.split("Shell command: ", 1)[1] for line in out.splitlines() if "Shell command: " in line]
    return {cmd.split()[1]: shlex.split(cmd) for cmd in shells if cmd.startswith("mpsomics ")}


def test_paths_with_a_space_or_a_quote_stay_one_word_in_every_shell(work):
    data = work / "data"
    (data / "expression.tsv.gz").rename(data / "my expr.tsv.gz")
    (data / "samples.tsv").rename(data / "sam'ples.tsv")
    (data / "hallmark.gmt").rename(data / "hall mark.gmt")
    (data / "cohort.tsv.gz").rename(data / "co hort.tsv.gz")
    edit_config(work, "expression: data/expression.tsv.gz", "expression: data/my expr.tsv.gz")
    edit_config(work, "samples: data/samples.tsv", "samples: \"data/sam'ples.tsv\"")
    edit_config(work, "hallmark: data/hallmark.gmt", "hallmark: data/hall mark.gmt")
    edit_config(work, "expression: data/cohort.tsv.gz", "expression: data/co hort.tsv.gz")
    words = shell_words(work)  # before the checkpoint: prepare and communities
    fake_checkpoint(work)
    words.update(shell_words(work))  # after it: every job
    assert {"prepare", "enrichment", "validate", "report"} <= set(words), sorted(words)
    prepare = words["prepare"]
    assert prepare[prepare.index("--expression") + 1] == "data/my expr.tsv.gz"
    assert prepare[prepare.index("--samples") + 1] == "data/sam'ples.tsv"
    enrichment = words["enrichment"]
    assert enrichment[enrichment.index("--library") + 1] == "hallmark=data/hall mark.gmt"
    validate = words["validate"]
    assert '"expression": "data/co hort.tsv.gz"' in validate[validate.index("--cohorts-json") + 1]
    report = words["report"]
    assert '"expression": "data/my expr.tsv.gz"' in report[report.index("--config-json") + 1]

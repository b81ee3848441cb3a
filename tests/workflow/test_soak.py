"""Fault soak: SIGKILL running jobs of the `.test` DAG, resume, and get the same results.

A second copy of `.test/` is run round after round. The kill points are seeded: K
distinct positions in the job order of the uninterrupted run (kill once that many jobs
have finished), each with a delay of a random fraction of a second and a random pick
among the jobs running then. In each round the test waits until the jobs of that round
bring the count to the next position, then until an `mpsomics` job (a descendant of
snakemake, found via psutil or /proc) is running, waits the fraction and SIGKILLs it.
Snakemake marks the job failed, deletes its outputs and, with `keep-going: false`
(profiles/default), lets the other running job finish and exits non-zero; the next
round restarts it with `--rerun-incomplete`. After K kills a last round runs to the
end. Its `results/` must equal those of the uninterrupted run (`run_dir`,
tests/workflow/conftest.py) file by file under tests/helpers/compare_results.py, which
ignores logs, benchmarks, run_info.json, the `seconds` column of history.tsv, the
report's generation time and a JSON `seconds` key; any other file (a temp file left by
a killed job, say) makes the comparison fail.

The kill points (round, position, fraction, job, failed rule) are printed (`pytest -s`)
and written to `soak_kills.json` in the soak's work directory. Set
MPSOMICS_SOAK_SEED to try other kill points.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.compare_results import compare, result_files

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("MPSOMICS_SOAK_SEED", "15"))
N_KILLS = 6  # the test demands >= 5 of them to land on running jobs
ROUND_TIMEOUT = 900.0
SOAK_TIMEOUT = 1200.0


def _process_table() -> dict[int, tuple[int, list[str], str]]:
    """pid -> (parent pid, argv, state) of every process, via psutil or /proc."""
    try:
        import psutil
    except ImportError:
        psutil = None
    table: dict[int, tuple[int, list[str], str]] = {}
    if psutil is not None:
        for p in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
            info = p.info
            table[info["pid"]] = (info["ppid"] or 0, info["cmdline"] or [], info["status"] or "")
        return table
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid ...
        table[int(entry.name)] = (
            int(fields[1]),
            [a.decode(errors="replace") for a in argv if a],
            fields[0],
        )
    return table


def _is_mpsomics(argv: list[str]) -> bool:
    """`mpsomics ...` run as a console script (`python .../bin/mpsomics sub ...`) or directly."""
    return any(Path(a).name == "mpsomics" for a in argv[:2])


def running_jobs(root: int) -> dict[int, list[str]]:
    """pid -> argv of the `mpsomics` processes below `root` (topmost only: not their workers)."""
    table = _process_table()
    below: set[int] = set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        below.update(kids)
        frontier.extend(kids)
    jobs = {}
    for pid in below:
        ppid, argv, state = table[pid]
        if (
            _is_mpsomics(argv)
            and state.lower() not in ("z", "zombie")
            and not _is_mpsomics(table.get(ppid, (0, [], ""))[1])
        ):
            jobs[pid] = argv
    return jobs


def describe(argv: list[str]) -> str:
    """`mpsomics <command> [community]` of a job's argv."""
    args = argv[argv.index(next(a for a in argv if Path(a).name == "mpsomics")) + 1 :]
    label = "mpsomics " + (args[0] if args else "?")
    for flag in ("--community", "--model", "--out-dir", "--out"):
        if flag in args[:-1]:
            return f"{label} {flag} {args[args.index(flag) + 1]}"
    return label


def finished_jobs(log: Path) -> int:
    """Jobs a snakemake log reports finished (the target rule `all` left out)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r"^Finished jobid: \d+ \(Rule: (?!all\))", text, flags=re.M))


def kill_one_job(
    proc: subprocess.Popen, log: Path, skip: int, fraction: float, pick: float, started: float
) -> dict | None:
    """Let `skip` jobs of this round finish, wait for a running job, SIGKILL it `fraction` s later."""
    while proc.poll() is None and finished_jobs(log) < skip:
        time.sleep(0.05)
    while proc.poll() is None:
        jobs = running_jobs(proc.pid)
        if not jobs:
            time.sleep(0.02)
            continue
        time.sleep(fraction)
        alive = {pid: argv for pid, argv in running_jobs(proc.pid).items() if pid in jobs}
        if not alive:  # every job we saw finished during the fraction: look again
            continue
        pid = sorted(alive)[int(pick * len(alive))]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        return {
            "pid": pid,
            "job": describe(alive[pid]),
            "running_jobs": sorted(describe(a) for a in alive.values()),
            "killed_at_s": round(time.monotonic() - started, 3),
        }
    return None


def test_killed_jobs_resume_to_the_uninterrupted_results(run_dir, workflow_helpers, tmp_path):
    wf = workflow_helpers
    # kill points: K distinct positions in the job order of the uninterrupted run (after how
    # many finished jobs), each with a delay (a fraction of a second) and a pick among the
    # jobs running then
    n_jobs = sum(finished_jobs(log) for log in (run_dir / ".snakemake/log").glob("*.snakemake.log"))
    assert n_jobs > N_KILLS, f"the uninterrupted run logged only {n_jobs} jobs"
    rng = np.random.default_rng(SEED)
    positions = sorted(int(x) for x in rng.choice(n_jobs, size=N_KILLS, replace=False))
    fractions = rng.uniform(0.0, 1.0, size=N_KILLS)
    picks = rng.uniform(0.0, 1.0, size=N_KILLS)

    work = wf.copy_test_dir(tmp_path / "soak")
    kills: list[dict] = []
    done = 0  # jobs finished in all rounds so far
    soak_start = time.monotonic()
    n_round = 0
    while len(kills) < N_KILLS:
        n_round += 1
        assert time.monotonic() - soak_start < SOAK_TIMEOUT, f"soak took too long: {kills}"
        i = len(kills)
        skip = max(0, positions[i] - done)
        log = work / f"soak_round{n_round}.log"
        with open(log, "w") as out:
            started = time.monotonic()
            proc = subprocess.Popen(
                wf.command(work, "--rerun-incomplete"), stdout=out, stderr=subprocess.STDOUT
            )
            try:
                kill = kill_one_job(proc, log, skip, float(fractions[i]), float(picks[i]), started)
                rc = proc.wait(timeout=ROUND_TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        text = log.read_text(errors="replace")
        done += finished_jobs(log)
        if kill is None:  # the DAG completed before a job could be killed
            assert rc == 0, text[-4000:]
            break
        failed = sorted(set(re.findall(r"Error in rule (\w+):", text)))
        kill.update(
            round=n_round, after_jobs=positions[i], fraction_s=round(float(fractions[i]), 3),
            snakemake_rc=rc, failed_rules=failed, round_s=round(time.monotonic() - started, 1),
        )  # fmt: skip
        kills.append(kill)
        # the kill must have hit a job snakemake was running: it reports that job, and only
        # that one, failed
        assert rc != 0 and len(failed) == 1, (
            f"round {n_round}: the kill did not fail one job:\n{text[-4000:]}"
        )
    final = wf.run(work, "--rerun-incomplete")
    soak_s = time.monotonic() - soak_start
    dry = wf.run(work, "-n")

    record = {"seed": SEED, "k": len(kills), "jobs": n_jobs, "rounds": n_round + 1,
              "soak_seconds": round(soak_s, 1), "kills": kills}  # fmt: skip
    (work / "soak_kills.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"\nfault soak, seed {SEED}: k = {len(kills)} kills, {n_round + 1} rounds, {soak_s:.0f} s"
    )
    print(f"record: {work / 'soak_kills.json'}")
    for k in kills:
        print(
            f"  round {k['round']}: after {k['after_jobs']} of {n_jobs} jobs + {k['fraction_s']:.2f} s"
            f" -> SIGKILL {k['job']} at {k['killed_at_s']:.1f} s"
            f" (rule {', '.join(k['failed_rules'])}, snakemake exit {k['snakemake_rc']},"
            f" round {k['round_s']} s)"
        )

    assert len(kills) >= 5, f"only {len(kills)} kills landed on running jobs"
    assert "Nothing to be done" in dry.stdout + dry.stderr, "the resumed run left work undone"
    assert final.returncode == 0
    problems = compare(run_dir / "results", work / "results", [])
    n = len(result_files(run_dir / "results"))
    assert not problems, f"{len(problems)} of {n} result files differ:\n" + "\n".join(problems)

"""The workflow runs through a real SLURM scheduler (issue "Runs on an HPC scheduler").

A single-node SLURM cluster is started on this machine with
tests/hpc/local_slurm.sh (munge + slurmctld + slurmd, no cgroups, no slurmdbd),
then the workflow is run with ``snakemake --profile profiles/slurm`` in a
temporary copy and checked against a local run.

    pytest -m slurm tests/workflow/test_slurm.py -s      # -s shows timings and evidence

Skipped only when it cannot work here: not root, or SLURM not installed and no
apt-get, or MPSOMICS_SKIP_SLURM=1.

Which workflow is tested is set by WORKFLOW below (one line), or by the
environment variable MPSOMICS_SLURM_WORKFLOW=toy|pipeline (default: pipeline,
i.e. `Snakefile` on a copy of `.test/`; about 6-7 min on 2 cores; the toy
takes about 2.5 min). The failing-rule check always uses the toy workflow
unless WORKFLOW["fail_config"] is set.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "hpc" / "local_slurm.sh"
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
SLURM_DIR = Path(os.environ.get("MPSOMICS_SLURM_DIR", "/tmp/mpsomics-slurm"))
PARTITION = os.environ.get("MPSOMICS_SLURM_PARTITION", "main")

# --------------------------------------------------------------------------- workflows
# Keys:
#   snakefile         path relative to the repo
#   workdir_template  directory (relative to the repo) copied to be the run's
#                     --directory; None = start from an empty directory
#   configfile        --configfile, relative to the copied workdir (None: none)
#   config            extra --config KEY=VALUE items, same for both runs
#   targets           snakemake targets ([] = default target)
#   compare           files/dirs (relative to workdir) that must be byte-identical
#                     between the SLURM run and a local `--cores 2` run
#   compare_exclude   fnmatch patterns (on the path relative to workdir; `*` also
#                     matches `/`) left out of the comparison (non-deterministic
#                     outputs, e.g. logs, benchmarks, reports with timestamps)
#   volatile          {fnmatch pattern: [names]}: compared after dropping these
#                     TSV columns (by header) / JSON keys (at any depth), e.g.
#                     measured seconds; all other files are compared byte for byte
#   rules             rules that must have been submitted through sbatch
#   jobid_log         rule log (relative to workdir) with a line SLURM_JOB_ID=<id>,
#                     and jobid_log_rule the rule that wrote it; None = not checked
#   fail_config       --config items that make rule `fail_rule` fail; None = the
#                     failure check uses the toy workflow instead
#   timeout           seconds before a run counts as hung
TOY = {
    "name": "toy",
    "snakefile": "tests/hpc/toy/Snakefile",
    "workdir_template": None,
    "configfile": None,
    "config": ["n_samples=2"],
    "targets": [],
    "compare": ["results"],
    "compare_exclude": [],
    "volatile": {},
    "rules": ["prepare", "train_mps", "report"],
    "jobid_log": "logs/train_mps.log",
    "jobid_log_rule": "train_mps",
    "fail_config": ["fail=train_mps"],
    "fail_rule": "train_mps",
    "timeout": 900,
}

PIPELINE = {
    "name": "pipeline",
    "snakefile": "Snakefile",
    "workdir_template": ".test",
    "configfile": "config.yaml",
    "config": [],
    "targets": [],
    "compare": ["results"],
    "compare_exclude": [
        "results/logs/*",  # run logs
        "results/benchmarks/*",  # timings
        "*.snakemake_timestamp",  # mtime markers of directory() outputs
        "results/report/index.html",  # carries the run's date
    ],
    "volatile": {
        # measured timings inside otherwise deterministic outputs
        "results/mps/*/history.tsv": ["seconds"],
        # provenance: the scheduler job and its thread environment differ by design
        "*run_info.json": ["wall_seconds", "slurm_job_id", "threads_env"],
        "results/observables/*/summary.json": ["seconds"],
        "results/validation/cv/*.tsv": ["seconds"],
        "results/validation/cv.tsv": ["seconds"],
        "results/panels/*_summary.tsv": ["seconds"],
        "results/panels/summary.tsv": ["seconds"],
    },
    "rules": [
        "prepare",
        "communities",
        "train_mps",
        "observe",
        "grokking",
        "grokking_summary",
        "subcommunities",
        "enrichment",
        "cv",
        "stability",
        "validate",
        "report",
    ],
    # every mpsomics stage logs SLURM_JOB_ID=<id> when it runs inside a SLURM job
    "jobid_log": "results/logs/prepare.log",
    "jobid_log_rule": "prepare",
    "fail_config": None,
    "fail_rule": None,
    "timeout": 3600,
}

WORKFLOWS = {"toy": TOY, "pipeline": PIPELINE}
WORKFLOW = WORKFLOWS[os.environ.get("MPSOMICS_SLURM_WORKFLOW", "pipeline")]  # <- switch here

# Test-only changes to profiles/slurm/config.yaml (the rest is used as is):
PROFILE_OVERRIDES = {
    # keep the SLURM logs of successful jobs: they are the evidence checked below
    "slurm-keep-successful-logs": True,
    # files appear at once on a single machine
    "latency-wait": 5,
}

pytestmark = pytest.mark.slurm

SUBMITTED_RE = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.\s*$", re.M
)


# --------------------------------------------------------------------------- helpers
def _installed() -> bool:
    return all(
        shutil.which(b) or Path("/usr/sbin", b).exists()
        for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue")
    )


def _skip_reason() -> str | None:
    if os.environ.get("MPSOMICS_SKIP_SLURM") == "1":
        return "MPSOMICS_SKIP_SLURM=1"
    if not sys.platform.startswith("linux"):
        return "local SLURM cluster needs Linux"
    if os.geteuid() != 0:
        return "local SLURM cluster needs root (slurmd runs the jobs; munged as user munge)"
    if not _installed() and shutil.which("apt-get") is None:
        return "SLURM/munge not installed and apt-get unavailable to install them"
    return None


def _script(cmd: str, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), cmd], env=env, capture_output=True, text=True, timeout=timeout
    )


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["MPSOMICS_SLURM_DIR"] = str(SLURM_DIR)
    env["MPSOMICS_SLURM_PARTITION"] = PARTITION
    env["SLURM_CONF"] = str(SLURM_DIR / "slurm.conf")
    return env


def _prepare_workdir(wf: dict, dest: Path) -> Path:
    if wf["workdir_template"]:
        shutil.copytree(
            REPO / wf["workdir_template"],
            dest,
            symlinks=True,
            ignore=shutil.ignore_patterns("results", "logs", ".snakemake"),
        )
    else:
        dest.mkdir(parents=True)
    return dest


def _snakemake_cmd(wf: dict, workdir: Path, extra_config: list[str] = ()) -> list[str]:
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / wf["snakefile"]),
        "--directory", str(workdir),
    ]  # fmt: skip
    if wf["configfile"]:
        cmd += ["--configfile", str(workdir / wf["configfile"])]
    config = list(wf["config"]) + list(extra_config)
    if config:
        cmd += ["--config", *config]
    return cmd + list(wf["targets"])


def _run(cmd: list[str], env: dict, timeout: int, log: Path) -> tuple[int, str, float]:
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout,
        )  # fmt: skip
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        log.write_text(out)
        pytest.fail(
            f"snakemake did not finish within {timeout}s (hung?): {' '.join(cmd)}\n{out[-3000:]}"
        )
    dt = time.monotonic() - t0
    log.write_text(out)
    return rc, out, dt


def _slurm_profile(dest: Path) -> Path:
    """profiles/slurm/config.yaml plus PROFILE_OVERRIDES, written to dest/."""
    prof = yaml.safe_load(SLURM_PROFILE.read_text())
    prof.update(PROFILE_OVERRIDES)
    prof.setdefault("default-resources", {})["slurm_partition"] = PARTITION
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dest


def _squeue(job_ids, env) -> dict[str, dict]:
    """Jobs still known to slurmctld (MinJobAge), incl. finished ones."""
    if not job_ids:
        return {}
    p = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(sorted(job_ids)), "-o", "%i|%T|%P|%k|%Z|%j"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    jobs = {}
    for line in p.stdout.splitlines():
        jid, state, part, comment, workdir, name = line.split("|")
        jobs[jid.strip()] = dict(
            state=state, partition=part, comment=comment.strip(), workdir=workdir, name=name
        )
    return jobs


def _tree_bytes(root: Path, paths: list[str], exclude: list[str]) -> dict[str, bytes]:
    files = {}
    for rel in paths:
        p = root / rel
        cands = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in cands:
            r = str(f.relative_to(root))
            if any(fnmatch.fnmatch(r, pat) for pat in exclude):
                continue
            files[r] = f.read_bytes()
    return files


def _drop_volatile(rel: str, data: bytes, volatile: dict[str, list[str]]) -> bytes:
    names = [n for pat, ns in volatile.items() if fnmatch.fnmatch(rel, pat) for n in ns]
    if not names:
        return data
    if rel.endswith(".json"):

        def strip(o):
            if isinstance(o, dict):
                return {k: strip(v) for k, v in o.items() if k not in names}
            if isinstance(o, list):
                return [strip(v) for v in o]
            return o

        return json.dumps(strip(json.loads(data)), sort_keys=True).encode()
    if rel.endswith(".tsv"):
        rows = [line.split("\t") for line in data.decode().splitlines()]
        keep = [i for i, name in enumerate(rows[0]) if name not in names]
        return "\n".join("\t".join(r[i] for i in keep) for r in rows).encode()
    raise ValueError(f"volatile fields only for .json/.tsv: {rel}")


def _report(title: str, lines: list[str]) -> None:
    print(f"\n=== {title} ===")
    for line in lines:
        print(line)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def slurm_cluster():
    """A running local SLURM cluster; stopped at the end unless it already ran."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    env = _clean_env()
    p = _script("install", env)
    assert p.returncode == 0, f"local_slurm.sh install failed:\n{p.stdout}\n{p.stderr}"
    already_running = _script("status", env).returncode == 0
    try:
        p = _script("start", env, timeout=300)
        assert p.returncode == 0, f"local_slurm.sh start failed:\n{p.stdout}\n{p.stderr}"
        yield env
    finally:
        if not already_running:
            p = _script("stop", env, timeout=120)
            print(p.stderr)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """The workflow run once through --profile profiles/slurm (+ PROFILE_OVERRIDES)."""
    wf = WORKFLOW
    base = tmp_path_factory.mktemp(f"slurm-{wf['name']}")
    profile = _slurm_profile(base / "profile")
    workdir = _prepare_workdir(wf, base / "work")
    cmd = _snakemake_cmd(wf, workdir) + ["--profile", str(profile)]
    rc, out, dt = _run(cmd, slurm_cluster, wf["timeout"], base / "snakemake.log")
    _report("SLURM run", [f"workflow={wf['name']} rc={rc} wall={dt:.1f}s", " ".join(cmd)])
    return dict(rc=rc, out=out, seconds=dt, workdir=workdir, env=slurm_cluster, base=base)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    wf = WORKFLOW
    if _skip_reason():  # no point comparing if the SLURM run is skipped
        pytest.skip(_skip_reason())
    base = tmp_path_factory.mktemp(f"local-{wf['name']}")
    workdir = _prepare_workdir(wf, base / "work")
    # profiles/default is picked up automatically (workflow profile), as for users
    cmd = _snakemake_cmd(wf, workdir) + ["--cores", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    rc, out, dt = _run(cmd, env, wf["timeout"], base / "snakemake.log")
    _report("local run", [f"workflow={wf['name']} rc={rc} wall={dt:.1f}s"])
    assert rc == 0, f"local run failed:\n{out[-5000:]}"
    return dict(rc=rc, out=out, seconds=dt, workdir=workdir)


# --------------------------------------------------------------------------- tests
def test_profile_uses_squeue_status(slurm_cluster):
    """squeue is only honoured by the plugin if MinJobAge >= 3 x init seconds."""
    prof = yaml.safe_load(SLURM_PROFILE.read_text())
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue"
    init = int(prof["slurm-init-seconds-before-status-checks"])
    p = subprocess.run(
        ["scontrol", "show", "config"], env=slurm_cluster, capture_output=True, text=True
    )
    m = re.search(r"^MinJobAge\s*=\s*(\d+)", p.stdout, re.M)
    assert m, p.stdout + p.stderr
    assert int(m.group(1)) >= 3 * init, "plugin would silently fall back to sacct"


def test_jobs_went_through_sbatch(slurm_run):
    wf = WORKFLOW
    out, workdir = slurm_run["out"], slurm_run["workdir"]
    assert slurm_run["rc"] == 0, f"SLURM run failed:\n{out[-6000:]}"
    # the plugin did not silently switch to sacct (MinJobAge too low)
    assert "Falling back to 'sacct'" not in out

    submitted = {jid: Path(log) for _, jid, log in SUBMITTED_RE.findall(out)}
    assert submitted, "no 'submitted with SLURM jobid' line in snakemake output"

    # .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<jobid>.log, one per submission
    logdir = workdir / ".snakemake" / "slurm_logs"
    assert logdir.is_dir()
    logs = {p.stem: p for p in logdir.rglob("*.log")}
    assert set(logs) == set(submitted), (sorted(logs), sorted(submitted))
    for jid, path in logs.items():
        assert jid.isdigit()
        assert path == submitted[jid]
        text = path.read_text()
        # the job ran snakemake's slurm-jobstep executor inside the allocation
        assert "--executor slurm-jobstep" in text, path
    by_rule = {}
    for jid, path in logs.items():
        rule = path.relative_to(logdir).parts[0].removeprefix("rule_")
        by_rule.setdefault(rule, []).append(jid)
    for rule in wf["rules"]:
        assert by_rule.get(rule), f"rule {rule} has no SLURM log in {logdir}: {sorted(by_rule)}"

    # the job recorded $SLURM_JOB_ID in its rule log; it is the id sbatch returned
    if wf["jobid_log"]:
        text = (workdir / wf["jobid_log"]).read_text()
        m = re.search(r"SLURM_JOB_ID=(\d+)$", text, re.M)
        assert m, f"no SLURM_JOB_ID in {wf['jobid_log']}:\n{text}"
        assert m.group(1) in by_rule[wf["jobid_log_rule"]]

    # slurmctld (not sacct) still knows the jobs: COMPLETED, our partition and workdir
    known = _squeue(submitted, slurm_run["env"])
    assert known, "squeue knows none of the submitted jobs"
    if slurm_run["seconds"] < 240:  # all still within MinJobAge=300
        assert set(known) == set(submitted)
    for jid, info in known.items():
        assert info["state"] == "COMPLETED", (jid, info)
        assert info["partition"] == PARTITION, (jid, info)
        assert Path(info["workdir"]) == workdir, (jid, info)
        assert info["comment"].startswith("rule_"), (jid, info)

    _report(
        "evidence",
        [f"sbatch submissions: {len(submitted)} in {slurm_run['seconds']:.1f}s"]
        + [
            f"  {jid}: {p.relative_to(workdir)}"
            for jid, p in sorted(submitted.items(), key=lambda x: int(x[0]))
        ]
        + ["squeue -t all:"]
        + [
            f"  {jid} {i['state']} {i['partition']} {i['comment']} {i['workdir']}"
            for jid, i in sorted(known.items())
        ]
        + ([f"{wf['jobid_log']}: {m.group(0)}"] if wf["jobid_log"] else []),
    )


def test_outputs_match_local_run(slurm_run, local_run):
    wf = WORKFLOW
    assert slurm_run["rc"] == 0, f"SLURM run failed:\n{slurm_run['out'][-6000:]}"
    a = _tree_bytes(slurm_run["workdir"], wf["compare"], wf["compare_exclude"])
    b = _tree_bytes(local_run["workdir"], wf["compare"], wf["compare_exclude"])
    assert a, f"no outputs under {wf['compare']}"
    assert sorted(a) == sorted(b)
    vol = wf.get("volatile", {})
    differ = [f for f in a if _drop_volatile(f, a[f], vol) != _drop_volatile(f, b[f], vol)]
    assert not differ, f"outputs differ between SLURM and local run: {differ}"
    n_bytes = sum(1 for f in a if a[f] == b[f])
    _report(
        "timing",
        [
            f"SLURM run: {slurm_run['seconds']:.1f}s, local run: {local_run['seconds']:.1f}s, "
            f"{len(a)} identical output files ({n_bytes} byte for byte, "
            f"{len(a) - n_bytes} after dropping volatile timing fields)"
        ],
    )


def test_failing_rule_fails_the_run(slurm_cluster, tmp_path):
    """A rule that fails on the cluster makes snakemake exit non-zero (and not hang)."""
    wf = WORKFLOW if WORKFLOW["fail_config"] else TOY
    profile = _slurm_profile(tmp_path / "profile")
    workdir = _prepare_workdir(wf, tmp_path / "work")
    cmd = _snakemake_cmd(wf, workdir, wf["fail_config"]) + ["--profile", str(profile)]
    rc, out, dt = _run(cmd, slurm_cluster, wf["timeout"], tmp_path / "snakemake.log")
    _report("failing run", [f"workflow={wf['name']} rc={rc} wall={dt:.1f}s"])
    assert rc != 0, out[-4000:]
    m = re.search(rf"Error in rule {wf['fail_rule']}:", out)
    assert m, out[-4000:]
    failed = [jid for _, jid, log in SUBMITTED_RE.findall(out) if f"rule_{wf['fail_rule']}" in log]
    assert failed, "the failing rule was not submitted through sbatch"
    # resubmitted `retries` times (the profile's retries), then given up
    retries = int(yaml.safe_load(SLURM_PROFILE.read_text()).get("retries", 0))
    assert len(failed) == 1 + retries, (failed, retries)
    # SLURM itself saw the job fail
    known = _squeue(failed, slurm_cluster)
    assert known and all(i["state"] == "FAILED" for i in known.values()), known
    # its SLURM log is kept (failed jobs' logs always are) and shows the error
    logs = list((workdir / ".snakemake" / "slurm_logs" / f"rule_{wf['fail_rule']}").rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(failed)
    assert all(f"Error in rule {wf['fail_rule']}" in p.read_text() for p in logs)
    if wf is TOY:
        text = (workdir / "logs" / "train_mps.log").read_text()
        assert "failing on purpose" in text
        # the last attempt recorded its own SLURM job id
        assert f"SLURM_JOB_ID={failed[-1]}\n" in text, (text, failed)
        assert not (workdir / "results" / "report.txt").exists()

# Shared helpers: config validation, CLI option strings, resources and the
# input functions that fan out over the communities selected by the checkpoint.
import glob
import importlib.util
import json
import math
import os
import shlex

from snakemake.utils import validate


def _configcheck():
    """`mpsomics.core.configcheck` of this checkout (the checks belong to these rule files)."""
    path = os.path.join(workflow.basedir, "src", "mpsomics", "core", "configcheck.py")
    if not os.path.exists(path):
        from mpsomics.core import configcheck

        return configcheck
    spec = importlib.util.spec_from_file_location("mpsomics_workflow_configcheck", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


_check = _configcheck()
# Snakemake keeps the last of a key given twice: re-read the config files refusing that.
_check.check_duplicate_keys(workflow.configfiles)

# A --configfile is merged into config/config.yaml, so a study removes a default cohort by
# setting it to null (config/stage.yaml); drop those before validation fills in defaults.
_cohorts = (config.get("validation") or {}).get("cohorts") or {}
for _name in [n for n, c in _cohorts.items() if c is None]:
    del _cohorts[_name]

validate(config, schema="../schemas/config.schema.yaml")
# What the schema cannot say (NaN/inf, min > max, unknown `resources` groups) and the
# configured input files present, before the DAG is built (src/mpsomics/core/configcheck.py).
_check.check_config(
    config,
    _check.resource_groups(
        glob.glob(os.path.join(workflow.basedir, "workflow", "rules", "*.smk"))
    ),
)


wildcard_constraints:
    community=r"[A-Za-z0-9_.\-]+",


ENV = "../../envs/mpsomics.yaml"


def cli_options(section, rename=None, skip=(), keep=None):
    """Render a config section as `--key value` options (lists comma-joined, booleans as flags).

    `skip`: keys left out; `keep`: if given, only these keys.
    """
    rename = rename or {}
    parts = []
    for key, value in section.items():
        if key in skip or value is None or isinstance(value, dict):
            continue
        if keep is not None and key not in keep:
            continue
        flag = f"--{rename.get(key, key).replace('_', '-')}"
        if isinstance(value, bool):
            if value:
                parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} {shlex.quote(','.join(map(str, value)))}")
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


# Used when config `resources` names neither the rule nor `default`.
FALLBACK_RESOURCES = {"threads": 1, "mem_mb": 2000, "runtime": 15}


def resource(rule_name, key):
    """A resource of `rule_name` from config `resources`, else `resources.default`, else the fallback."""
    res = config.get("resources", {})
    default = res.get("default", {}).get(key, FALLBACK_RESOURCES[key])
    return res.get(rule_name, {}).get(key, default)


def n_lines(path):
    with open(path) as fh:
        return sum(1 for line in fh if line.strip())


def train_mem_mb(wildcards, input, attempt):
    # Site tensors of N sites at bond dimension chi, plus the sweep's per-sample
    # environments and the per-epoch correlation record; doubled on each retry.
    n_sites = n_lines(input.genes)
    chi = config["mps"]["bond_dim"]
    tensors_mb = n_sites * chi * chi * 8 * 8 / 1e6 * 4
    record_mb = (config["mps"]["epochs"] + 1) * 2 * n_sites * n_sites * 4 / 1e6
    return int((resource("train_mps", "mem_mb") + tensors_mb + record_mb) * attempt)


def fit_minutes(input):
    # A sweep costs O(N * samples * chi^2) plus N SVDs of (2 chi) x (4 chi) matrices:
    # coefficient measured on the bundled data (docs/benchmarks.md).
    n_sites = n_lines(input.genes)
    chi = config["mps"]["bond_dim"]
    per_epoch_s = n_sites * (chi**3) * 2e-7 + n_sites * chi * chi * 2e-6
    return config["mps"]["epochs"] * per_epoch_s / 60


def train_runtime(wildcards, input, attempt):
    # one fit, with a floor
    return int(
        (resource("train_mps", "runtime") + math.ceil(fit_minutes(input))) * attempt
    )


# `model: mps | ttn`: the classifier `mpsomics train --model` fits per community.
MODEL = config.get("model", "mps")
# label-permutation controls of the entanglement transition (MPS only; 0 = off)
CONTROLS = int(config.get("grokking", {}).get("controls", 0)) if MODEL == "mps" else 0


def control_input(pattern):
    """Input function: `pattern` for the community when controls are trained, else nothing."""

    def inputs(wildcards):
        return expand(pattern, community=wildcards.community) if CONTROLS > 0 else []

    return inputs


GRAPH_MEASURE = config.get("subcommunities", {}).get("graph_measure", "connected")


def mi_model_input(wildcards):
    """The run's model.npz when the graph method uses the mutual information, else nothing."""
    if GRAPH_MEASURE != "mutual_information":
        return []
    return f"results/mps/{wildcards.community}/model.npz"


def compare_updates_option():
    """`--compare-updates a,b` of config `grokking.compare_updates` (nothing when empty)."""
    modes = config.get("grokking", {}).get("compare_updates") or []
    return "--compare-updates " + ",".join(modes) if modes else ""


def controls_runtime(wildcards, input, attempt):
    # at most `grokking.controls` fits of the run's settings and of each compared update (trained only
    # for a transition), plus the compared updates themselves; entropies only
    modes = len(config.get("grokking", {}).get("compare_updates") or [])
    fits = (CONTROLS + 1) * (1 + modes)
    return int(
        (resource("train_controls", "runtime") + math.ceil(fits * fit_minutes(input)))
        * attempt
    )


# Files `mpsomics train` writes only with `--method sweep` (and `observe_every` > 0);
# a TTN (always gradient-trained) writes its gene tree instead.
SWEEP_OUTPUTS = (
    {"singular_values": "results/mps/{community}/singular_values.npz"}
    if MODEL == "mps"
    and config["mps"].get("method", "sweep") == "sweep"
    and config["mps"].get("observe_every", 0)
    else {}
)
TTN_OUTPUTS = {"tree": "results/mps/{community}/tree.tsv"} if MODEL == "ttn" else {}
# the representation metrics per bond (MPS only; `representation_every` 0 = off)
_REPRESENTATION_EVERY = config["mps"].get("representation_every", 5)
REPRESENTATION_OUTPUTS = (
    {"representation": "results/mps/{community}/representation_trajectory.tsv"}
    if MODEL == "mps" and _REPRESENTATION_EVERY
    else {}
)
# `observe` writes the quantum mutual information per class for MPS models only
MI_OUTPUTS = (
    {
        "mutual_information": directory(
            "results/observables/{community}/mutual_information"
        )
    }
    if MODEL == "mps"
    else {}
)


def selected_communities(wildcards=None):
    """Community ids chosen by the `communities` checkpoint (re-evaluated after it ran)."""
    selected = checkpoints.communities.get().output.selected
    with open(selected) as fh:
        return [line.strip() for line in fh if line.strip()]


def per_community(pattern):
    """Input function: `pattern` expanded over the selected communities."""

    def inputs(wildcards):
        return expand(pattern, community=selected_communities())

    return inputs


# --- Fashion-MNIST grokking experiment (target `fashion_grokking`) ---------------------
FASHION_TASKS = [
    f"sneaker_vs_{c}"
    for c in (
        "tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "bag", "boot", "sneaker"
    )
]  # fmt: skip
FASHION = {
    "data": "data/fashion_mnist",
    "tasks": FASHION_TASKS,
    "seeds": [0, 1, 2],
    **config.get("fashion", {}),
}


def fashion_options():
    """The experiment settings of config `fashion` as `mpsomics fashion-run` options."""
    return cli_options(FASHION, skip=("data", "tasks", "seeds"))


# `fashion.controls` > 0: each run also writes its label-permutation controls
FASHION_CONTROL_OUTPUTS = (
    {
        "controls_entanglement": "results/fashion/runs/{task}/seed{seed}/controls_entanglement.tsv",
        "controls_history": "results/fashion/runs/{task}/seed{seed}/controls_history.tsv",
    }
    if int(FASHION.get("controls", 0)) > 0
    else {}
)


def fashion_runs(pattern):
    """`pattern` expanded over the configured tasks and seeds."""
    return expand(pattern, task=FASHION["tasks"], seed=FASHION["seeds"])


def fashion_runtime(wildcards, attempt):
    # Minutes: a sweep of the 36-site chain costs ~0.2 s + 1e-4 s * chi^2 (docs/reproduction.md).
    per_sweep_s = 0.2 + 1e-4 * FASHION.get("bond_dim", 32) ** 2
    minutes = FASHION.get("epochs", 100) * per_sweep_s / 60
    return int((resource("fashion_run", "runtime") + math.ceil(2 * minutes)) * attempt)


# Inputs of `prepare` and `communities` beyond the defaults (README "Bring your own data").
PREPARE_FILE_KEYS = ("gene_map", "idmaps", "clinical")


def prepare_inputs(wildcards):
    """The files `prepare` reads: expression (a file, a directory or a list), and the optional
    sample sheet, id map (given, or the bundled maps folder when ids are mapped) and clinical table.
    """
    cfg = config["prepare"]
    files = {"expression": config["expression"]}
    if config.get("samples"):
        files["samples"] = config["samples"]
    if cfg.get("gene_map"):
        files["gene_map"] = cfg["gene_map"]
    elif cfg.get("gene_ids", "symbol") != "symbol":
        files["idmaps"] = cfg.get("idmaps", "data/idmaps")
    if cfg.get("clinical"):
        files["clinical"] = cfg["clinical"]["path"]
    return files


def prepare_file_options(wildcards, input):
    """`--samples`, `--gene-map`, `--idmaps` and `--clinical*` options of the declared files."""
    parts = []
    for key, flag in (
        ("samples", "--samples"),
        ("gene_map", "--gene-map"),
        ("idmaps", "--idmaps"),
        ("clinical", "--clinical"),
    ):
        if key in input.keys():
            parts.append(f"{flag} {shlex.quote(str(input[key]))}")
    clinical = config["prepare"].get("clinical")
    if clinical:
        parts.append(
            cli_options(
                clinical,
                skip=("path", "classes"),
                rename={k: f"clinical_{k}" for k in clinical},
            )
        )
        for name, values in clinical["classes"].items():
            spec = "{}={}".format(name, ",".join(values))
            parts.append(f"--clinical-class {shlex.quote(spec)}")
    return " ".join(parts)


def own_communities(wildcards):
    """The gene -> community file of `communities.source: file` (no input otherwise)."""
    cfg = config["communities"]
    return (
        {"own": cfg["file"]} if cfg.get("source") == "file" and cfg.get("file") else {}
    )


def own_communities_option(wildcards, input):
    return f"--file {shlex.quote(str(input.own))}" if "own" in input.keys() else ""


# --- Validation (docs/validation.md) ----------------------------------------------------
VALIDATION = config.get("validation", {})
CV_KEYS = ("folds", "repeats", "permutations", "permutation_epochs", "bootstrap")
STABILITY_KEYS = ("resamples", "random_sets")
VALIDATE_KEYS = ("random_sets", "bootstrap")
# `mps` keys of a single training run that many in-process fits do not take
MPS_FIT_SKIP = ("checkpoint_every", "representation_every")
COHORT_FILE_KEYS = ("expression", "samples", "gene_map")
COHORTS = VALIDATION.get("cohorts") or {}


def cohort_inputs(wildcards):
    """The files of every cohort of `validation.cohorts`, named `<cohort>__<key>`."""
    return {
        f"{name}__{key}": cohort[key]
        for name, cohort in COHORTS.items()
        for key in COHORT_FILE_KEYS
        if cohort.get(key)
    }


def cohorts_json(wildcards, input):
    """`validation.cohorts` as JSON, each file path taken from the declared inputs."""
    cohorts = {}
    for name, cohort in COHORTS.items():
        cohorts[name] = {
            key: (str(input[f"{name}__{key}"]) if key in COHORT_FILE_KEYS else value)
            for key, value in cohort.items()
            if value is not None
        }
    return json.dumps(cohorts)


# --- Beyond the paper: gene panels (docs/panels.md), classical comparison (docs/comparison.md) ---
PANELS = {"communities": 3, **(config.get("panels") or {})}


def panel_communities():
    """The communities pruned to panels: the first `panels.communities` of selected.txt (`all` = every one)."""
    chosen = selected_communities()
    n = PANELS["communities"]
    return chosen if n == "all" else chosen[: int(n)]


def per_panel_community(pattern):
    """Input function: `pattern` expanded over the communities pruned to panels."""

    def inputs(wildcards):
        return expand(pattern, community=panel_communities())

    return inputs


CLASSICAL = config.get("classical") or {}
# "the same resolution, size floor and effect-size gate" as the MPS graph method
CLASSICAL_SHARED = ("resolution", "min_size", "min_contrast")


def classical_options():
    """`classical-subcommunities` options: `classical` keys, plus the graph method's shared settings."""
    shared = {
        k: v
        for k, v in (config.get("subcommunities") or {}).items()
        if k in CLASSICAL_SHARED
    }
    return cli_options({**shared, **CLASSICAL})

"""Issue 15, workflow config: checks the JSON schema cannot express (mpsomics.core.configcheck)."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsomics.core.configcheck import (
    ConfigError,
    check_config,
    check_duplicate_keys,
    check_files,
    check_finite,
    check_relations,
    check_resources,
    configured_files,
    load_unique,
    resource_groups,
)
from mpsomics.core.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
GROUPS = resource_groups(RULE_FILES)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def base_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


# --- finite numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_number_names_its_key(value):
    cfg = base_config()
    cfg["mps"]["lr"] = value
    with pytest.raises(ConfigError) as err:
        check_finite(cfg)
    assert one_line(err) == f"config mps.lr: {value} is not a finite number"


def test_yaml_nan_and_inf_in_a_list():
    cfg = yaml.safe_load("fashion:\n  seeds: [0, .inf]\n")
    with pytest.raises(ConfigError, match=r"^config fashion\.seeds\[1\]: inf is not a finite number$"):
        check_finite(cfg)


keys = st.text("abcdefgh_", min_size=1, max_size=6)
leaves = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                   st.none(), st.text(max_size=5))
configs = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)),
                       max_leaves=12)


@given(st.dictionaries(keys, configs, max_size=4))
@settings(max_examples=100, deadline=None)
def test_finite_configs_pass(cfg):
    check_finite(cfg)


@given(st.lists(keys, min_size=1, max_size=4), st.sampled_from([math.nan, math.inf, -math.inf]))
@settings(max_examples=100, deadline=None)
def test_a_non_finite_leaf_anywhere_is_found(path, bad):
    cfg: dict = {}
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = bad
    with pytest.raises(ConfigError) as err:
        check_finite(cfg)
    assert one_line(err).startswith(f"config {'.'.join(path)}: ")


# --- relations ---------------------------------------------------------------------------


@pytest.mark.parametrize("low, high, section", [
    ("min_set_size", "max_set_size", ("enrichment",)),
    ("min_size", "max_size", ("communities",)),
    ("min_communities", "max_communities", ("communities", "select")),
])
@given(a=st.integers(1, 1000), b=st.integers(1, 1000))
@settings(max_examples=50, deadline=None)
def test_min_above_max_is_refused(low, high, section, a, b):
    cfg = base_config()
    node = cfg
    for key in section:
        node = node[key]
    node[low], node[high] = a, b
    prefix = ".".join(section)
    if a <= b:
        check_relations(cfg)
    else:
        with pytest.raises(ConfigError) as err:
            check_relations(cfg)
        assert one_line(err) == f"config {prefix}.{low} ({a}) > {prefix}.{high} ({b})"


def test_issue_example_message():
    cfg = base_config()
    cfg["enrichment"].update(min_set_size=600, max_set_size=500)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, GROUPS, files=False)
    assert str(err.value) == "config enrichment.min_set_size (600) > enrichment.max_set_size (500)"


@pytest.mark.parametrize("change, message", [
    ({"communities": {"select": {"permutations": 0}}}, r"^config communities\.select\.permutations \(0\)"),
    ({"communities": {"select": {"permutations": 9, "fdr": 0.05}}},
     r"^config communities\.select\.permutations \(9\) cannot reach p <= .*use at least 19$"),
    ({"communities": {"source": "file"}}, r"^config communities\.file: required by communities\.source file$"),
    ({"mps": {"early_stopping": True}}, r"^config mps\.early_stopping/mps\.patience need mps\.validation_fraction"),
    ({"prepare": {"positive_label": "tumour", "clinical": {"path": "x", "label_col": "s",
                                                          "classes": {"early": ["I"], "late": ["III"]}}}},
     r"^config prepare\.positive_label \(tumour\) is not one of prepare\.clinical\.classes \(early, late\)$"),
])
def test_contradictory_settings(change, message):
    cfg = base_config()

    def merge(into, new):
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict):
                merge(into[k], v)
            else:
                into[k] = v

    merge(cfg, change)
    with pytest.raises(ConfigError, match=message):
        check_relations(cfg)


def test_threshold_selection_allows_zero_permutations():
    cfg = base_config()
    cfg["communities"]["select"].update(method="threshold", permutations=0)
    check_relations(cfg)


# --- resources ---------------------------------------------------------------------------


def test_resource_groups_of_the_rule_files():
    assert {"train_mps", "train_controls", "graphs", "enrichment", "fashion_run"} <= GROUPS
    assert "default" not in GROUPS


def test_unknown_resources_key_is_refused_with_a_suggestion():
    cfg = base_config()
    cfg["resources"]["trian_mps"] = {"threads": 2}
    with pytest.raises(ConfigError) as err:
        check_resources(cfg, GROUPS)
    assert one_line(err).startswith("config resources.trian_mps: no rule reads this resources group; "
                                    "did you mean train_mps?")


def test_known_resources_keys_pass_and_none_skips():
    cfg = base_config()
    cfg["resources"].update({g: {"threads": 1} for g in GROUPS})
    check_resources(cfg, GROUPS)
    cfg["resources"]["nonsense"] = {}
    check_config(cfg, None, files=False)  # rule_names None: no resources check


# --- duplicated keys ---------------------------------------------------------------------


@pytest.mark.parametrize("text, line, key", [
    ("mps:\n  lr: 1\nseed: 0\nmps:\n  lr: 2\n", 4, "mps"),
    ("a:\n  b: 1\n  b: 2\n", 3, "b"),
    ("a: [{x: 1}, {x: 2, x: 3}]\n", 1, "x"),
])
def test_duplicated_yaml_key_names_file_line_and_key(tmp_path, text, line, key):
    path = tmp_path / "my config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_unique(path)
    assert one_line(err).startswith(f"{path}: line {line}: key {key!r} given twice")


def test_duplicated_json_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"seed": 0, "seed": 1}')
    with pytest.raises(ConfigError, match=r"key 'seed' given twice"):
        check_duplicate_keys([path])


def test_merge_keys_may_be_overridden_and_missing_files_are_skipped(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")
    assert load_unique(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 3, "y": 2}}
    check_duplicate_keys([path, tmp_path / "absent.yaml"])


@given(st.dictionaries(keys, configs, min_size=1, max_size=5))
@settings(max_examples=60, deadline=None)
def test_unique_loader_agrees_with_safe_load(tmp_path_factory, cfg):
    path = tmp_path_factory.mktemp("u") / "c.yaml"
    text = yaml.safe_dump(cfg, sort_keys=False)
    path.write_text(text)
    assert load_unique(path) == yaml.safe_load(text)
    first = next(iter(cfg))
    path.write_text(text + yaml.safe_dump({first: 0}))
    with pytest.raises(ConfigError, match=re.escape(f"key {first!r} given twice")):
        load_unique(path)


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "stage.yaml"])
def test_bundled_configs_have_no_duplicated_keys(name):
    load_unique(ROOT / "config" / name)
    load_unique(ROOT / ".test" / "config.yaml")


# --- input files -------------------------------------------------------------------------


def test_configured_files_are_those_of_the_default_target():
    cfg = base_config()
    found = dict(configured_files(cfg))
    assert found["expression"] == cfg["expression"]
    assert found["enrichment.libraries.hallmark"] == cfg["enrichment"]["libraries"]["hallmark"]
    assert "validation.cohorts.gse77314.expression" in found
    assert not any(key.startswith("fashion") for key in found)  # not part of `all`


@pytest.mark.parametrize("key", ["expression", "samples", "enrichment.libraries.go_bp",
                                 "validation.cohorts.gse77314.samples"])
def test_missing_input_file_names_its_key(tmp_path, key):
    cfg = base_config()
    node = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = "data/not here.tsv"
    with pytest.raises(ConfigError) as err:
        check_files(cfg, workdir=ROOT)
    assert one_line(err).startswith(f"config {key}: no such file or directory: 'data/not here.tsv'")


def test_optional_files_are_checked_when_set(tmp_path):
    cfg = base_config()
    cfg["prepare"]["gene_map"] = "map.tsv"
    cfg["communities"].update(source="file", file="mods.tsv")
    keys_found = [k for k, _ in configured_files(cfg)]
    assert "prepare.gene_map" in keys_found and "communities.file" in keys_found
    cfg["expression"] = ["a.sf", "b.sf"]
    assert [k for k, _ in configured_files(cfg)][:2] == ["expression[0]", "expression[1]"]


def test_bundled_configs_pass_every_check():
    check_config(base_config(), GROUPS, workdir=ROOT)
    test_cfg = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    check_config(test_cfg, GROUPS, workdir=ROOT / ".test")
    for name in ("paper.yaml", "stage.yaml"):  # merged over config.yaml by Snakemake
        cfg = copy.deepcopy(base_config())
        cfg.update(yaml.safe_load((ROOT / "config" / name).read_text()))
        check_config(cfg, GROUPS, workdir=ROOT)


def test_config_error_is_an_input_error_and_a_value_error():
    err = ConfigError(None, "config x: bad\nvalue")
    assert isinstance(err, InputError) and isinstance(err, ValueError)
    assert str(err) == "config x: bad value"

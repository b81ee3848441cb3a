"""Checks of the workflow configuration the JSON schema cannot express.

``workflow/rules/common.smk`` runs them while the Snakefile is parsed, i.e. before the DAG
is built (``snakemake -n`` included), so a bad configuration stops the run with one line
naming the key at fault instead of failing in a job after hours of upstream work:

* :func:`check_duplicate_keys` -- a key given twice in one mapping of a config file (YAML
  and JSON loaders silently keep the last one, so a duplicated section replaces the first);
* :func:`check_config` -- every number finite (YAML ``.nan``/``.inf`` pass the schema's
  bounds), contradictory pairs (``min_set_size > max_set_size``, ...), ``resources`` keys
  limited to the groups the rules read (a typo such as ``trian_mps`` would be ignored) and
  every configured input file of the default target present.

Standard library and PyYAML only (both are there wherever Snakemake runs); importable
without Snakemake, and by file path (common.smk loads the checkout's copy, so the checks
match the rule files even where another mpsomics is installed). Every error is a :class:`ConfigError`: an
:class:`~mpsomics.core.errors.InputError` (and a :class:`ValueError`) with a one-line message.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

try:
    from mpsomics.core.errors import InputError
except ImportError:  # loaded by path (common.smk) where mpsomics is not installed

    class InputError(Exception):  # type: ignore[no-redef]  # the same message layout
        def __init__(self, path: str | os.PathLike | None, message: str) -> None:
            self.path = None if path is None else os.fspath(path)
            self.message = " ".join(str(message).split())
            super().__init__(self.message if self.path is None else f"{self.path}: {self.message}")

__all__ = [
    "ConfigError",
    "check_config",
    "check_duplicate_keys",
    "check_files",
    "check_finite",
    "check_relations",
    "check_resources",
    "configured_files",
    "load_unique",
    "resource_groups",
]


class ConfigError(InputError, ValueError):
    """A configuration that cannot be used as given (one line naming the key or file)."""


# --- duplicated keys ---------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader refusing a key that occurs twice in one mapping."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: overriding a merged key is fine
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the SafeLoader reports it below
            continue
        if first is not None:
            raise _Duplicate(key, line, first)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


class _Duplicate(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _Duplicate(key, 0, 0)
        seen.add(key)
    return dict(pairs)


def load_unique(path: str | os.PathLike) -> Any:
    """The content of a YAML or JSON config file; a key given twice in one mapping is an error.

    Raises
    ------
    ConfigError
        ``<path>: line N: key 'k' given twice (first at line M)``. A file that is not valid
        YAML/JSON is left to Snakemake's own loader (returns ``None``).
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    try:
        if text.lstrip().startswith("{"):
            try:
                return json.loads(text, object_pairs_hook=_json_pairs)
            except json.JSONDecodeError:
                pass  # YAML flow mapping
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass
    except _Duplicate as dup:
        where = f"line {dup.line}: " if dup.line else ""
        first = f" (first at line {dup.first})" if dup.first else ""
        raise ConfigError(path, f"{where}key {dup.key!r} given twice in one mapping{first}; "
                                "the loader would silently keep the last one") from None
    except yaml.YAMLError:
        return None


def check_duplicate_keys(paths: Iterable[str | os.PathLike]) -> None:
    """Re-read each config file (Snakemake's ``workflow.configfiles``) refusing duplicated keys.

    Files that do not exist are skipped (Snakemake skips a missing default ``configfile:``
    when ``--configfile`` is given).
    """
    for path in paths:
        if os.path.isfile(path):
            load_unique(path)


# --- finite numbers ----------------------------------------------------------------------


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def check_finite(config: dict) -> None:
    """Every number of the config finite: NaN and ±inf (YAML ``.nan``, ``.inf``) are refused."""
    for key, value in _walk(config, ""):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(None, f"config {key}: {value} is not a finite number")


# --- relations between keys --------------------------------------------------------------


def _get(config: dict, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return None
        value = value[part]
    return value


def _at_most(config: dict, low: str, high: str) -> None:
    a, b = _get(config, low), _get(config, high)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > b:
        raise ConfigError(None, f"config {low} ({a}) > {high} ({b})")


#: pairs (a, b) that must satisfy a <= b when both are set
ORDERED_PAIRS = (
    ("enrichment.min_set_size", "enrichment.max_set_size"),
    ("communities.min_size", "communities.max_size"),
    ("communities.select.min_communities", "communities.select.max_communities"),
)


def check_relations(config: dict) -> None:
    """Settings that contradict each other (each would fail, or be ignored, deep in a job)."""
    for low, high in ORDERED_PAIRS:
        _at_most(config, low, high)
    select = _get(config, "communities.select") or {}
    if select.get("method", "permutation") == "permutation":
        perms, fdr = select.get("permutations"), select.get("fdr")
        if perms is not None and perms < 1:
            raise ConfigError(None, "config communities.select.permutations (0): "
                                    "communities.select.method permutation needs at least 1")
        if perms is not None and fdr is not None and 1.0 / (perms + 1) > fdr:
            need = math.ceil(1.0 / fdr) - 1
            raise ConfigError(None, f"config communities.select.permutations ({perms}) cannot reach "
                                    f"p <= communities.select.fdr ({fdr}): use at least {need}")
    if _get(config, "communities.source") == "file" and not _get(config, "communities.file"):
        raise ConfigError(None, "config communities.file: required by communities.source file")
    mps = config.get("mps") or {}
    if (mps.get("early_stopping") or mps.get("patience")) and not mps.get("validation_fraction"):
        raise ConfigError(None, "config mps.early_stopping/mps.patience need mps.validation_fraction > 0")
    clinical = _get(config, "prepare.clinical")
    positive = _get(config, "prepare.positive_label")
    if isinstance(clinical, dict) and positive is not None and positive not in (clinical.get("classes") or {}):
        classes = ", ".join(map(str, clinical.get("classes") or {}))
        raise ConfigError(None, f"config prepare.positive_label ({positive}) is not one of "
                                f"prepare.clinical.classes ({classes})")


# --- resources ---------------------------------------------------------------------------

_RESOURCE_CALL = re.compile(r"""\bresource\(\s*(["'])(\w+)\1""")


def resource_groups(rule_files: Iterable[str | os.PathLike]) -> set[str]:
    """The names the rule files look up in config ``resources`` (``resource("name", key)``)."""
    names = set()
    for path in rule_files:
        names.update(m.group(2) for m in _RESOURCE_CALL.finditer(Path(path).read_text(encoding="utf-8")))
    return names


def check_resources(config: dict, names: Iterable[str]) -> None:
    """``resources`` keys limited to ``names`` (the groups the rules read) and ``default``."""
    allowed = set(names) | {"default"}
    for key in config.get("resources") or {}:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(None, f"config resources.{key}: no rule reads this resources group; "
                                    f"{hint}use one of: {', '.join(sorted(allowed))}")


# --- input files -------------------------------------------------------------------------


def configured_files(config: dict) -> list[tuple[str, str]]:
    """``(key, path)`` of every input file the default target reads (the Fashion-MNIST data is not one)."""
    files: list[tuple[str, str]] = []
    expression = config.get("expression")
    if isinstance(expression, list):
        files += [(f"expression[{i}]", p) for i, p in enumerate(expression)]
    elif expression:
        files.append(("expression", expression))
    if config.get("samples"):
        files.append(("samples", config["samples"]))
    prepare = config.get("prepare") or {}
    if prepare.get("gene_map"):
        files.append(("prepare.gene_map", prepare["gene_map"]))
    elif prepare.get("gene_ids", "symbol") != "symbol":
        files.append(("prepare.idmaps", prepare.get("idmaps", "data/idmaps")))
    if isinstance(prepare.get("clinical"), dict) and prepare["clinical"].get("path"):
        files.append(("prepare.clinical.path", prepare["clinical"]["path"]))
    communities = config.get("communities") or {}
    if communities.get("source") == "file" and communities.get("file"):
        files.append(("communities.file", communities["file"]))
    libraries = (config.get("enrichment") or {}).get("libraries") or {}
    files += [(f"enrichment.libraries.{name}", p) for name, p in libraries.items()]
    cohorts = (config.get("validation") or {}).get("cohorts") or {}
    for name, cohort in cohorts.items():
        for key in ("expression", "samples", "gene_map"):
            if isinstance(cohort, dict) and cohort.get(key):
                files.append((f"validation.cohorts.{name}.{key}", cohort[key]))
    return files


def check_files(config: dict, workdir: str | os.PathLike | None = None) -> None:
    """Every file of :func:`configured_files` exists (relative paths from ``workdir``, default cwd)."""
    base = Path.cwd() if workdir is None else Path(workdir)
    for key, path in configured_files(config):
        if not (base / path).exists():
            raise ConfigError(None, f"config {key}: no such file or directory: {str(path)!r} "
                                    f"(relative paths start at the working directory {base})")


# --- everything --------------------------------------------------------------------------


def check_config(config: dict, rule_names: set[str] | None = None, *,
                 files: bool = True, workdir: str | os.PathLike | None = None) -> None:
    """Run every check on a config that passed the JSON schema (defaults filled in).

    Parameters
    ----------
    config
        The merged configuration.
    rule_names
        The names ``resources`` may use besides ``default`` (:func:`resource_groups` of the
        rule files); ``None`` skips that check.
    files
        Also check that the configured input files exist (:func:`check_files`).
    workdir
        Where relative paths start (default: the current directory, Snakemake's workdir).

    Raises
    ------
    ConfigError
        One line: ``config <key>: <problem>``.
    """
    check_finite(config)
    check_relations(config)
    if rule_names is not None:
        check_resources(config, rule_names)
    if files:
        check_files(config, workdir)

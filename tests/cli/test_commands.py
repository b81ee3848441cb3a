"""The stage commands: one output flag spelling, choices and defaults derived, not retyped."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

import mpsomics.commands.argtypes as argtypes
import mpsomics.commands.communities as communities
import mpsomics.commands.enrichment as enrichment
import mpsomics.commands.fashion_grokking as fashion_grokking
import mpsomics.commands.fashion_run as fashion_run
import mpsomics.commands.fashion_summary as fashion_summary
import mpsomics.commands.grokking as grokking
import mpsomics.commands.grokking_summary as grokking_summary
import mpsomics.commands.observe as observe
import mpsomics.commands.prepare as prepare
import mpsomics.commands.report as report
import mpsomics.commands.subcommunities as subcommunities
import mpsomics.commands.train as train
from mpsomics import cli
from mpsomics.mps.config import TrainConfig

COMMANDS = {
    "prepare": prepare, "communities": communities, "train": train, "observe": observe,
    "grokking": grokking, "grokking-summary": grokking_summary, "subcommunities": subcommunities,
    "enrichment": enrichment, "report": report, "fashion-run": fashion_run,
    "fashion-summary": fashion_summary, "fashion-grokking": fashion_grokking,
}  # fmt: skip


def parser_of(module) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p


def options(module) -> dict[str, argparse.Action]:
    return {s: a for a in parser_of(module)._actions for s in a.option_strings}


def test_every_stage_is_registered():
    assert set(COMMANDS) <= set(cli.STAGES)


@pytest.mark.parametrize("stage", COMMANDS)
def test_one_output_flag(stage):
    opts = options(COMMANDS[stage])
    outs = {o for o in opts if o in ("--out", "--out-dir") or o.endswith(("-out", "-dir", "-outdir"))}
    assert outs in ({"--out"}, {"--out-dir"}), (stage, outs)
    for old in ("--outdir", "--curve-out", "--figures-dir", "--train-dir", "--summarize", "--no-summary"):
        assert old not in opts, (stage, old)


def test_train_choices_and_defaults_come_from_train_config():
    opts = options(train)
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        action = opts[f"--{f.name.replace('_', '-')}"]
        if typing.get_origin(hints[f.name]) is typing.Literal:
            assert tuple(action.choices) == typing.get_args(hints[f.name]), f.name
        if f.name != "lr":  # --lr: the method's own default (sweep or Adam)
            assert action.default == f.default, f.name
    assert set(train._LITERAL_FIELDS) == {
        f.name for f in dataclasses.fields(TrainConfig) if typing.get_origin(hints[f.name]) is typing.Literal
    }


def test_train_config_of_options_has_every_field():
    args = parser_of(train).parse_args(["--expression", "e", "--genes", "g", "--out-dir", "o", "--bond-dim", "7"])
    config = train.train_config(args)
    assert config.bond_dim == 7 and config.lr == train.DEFAULT_SWEEP_LR
    assert dataclasses.replace(config, bond_dim=16, lr=TrainConfig().lr) == TrainConfig()


def test_prepare_defaults_come_from_the_library():
    from mpsomics.omics import prepare as lib

    opts = options(prepare)
    for func in (lib.read_expression, lib.read_sample_sheet, lib.prepare):
        for name, param in inspect.signature(func).parameters.items():
            flag = f"--{name.replace('_', '-')}"
            if param.kind is param.KEYWORD_ONLY and flag in opts:
                assert opts[flag].default == param.default, name


def test_fashion_choices_come_from_train_config():
    opts = options(fashion_run)
    for name in ("init", "environments", "output_scale", "loss", "dtype"):
        assert tuple(opts[f"--{name.replace('_', '-')}"].choices) == argtypes.field_choices(TrainConfig, name)


def test_field_helpers_reject_non_literal_fields():
    with pytest.raises(TypeError):
        argtypes.field_choices(TrainConfig, "bond_dim")
    assert argtypes.field_default(TrainConfig, "epochs") == TrainConfig().epochs


def test_records_are_named_after_the_file_they_describe(tmp_path):
    args = argparse.Namespace(out_dir=str(tmp_path), community="c03")
    assert subcommunities.run_info_path(args) == tmp_path / "c03.run_info.json"
    assert subcommunities.output_paths(args) == (tmp_path / "c03.tsv", tmp_path / "c03_curve.tsv")
    assert report.run_info_path(args) == tmp_path / "index.run_info.json"


def test_observe_names_differ_from_the_train_trajectories():
    from mpsomics.dynamics import training_run

    final = {observe.MAGNETIZATION_FILE, observe.ENTANGLEMENT_FILE, observe.CORRELATIONS_DIR,
             observe.MUTUAL_INFORMATION_DIR}  # fmt: skip
    trajectories = {training_run.MAGNETIZATION_FILE, training_run.ENTANGLEMENT_FILE, training_run.CORRELATIONS_FILE}
    assert not final & trajectories
    assert all("_trajectory" in name for name in trajectories)


def test_standalone_train_defaults_are_the_pipeline_defaults():
    """`mpsomics train` without options trains what `snakemake` would (config/config.yaml `mps`)."""
    import yaml

    repo = Path(__file__).resolve().parents[2]
    pipeline = yaml.safe_load((repo / "config" / "config.yaml").read_text())["mps"]
    args = parser_of(train).parse_args(["--expression", "e", "--genes", "g", "--out-dir", "o"])
    config = train.train_config(args)
    for key, value in pipeline.items():
        got = (args.observe_every if key == "observe_every"
               else train.representation_every(args) if key == "representation_every"
               else getattr(config, key))
        assert got == value, f"train --{key.replace('_', '-')} defaults to {got!r}, the pipeline to {value!r}"

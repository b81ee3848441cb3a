"""Every --help shows defaults (never "(default: None)"); -v raises only mpsomics loggers."""

from __future__ import annotations

import argparse
import logging

import pytest

from mpsomics import cli


@pytest.mark.parametrize("stage", list(cli.STAGES))
def test_help_shows_defaults(stage, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([stage, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    parser = cli.build_parser([stage])
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    stage_parser = sub.choices[stage]
    for action in stage_parser._actions:
        if action.required or action.default in (None, False) or not action.option_strings:
            continue
        if action.help is None or action.default == argparse.SUPPRESS:
            continue
        assert "default" in cli.HelpFormatter("x")._get_help_string(action).lower(), action.option_strings


def test_required_flags_do_not_show_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--expression EXPRESSION prepared AnnData (.h5ad) from `mpsomics prepare` --genes" in out
    assert "(default: 0.05)" in out or "(default: 0" in out


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("mpsomics").level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    logging.getLogger("mpsomics").setLevel(saved[2])


@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_raises_only_project_loggers(verbose, restore_logging):
    cli.configure_logging(verbose)
    own = logging.getLogger("mpsomics.mps.fit")
    third = logging.getLogger("matplotlib.font_manager")
    assert own.isEnabledFor(logging.DEBUG) is verbose
    assert own.isEnabledFor(logging.INFO)
    assert not third.isEnabledFor(logging.DEBUG)

"""The command line's vocabulary: every command's ``--help`` names each of its options, every
option has help text, shared options mean one thing everywhere, and the aliases (``configs
NAME``, ``presets NAME``, ``info --data``, ``predict --input``, ``report --run``) do what
their canonical forms do."""

from __future__ import annotations

import argparse
import runpy
import sys

import pytest

from spectral_refiner.cli import build_parser, main

SUBCOMMANDS = build_parser()._subparsers._group_actions[0].choices


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The visible options and positionals of a parser (not -h, not hidden aliases)."""
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and a.help is not argparse.SUPPRESS
    ]


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_exits_0_and_names_every_option(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    for action in _options(SUBCOMMANDS[command]):
        for name in action.option_strings or [action.metavar or action.dest]:
            assert name in text, f"{command} --help does not mention {name}"


def test_every_option_of_every_command_has_help_text():
    parser = build_parser()
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, sub in [("spectral-refiner", parser), *SUBCOMMANDS.items()]
        for a in _options(sub)
        if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()
    ]
    assert missing == []


SHARED = ("--run", "--data", "--out", "--device", "--threads", "--quiet", "--overwrite")


def test_a_shared_option_means_the_same_in_every_command():
    """Type, action and default of each shared option agree across the commands that take it
    (only ``report --run``, ``compare-hybrid --run`` and ``compare-rollouts --run`` are
    repeatable and ``--out``'s target
    differs by command)."""
    seen: dict[str, set] = {flag: set() for flag in SHARED}
    for name, sub in SUBCOMMANDS.items():
        for a in sub._actions:
            for flag in set(a.option_strings) & set(SHARED):
                if flag != "--run" or name not in ("report", "compare-hybrid", "compare-rollouts"):
                    seen[flag].add((type(a).__name__, a.type, a.default if flag != "--out" else 0))
    assert {flag: len(kinds) for flag, kinds in seen.items()} == dict.fromkeys(SHARED, 1)
    commands = ("generate", "train", "refine", "predict", "evaluate", "compare-solver", "demo")
    for command in (*commands, "compare-hybrid", "compare-rollouts"):
        assert {"--threads", "--quiet"} <= set(SUBCOMMANDS[command]._option_string_actions)


def test_threads_before_or_after_the_command_name():
    parser = build_parser()
    assert parser.parse_args(["--threads", "2", "runs"]).threads == 2
    assert parser.parse_args(["--threads", "2", "demo"]).threads == 2
    assert parser.parse_args(["demo", "--threads", "3"]).threads == 3
    assert parser.parse_args(["demo"]).threads is None


def test_aliases_parse_to_the_canonical_options():
    parser = build_parser()
    predict = ["predict", "--run", "r", "--out", "o.h5"]
    assert parser.parse_args([*predict, "--input", "f.h5"]) == parser.parse_args(
        [*predict, "--data", "f.h5"]
    )
    assert "--input" not in SUBCOMMANDS["predict"].format_help()  # hidden: --data is the name
    report = parser.parse_args(["report", "a", "--run", "b", "--run", "c"])
    assert [*report.run_dir, *report.run] == ["a", "b", "c"]


@pytest.mark.parametrize("command", ["configs", "presets"])
def test_name_and_show_print_the_same(command, capsys):
    assert main([command, "tiny"]) == 0
    positional = capsys.readouterr().out
    assert main([command, "--show", "tiny"]) == 0
    assert capsys.readouterr().out == positional
    assert "tiny" in positional and len(positional.splitlines()) > 3
    assert main([command, "tiny", "--show", "nope"]) == 2
    assert "not both" in capsys.readouterr().err


def test_info_takes_the_file_as_data_or_positional(tmp_path, capsys):
    data = tmp_path / "tiny.h5"
    argv = ["generate", "--preset", "tiny", "--set", "n_trajectories=1", "--set", "n_frames=3"]
    assert main([*argv, "--out", str(data), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(data)]) == 0
    positional = capsys.readouterr().out
    assert main(["info", "--data", str(data)]) == 0
    assert capsys.readouterr().out == positional
    assert main(["info"]) == 2
    assert "give the file" in capsys.readouterr().err


def test_python_dash_m_runs_the_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["spectral-refiner", "--version"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("spectral_refiner.cli", run_name="__main__")
    assert done.value.code == 0 and capsys.readouterr().out.startswith("spectral-refiner ")

"""research.cli_parser: the parser apart from the commands; research.cli runs its own names."""

from __future__ import annotations

import argparse

import pytest

from research import cli, cli_commands, cli_parser


def test_every_command_runs_its_cmd_function():
    parser = cli_parser.build_parser()
    argv = {"ingest": ["survey.csv"], "simulate": ["--n", "5", "--seed", "1", "--out", "x"],
            "bulletin": ["--period", "week", "--at", "2024-01-01"]}
    for name in cli_parser.COMMANDS:
        args = parser.parse_args([name, *argv.get(name, [])])
        assert args.command == name and args.func is getattr(cli_commands, f"cmd_{name}")


def test_cli_build_parser_looks_the_commands_up_in_research_cli(monkeypatch):
    def replaced(args: argparse.Namespace) -> int:
        return 0

    monkeypatch.setattr(cli, "cmd_verify", replaced)
    assert cli.build_parser().parse_args(["verify"]).func is replaced
    assert cli_parser.build_parser().parse_args(["verify"]).func is cli_commands.cmd_verify


def test_a_missing_command_function_is_a_programming_error():
    with pytest.raises(KeyError):
        cli_parser.build_parser({"ingest": cli_commands.cmd_ingest})


@pytest.mark.parametrize("text, message", [("1e3", "not a whole number: '1e3'"), ("0", "must be at least 1"),
                                           ("20000001", "at most 20,000,000 surveys")])
def test_simulate_n_type(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cli_parser._simulate_n(text)


def test_reps_type_accepts_plain_digits_up_to_the_plan_bound():
    from research.config.plan_specs import MAX_BOOTSTRAP_REPS

    assert cli_parser._reps("0") == 0 and cli_parser._reps(str(MAX_BOOTSTRAP_REPS)) == MAX_BOOTSTRAP_REPS
    for bad in ("-1", "１０", str(MAX_BOOTSTRAP_REPS + 1), "3.0"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli_parser._reps(bad)

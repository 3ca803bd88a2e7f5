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


@pytest.mark.parametrize("option, values", [("--period", "{day,week,month}"), ("--lang", "{zh,en}")])
def test_bulletin_help_lists_the_choices(option, values):
    text = cli_parser.build_parser()._subparsers._group_actions[0].choices["bulletin"].format_help()
    assert f"{option} {values}" in text


@pytest.mark.parametrize("argv, error", [
    (["--period", "year"], "argument --period: invalid choice: 'year' (choose from 'day', 'week', 'month')"),
    (["--period", "week", "--lang", "fr"], "argument --lang: invalid choice: 'fr' (choose from 'zh', 'en')"),
    (["--period", "w" * 5000], "argument --period: invalid choice: '" + "w" * 20 + "...' (choose from"),
])
def test_a_wrong_choice_is_one_usage_error_exit_2(argv, error, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bulletin", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("research bulletin: error: ") and error in last and len(last) < 160
    assert "Traceback" not in err


def test_the_choices_are_the_bulletin_s_own():
    """The parser offers exactly what run_bulletin accepts (the periods and the languages of words/)."""
    from research.artifacts.words import LANGS
    from research.stats.periods import PERIODS

    args = cli_parser.build_parser().parse_args(["bulletin", "--period", "month"])
    assert args.lang == LANGS[0] == "zh"
    bulletin = cli_parser.build_parser()._subparsers._group_actions[0].choices["bulletin"]
    choices = {a.dest: tuple(a.choices) for a in bulletin._actions if a.choices}
    from research.bulletin.run import ENGINES

    assert choices == {"period": PERIODS, "lang": LANGS, "engine": ENGINES}

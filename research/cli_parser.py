"""The ``research`` command line's parser: one sub-parser per command, and the argument types
that check a value before any work starts (argparse reports their message as a usage error, exit 2).

In: nothing (:func:`build_parser`) or one argument's text (the types). Out: the
:class:`argparse.ArgumentParser` whose sub-commands carry their ``cmd_*`` function
(:mod:`research.cli_commands`) as ``func``, or the checked value. The commands are documented in
:mod:`research.cli`. Options with a closed set of values declare it (``choices``), so ``--help``
lists the values and a wrong one is argparse's one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable, Mapping
from importlib import metadata

from research import paths
from research.artifacts.words import LANGS
from research.stats.periods import PERIODS

#: largest ``simulate --n``: the simulator holds every row in memory (about 2.5 GB per million
#: completed surveys with their work orders), so a larger request is refused before allocating
MAX_SIMULATE_N = 20_000_000
#: seeds numpy's generators accept from the command line (they refuse negative seeds)
SEED_MAX = 2**32 - 1
#: ``--engine`` of reproduce and verify (research.engines.ENGINES and the size rule ``auto``)
ENGINE_CHOICES = ("auto", "pandas", "duckdb", "spark")


def _shown(text: str) -> str:
    """A command-line value quoted for a message, cut to 20 characters (a pasted
    file or a 5,000-digit number must not flood the terminal)."""
    return repr(text if len(text) <= 20 else text[:20] + "...")


def _clipped(text: str) -> str:
    """A value checked against ``choices``, cut to 20 characters so that argparse's "invalid
    choice" message cannot flood the terminal (no choice is that long)."""
    return text if len(text) <= 20 else text[:20] + "..."


def _whole(text: str) -> int:
    """A whole number from an argument (``1e3`` or ``2.5`` is refused); argparse.ArgumentTypeError
    names the problem."""
    try:
        return int(text)
    except ValueError:  # also raised for numbers longer than Python's 4,300-digit limit
        raise argparse.ArgumentTypeError(f"not a whole number: {_shown(text)}") from None


def _positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _simulate_n(text: str) -> int:
    """``simulate --n``: a whole number in [1, :data:`MAX_SIMULATE_N`]."""
    value = _positive_int(text)
    if value > MAX_SIMULATE_N:
        raise argparse.ArgumentTypeError(f"at most {MAX_SIMULATE_N:,} surveys in one run, got {value:,} "
                                         "(larger exports: several runs with other seeds; --chunk-rows bounds "
                                         "the memory of one)")
    return value


def _seed(text: str) -> int:
    """A random seed: a whole number in [0, :data:`SEED_MAX`] (numpy refuses negative seeds)."""
    value = _whole(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {SEED_MAX:,}, got {value:,}")
    return value


def _fraction(text: str) -> float:
    """``simulate --faults``: a finite number in [0, 0.5)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}") from None
    if not 0.0 <= value < 0.5:  # also refuses nan (every comparison with nan is false)
        raise argparse.ArgumentTypeError(f"must be in [0, 0.5), got {value}")
    return value


def _reps(text: str) -> int:
    """``--reps N``: a whole number from 0 to research.config.plan.MAX_BOOTSTRAP_REPS."""
    from research.config.plan import MAX_BOOTSTRAP_REPS

    if not text.isascii() or not text.isdigit() or int(text) > MAX_BOOTSTRAP_REPS:
        raise argparse.ArgumentTypeError(f"a whole number from 0 to {MAX_BOOTSTRAP_REPS:,} is expected")
    return int(text)


def package_version() -> str:
    """The version of the package being run.

    In a checkout (:func:`research.paths.in_checkout`), ``[project] version`` of its
    ``pyproject.toml``: the installed distribution's metadata may belong to another copy (an editable
    install of another worktree) or predate a version change. Otherwise the installed
    distribution's version (:func:`importlib.metadata.version`); ``"unknown"`` when neither is there.
    """
    if paths.in_checkout():
        try:
            with open(paths.project_root() / "pyproject.toml", "rb") as fh:
                version = tomllib.load(fh).get("project", {}).get("version")
            if isinstance(version, str) and version:
                return version
        except (OSError, tomllib.TOMLDecodeError):
            pass
    try:
        return metadata.version("research")
    except metadata.PackageNotFoundError:
        return "unknown"


def version_text() -> str:
    """``research --version``: ``research <version>``, then one line per instrument, plan and
    report template saying which copy is used (:func:`research.paths.where`)."""
    lines = [f"research {package_version()}"]
    lines += [f"{what}: {path} ({source})" for what, path, source in paths.where()]
    return "\n".join(lines) + "\n"


class _VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0, read only when asked (argparse's own
    ``version`` action takes a string fixed when the parser is built)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(version_text(), sys.stdout)
        parser.exit(0)


#: the sub-commands, in the order ``research --help`` lists them
COMMANDS = ("ingest", "simulate", "fit", "weight", "bulletin", "reproduce", "verify", "publish", "list")


def build_parser(commands: Mapping[str, Callable[[argparse.Namespace], int]] | None = None
                 ) -> argparse.ArgumentParser:
    """The ``research`` parser.

    Parameters
    ----------
    commands : command name (:data:`COMMANDS`) -> the function run for it, set as the parsed
        arguments' ``func``; default the ``cmd_*`` functions of :mod:`research.cli_commands`
        (:func:`research.cli.build_parser` passes its own names, so replacing one there works).
    """
    if commands is None:
        from research import cli_commands

        commands = {name: getattr(cli_commands, f"cmd_{name}") for name in COMMANDS}
    parser = argparse.ArgumentParser(
        prog="research",
        description="Complaint work orders and satisfaction surveys: ingest, models, report.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version and where the instrument, the plan and the report "
                        "templates are read from, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    adders = {"ingest": _add_ingest, "simulate": _add_simulate, "fit": _add_fit, "weight": _add_weight,
              "bulletin": _add_bulletin, "reproduce": _add_reproduce, "verify": _add_verify,
              "publish": _add_publish, "list": _add_list}
    for name in COMMANDS:
        adders[name](sub, commands[name])
    return parser


def _add_ingest(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research ingest``: validate, pseudonymise and derive one survey export (and its work orders)."""
    p = sub.add_parser("ingest", help="validate and pseudonymise raw exports",
                       description="Validate, pseudonymise and derive fields. Every row read is "
                       "accepted or rejected with a reason; nothing is dropped silently.")
    p.add_argument("survey", help="survey export: CSV (UTF-8, UTF-8 BOM, GB18030), XLSX or Parquet")
    p.add_argument("--workorders", metavar="FILE", help="work-order export (the surveyed population)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.ingest_dir()})")
    p.add_argument("--dataset", metavar="DIR",
                   help="append the accepted rows to the Parquet dataset in DIR (streamed in chunks of "
                   "RESEARCH_INGEST_CHUNK_ROWS rows, default 200,000; partitioned by month and region; "
                   "DIR/ledger.json lists the exports it holds) instead of writing --out")
    p.add_argument("--replace", action="store_true",
                   help="with --dataset: ingest again an export already in the dataset, replacing its rows")
    p.add_argument("--chunk-rows", metavar="N", type=_positive_int,
                   help="with --dataset: rows per chunk (100 to 100,000,000; default RESEARCH_INGEST_CHUNK_ROWS "
                   "or 200,000): memory is bounded by one chunk")
    p.set_defaults(func=func)


def _add_simulate(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research simulate``: a synthetic export with known truth (--n, --seed, --faults checked)."""
    p = sub.add_parser("simulate", help="write a synthetic export with known truth",
                       description="Write survey.csv, workorders.csv and truth.json from a "
                       "documented data-generating process (see research.simulate).")
    p.add_argument("--n", type=_simulate_n, required=True,
                   help=f"number of completed surveys (1 to {MAX_SIMULATE_N:,})")
    p.add_argument("--seed", type=_seed, required=True, help=f"random seed (0 to {SEED_MAX:,})")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--faults", type=_fraction, default=0.0,
                   help="fraction of survey rows given a planted fault (default 0)")
    p.add_argument("--hard-cases", action="store_true",
                   help="switch on every hard case of the simulator at its documented strength "
                   "(research.simulate.HARD_CASE_DEFAULTS; truth in truth.json['hard_cases'])")
    p.add_argument("--chunk-rows", metavar="R", type=_positive_int,
                   help="write a large export as ceil(N/R) chunks of at most R completed surveys, one at a "
                   "time (memory: one chunk, about 3.2 GB per million): DIR/chunk_0000/{survey.csv,"
                   "workorders.csv,truth.json}, ..., then DIR/chunks.json. Each chunk covers the whole "
                   "period with its own seed from (--seed, chunk); station effects are shared; ticket ids "
                   "(GD + chunk letters + date + sequence) and customer ids are unique across chunks, so "
                   "repeat callers never span two chunks (research.simulate.chunks). Not with --hard-cases.")
    p.set_defaults(func=func)


def _add_fit(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research fit``: fit the analysis plan's models on responses.parquet."""
    p = sub.add_parser("fit", help="fit the analysis plan's models",
                       description="Fit every model of the analysis plan on validated responses and "
                       "write the tidy result tables as CSV.")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", metavar="FILE",
                       help=f"responses.parquet from ingest (default {paths.ingest_dir() / 'responses.parquet'})")
    where.add_argument("--dataset", metavar="DIR",
                       help="a dataset folder of 'research ingest --dataset DIR': every ingest in it")
    p.add_argument("--engine", default="auto", choices=("auto", "pandas", "duckdb", "spark"),
                   help="where the sums are computed: pandas (in memory; every table), duckdb (out of core; "
                        "every table from sums and counts, the thresholds' bootstrap replicates one-step), spark (a Spark "
                        "session: the master from "
                        "RESEARCH_SPARK_MASTER, default local[2]; needs Java 17+); auto (default): duckdb for a "
                        "dataset or more than 2,000,000 responses, pandas otherwise")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'fit'})")
    p.add_argument("--no-thresholds", action="store_true",
                   help="skip the tolerance-threshold analysis and its bootstrap")
    p.set_defaults(func=func)


def _add_weight(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research weight``: response rates, non-response weights and weighted estimates."""
    p = sub.add_parser("weight", help="response rates, non-response weights and weighted estimates",
                       description="Response rates and propensity model from the work orders, non-response "
                                   "weights of the respondents (the plan's weighting section) and design-based "
                                   "weighted estimates; reads build/ingest/ (run 'research ingest SURVEY "
                                   "--workorders FILE' first).")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", metavar="DIR",
                       help=f"folder with responses.parquet and workorders.parquet (default {paths.ingest_dir()})")
    where.add_argument("--dataset", metavar="DIR",
                       help="a dataset folder of 'research ingest --dataset DIR': its responses and work orders, "
                            "counted and summed by group through the engine (weighting methods rake, poststratify, none, "
                            "and ipw, without weight cells: its weights vary with each respondent's hours)")
    p.add_argument("--engine", default="auto", choices=("auto", "pandas", "duckdb", "spark"),
                   help="where the rows are counted: auto (default) is duckdb for --dataset and the row-level "
                        "pandas path (every table) for --data; pandas, duckdb or spark count the groups and "
                        "sum over them (every table but respondent_weights: weight_cells instead; spark: no "
                        "propensity model nor sensitivity tables)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'weights'})")
    p.set_defaults(func=func)


def _add_bulletin(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research bulletin``: the daily statistics, weekly bulletin or monthly supervision."""
    p = sub.add_parser("bulletin", help="daily statistics, weekly bulletin, monthly supervision",
                       description="日统计、周通报、月督导: volumes, satisfied rate, resolution within target and "
                                   "repeat callers for one day, ISO week or month against the previous period and "
                                   "the same period last year, with out-of-control stations and recurring "
                                   "complaints (week) and the adjusted station ranking (month). Reads "
                                   "build/ingest/ (run 'research ingest SURVEY --workorders FILE' first).")
    p.add_argument("--period", required=True, type=_clipped, choices=PERIODS,
                   help="a day, an ISO week (Monday to Sunday) or a calendar month")
    p.add_argument("--at", metavar="DATE", help="a date in the period (YYYY-MM-DD); default: the last whole "
                   "period the data cover")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'bulletin'})")
    p.add_argument("--lang", default=LANGS[0], type=_clipped, choices=LANGS,
                   help=f"language of the bulletin (default {LANGS[0]})")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", metavar="DIR",
                       help=f"folder with responses.parquet and workorders.parquet (default {paths.ingest_dir()})")
    where.add_argument("--dataset", metavar="DIR",
                       help="a dataset folder of 'research ingest --dataset DIR': the bulletin reads every "
                            "ingest in it")
    p.add_argument("--engine", default="auto", type=_clipped, choices=("auto", "pandas", "duckdb", "spark"),
                   help="pandas: every row in memory; duckdb (a --dataset only): DuckDB reads the rows of the "
                        "period's time windows and aggregates the rest, the same files with bounded memory; "
                        "spark (a --dataset only, a Java runtime 17+): the same through Spark, master from "
                        "RESEARCH_SPARK_MASTER (default local[2]); "
                        "auto (default): duckdb for a --dataset, pandas otherwise")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML whose conf_level and bulletin section "
                   "(ranking fixed effects, repeat-caller rows) are used (default paper/analysis_plan.yaml)")
    p.set_defaults(func=func)


def _add_reproduce(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research reproduce``: rebuild every output from the raw exports."""
    p = sub.add_parser("reproduce", help="rebuild every output from the raw exports",
                       description="Rebuild every output from the raw exports; by default the "
                       "committed synthetic sample in data/raw/.")
    p.add_argument("--survey", metavar="FILE", help="survey export (default: the committed sample)")
    p.add_argument("--workorders", metavar="FILE", help="work-order export (default: the sample's)")
    p.add_argument("--out", metavar="DIR", help=f"output root (default {paths.build_dir()}); its entries "
                   "ingest/ fit/ weights/ strategy/ tables/ figures/ report/ values.csv manifest.json are "
                   "replaced, anything else in it is left alone")
    p.add_argument("--dataset", metavar="DIR",
                   help="read a dataset folder of 'research ingest --dataset DIR' instead of the exports: "
                   "every ingest in it, its ledger's files recorded as the manifest's inputs (not with "
                   "--survey or --workorders)")
    p.add_argument("--engine", default="auto", type=_clipped, choices=ENGINE_CHOICES,
                   help="where the fit's models, predictions and marginal effects are computed: pandas (in "
                   "memory, the published numbers), duckdb or spark (from sums; Brant tests, sub-cause ranks "
                   "and thresholds still from the rows); auto (default): duckdb for a --dataset or more than "
                   "2,000,000 responses, pandas otherwise. Recorded in the manifest")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    p.add_argument("--reps", metavar="N", type=_reps,
                   help="a quick look: every bootstrap, permutation and calibration draws N replicates "
                   "instead of the plan's (recorded in the manifest; such a build cannot be published and "
                   "does not verify against the committed manifest)")
    p.set_defaults(func=func)


def _add_verify(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research verify``: rebuild and compare with the committed manifest, or check a build folder."""
    p = sub.add_parser("verify", help="rebuild and compare with the committed manifest",
                       description="Rebuild from the inputs the manifest names into a temporary folder and "
                       "compare every artifact; exit 1 on any difference, 2 on a malformed manifest. The "
                       "plan is the one given with --plan (default paper/analysis_plan.yaml), never the "
                       "path a manifest names: its sha256 is compared with the manifest's. With --built DIR, "
                       "nothing is rebuilt: the folder is checked against its own manifest.json (exit 2 "
                       "when it is marked incomplete or being rebuilt).")
    p.add_argument("--manifest", metavar="FILE", help="manifest to check (default paper/manifest.json)")
    p.add_argument("--plan", metavar="FILE", help="analysis plan to rebuild with (default "
                   "paper/analysis_plan.yaml)")
    p.add_argument("--built", metavar="DIR", help="check this build folder against its own manifest.json, "
                   "without rebuilding")
    p.add_argument("--keep", metavar="DIR", help="rebuild into DIR and keep it (default: a temporary folder, "
                   "removed afterwards)")
    p.add_argument("--artifact", metavar="ID", help="report only this artifact: an id such as T04 or F10, or "
                   "a path such as fit/estimates.csv")
    p.add_argument("--reps", metavar="N", type=_reps,
                   help="rebuild with N replicates everywhere (to check a manifest built with reproduce --reps N)")
    p.add_argument("--engine", type=_clipped, choices=ENGINE_CHOICES,
                   help="rebuild with this engine (default: the manifest's, pandas when it names none); "
                   "another engine's numbers are compared within the manifest's tolerances")
    p.set_defaults(func=func)


def _add_publish(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research publish``: make a build the published one."""
    p = sub.add_parser("publish", help="make a build the published one (paper/manifest.json, paper/results/)",
                       description="Copy a build's manifest.json to paper/manifest.json and its compared result "
                       "CSVs to paper/results/, which 'research verify' compares cell by cell within the "
                       "tolerances the manifest states. Refuses a build made from a working tree with "
                       "uncommitted changes unless --allow-dirty (then recorded in the manifest).")
    p.add_argument("--built", metavar="DIR", help=f"the build folder (default {paths.build_dir()})")
    p.add_argument("--allow-dirty", action="store_true",
                   help="publish a build made from uncommitted changes (recorded as such)")
    p.set_defaults(func=func)


def _add_list(sub, func: Callable[[argparse.Namespace], int]) -> None:
    """``research list``: list the registered tables and figures."""
    p = sub.add_parser("list", help="list the registered tables and figures")
    p.set_defaults(func=func)

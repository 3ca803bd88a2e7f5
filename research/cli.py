"""The ``research`` command line.

Commands
--------
research ingest SURVEY [--workorders FILE] [--out DIR | --dataset DIR [--replace] [--chunk-rows N]]
    Validate, pseudonymise and derive; write responses.parquet,
    workorders.parquet, rejected.csv and ingest_report.json; with --dataset, append
    the accepted rows to a Parquet dataset partitioned by month and region instead, streamed
    (:mod:`research.ingestion.dataset`; an export already in it is refused unless --replace).
research simulate --n N --seed S --out DIR [--faults F] [--chunk-rows R]
    Write a synthetic survey export, work-order export and truth.json.
research fit [--plan FILE] [--data responses.parquet | --dataset DIR] [--engine E] [--out DIR] [--no-thresholds]
    Fit the analysis plan; write estimates.csv, model_fit.csv, predictions.csv,
    marginal_effects.csv and the other result tables (E: auto, pandas, duckdb,
    spark; with DuckDB or Spark from per-group sums, research.engines).
research weight [--plan FILE] [--data DIR | --dataset DIR] [--engine E] [--out DIR]
    Response rates, non-response weights and weighted estimates (weights/); with
    --dataset from counts and sums (research.representativeness.at_scale).
research bulletin --period day|week|month [--at DATE] [--out DIR] [--lang zh|en] [--data DIR | --dataset DIR]
                  [--engine E] [--plan FILE]
    The daily statistics / weekly bulletin / monthly supervision (HTML, DOCX, CSV).
research reproduce [--survey FILE] [--workorders FILE | --dataset DIR] [--engine E] [--out DIR] [--plan FILE] [--reps N]
    Rebuild everything from the raw exports (default: the committed sample) or a dataset:
    ingest, fit, representativeness, levers and drivers, tables, figures,
    named values, report, manifest. Builds into a staging folder under a lock
    and moves the outputs into place only when every stage succeeded.
research verify [--manifest FILE] [--plan FILE] [--keep DIR] [--artifact ID] [--engine E] | verify --built DIR
    Rebuild into a temporary folder and compare with the committed manifest;
    or (--built) check a build folder against its own manifest.json. Compared
    CSVs that differ in bytes are compared cell by cell with paper/results/
    within the tolerances the manifest states.
research publish [--built DIR] [--allow-dirty]
    Make a build the published one: paper/manifest.json and paper/results/.
research list
    The registered tables and figures.
research --version
    The package version, then where the instrument, the default plan and the report templates
    are read from (the checkout's copies, else those installed with the package;
    :func:`research.paths.where`).

Every failure ends with one line on standard error, ``research COMMAND:
error: ...``, and exit code 2 (an interrupt: 130); never a traceback:

- bad input (:class:`research.errors.InputError`): the message names the file
  and the row, line, column or key;
- an operating-system error (disk full, permission denied, a path through a
  file, a read-only file system): the file and the system's reason;
- running out of memory: says so and suggests a smaller input;
- anything else is an internal error: the line gives the exception's type
  only, never its message text (it may quote data values, customer ids or
  phone numbers); ``RESEARCH_DEBUG=1`` in the environment re-raises it with
  its traceback.

``--out`` is checked before any work starts: an existing file, or a folder
that cannot be created or written, is refused at once.
``simulate --n`` is at most :data:`MAX_SIMULATE_N` and ``--seed`` is in
``[0, 2**32 - 1]``; ``bulletin --period`` and ``--lang`` take only the values ``--help`` lists
(argparse's usage error, exit 2, otherwise).

The parser and its argument types are in :mod:`research.cli_parser`, the commands in
:mod:`research.cli_commands`; this module is the entry point and turns every failure into one
line (every name of those modules stays importable from here).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from research import cli_parser
# re-exported: scripts and tests import the commands, the parser and its argument types from here
from research.cli_commands import (_progress, _read_parquet, cmd_bulletin, cmd_fit,  # noqa: F401
                                   cmd_ingest, cmd_list, cmd_publish, cmd_reproduce, cmd_simulate,
                                   cmd_verify, cmd_weight)
from research.cli_parser import (COMMANDS, MAX_SIMULATE_N, SEED_MAX, _fraction, _positive_int,  # noqa: F401
                                 _reps, _seed, _shown, _simulate_n, _whole)
from research.safeio import os_reason, writable_folder
from research.errors import InputError

__all__ = ["MAX_SIMULATE_N", "SEED_MAX", "build_parser", "cmd_bulletin", "cmd_fit", "cmd_ingest", "cmd_list",
           "cmd_publish", "cmd_reproduce", "cmd_simulate", "cmd_verify", "cmd_weight", "main"]


def _check_out(out: Path) -> None:
    """Refuse an unusable ``--out`` before any work starts (:func:`research.safeio.writable_folder`:
    an existing file, a folder that cannot be created or written; created when absent)."""
    writable_folder(out, "--out")


def _os_message(exc: OSError) -> str:
    """One line for an OSError that reached :func:`main`: the file(s) and the reason."""
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    where = " -> ".join(files) if files else "an input or output file (the system did not say which)"
    return f"{where}: {os_reason(exc)}"


def _one_line(message: str) -> str:
    """The message on one line (a multi-line message would read as several errors)."""
    return " ".join(str(message).split()) or "failed (no detail given)"


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (:func:`research.cli_parser.build_parser`) running this module's
    ``cmd_*`` functions, looked up when it is built: replacing one here (a test, a wrapper
    script) is what ``main`` runs."""
    return cli_parser.build_parser({name: globals()[f"cmd_{name}"] for name in COMMANDS})


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's final flush after a broken
    pipe does not print a second error (the recipe of the Python ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured in tests)
        pass


def _debug() -> bool:
    """``RESEARCH_DEBUG`` set to anything but empty or 0: unexpected errors keep their traceback."""
    return os.environ.get("RESEARCH_DEBUG", "").strip() not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``research`` console script.

    Parameters
    ----------
    argv : the arguments after ``research`` (default: ``sys.argv[1:]``).

    Returns
    -------
    The exit code: 0 success, 1 ``verify`` found differences, 2 any failure (one line on
    standard error, see the module docstring), 130 interrupted. Usage errors exit 2 through
    argparse (``SystemExit``), with argparse's usage line and one error line naming the option.
    """
    parser = build_parser()
    args = parser.parse_args(argv)

    def fail(message: str) -> int:
        print(f"research {args.command}: error: {_one_line(message)}", file=sys.stderr, flush=True)
        return 2

    try:
        if getattr(args, "out", None):
            _check_out(Path(args.out))
        return args.func(args)
    except InputError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print(f"research {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if _debug():
            raise
        return fail("out of memory: the input (or a bootstrap the plan asks for) is too large for this "
                    "machine; try a smaller input or fewer replicates")
    except BrokenPipeError:  # the reader of standard output went away (``research list | head -1``)
        _silence_stdout()
        return fail("standard output was closed before everything was written (broken pipe)")
    except OSError as exc:  # disk full, permission denied, read-only file system, a path through a file
        if _debug():
            raise
        return fail(_os_message(exc))
    except Exception as exc:  # noqa: BLE001 -- the project's rule: every failure is exit 2 and one line
        if _debug():
            raise
        # The exception's text is NOT shown: library messages can quote data values (a customer
        # id, a phone number, a cell), and nothing past ingest may print personal data.
        return fail(f"internal error ({type(exc).__name__}); set RESEARCH_DEBUG=1 to see the traceback "
                    "and please report it")


if __name__ == "__main__":
    sys.exit(main())

"""The ``research`` command line.

Commands
--------
research ingest SURVEY [--workorders FILE] [--out DIR]
    Validate, pseudonymise and derive; write responses.parquet,
    workorders.parquet, rejected.csv and ingest_report.json.
research simulate --n N --seed S --out DIR [--faults F]
    Write a synthetic survey export, work-order export and truth.json.
research fit [--plan FILE] [--data responses.parquet] [--out DIR] [--no-thresholds]
    Fit the analysis plan; write estimates.csv, model_fit.csv, predictions.csv,
    marginal_effects.csv and the other result tables.
research weight [--plan FILE] [--data DIR] [--out DIR]
    Response rates, non-response weights and weighted estimates (weights/).
research bulletin --period day|week|month --at DATE [--out DIR] [--lang zh|en] [--data DIR] [--plan FILE]
    The daily statistics / weekly bulletin / monthly supervision (HTML, DOCX, CSV).
research reproduce [--survey FILE] [--workorders FILE] [--out DIR] [--plan FILE]
    Rebuild everything from the raw exports (default: the committed sample):
    ingest, fit, representativeness, levers and drivers, tables, figures,
    named values, report, manifest. Builds into a staging folder under a lock
    and moves the outputs into place only when every stage succeeded.
research verify [--manifest FILE] [--plan FILE] [--keep DIR] [--artifact ID] | verify --built DIR
    Rebuild into a temporary folder and compare with the committed manifest;
    or (--built) check a build folder against its own manifest.json. Compared
    CSVs that differ in bytes are compared cell by cell with paper/results/
    within the tolerances the manifest states.
research publish [--built DIR] [--allow-dirty]
    Make a build the published one: paper/manifest.json and paper/results/.
research list
    The registered tables and figures.

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
``[0, 2**32 - 1]``.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from research import paths
from research.errors import InputError


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: largest ``simulate --n``: the simulator holds every row in memory (about 2.5 GB per million
#: completed surveys with their work orders), so a larger request is refused before allocating
MAX_SIMULATE_N = 20_000_000
#: seeds numpy's generators accept from the command line (they refuse negative seeds)
SEED_MAX = 2**32 - 1


def _shown(text: str) -> str:
    """A command-line value quoted for a message, cut to 20 characters (a pasted
    file or a 5,000-digit number must not flood the terminal)."""
    return repr(text if len(text) <= 20 else text[:20] + "...")


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
        raise argparse.ArgumentTypeError(f"at most {MAX_SIMULATE_N:,} surveys (the simulator keeps every row "
                                         f"in memory), got {value:,}")
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


def _check_out(out: Path) -> None:
    """Refuse an unusable ``--out`` before any work starts.

    Parameters
    ----------
    out : the folder given with ``--out``.

    Raises
    ------
    InputError
        ``out`` is an existing file (or other non-folder), it cannot be created (a path
        through a file, a read-only file system, no permission), or it is not writable.
        The folder is created when it does not exist.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out must be a folder, but this path is an existing file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the --out folder ({_os_reason(exc)})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"{out}: the --out folder is not writable (permission denied)")


def _os_reason(exc: OSError) -> str:
    """The system's reason for an OSError (``strerror`` and the errno name), never its free text."""
    name = errno.errorcode.get(exc.errno or -1)
    if exc.strerror:
        return f"{exc.strerror} [{name}]" if name else exc.strerror
    return f"operating-system error {type(exc).__name__}" + (f" [{name}]" if name else "")


def _os_message(exc: OSError) -> str:
    """One line for an OSError that reached :func:`main`: the file(s) and the reason."""
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    where = " -> ".join(files) if files else "an input or output file (the system did not say which)"
    return f"{where}: {_os_reason(exc)}"


def _one_line(message: str) -> str:
    """The message on one line (a multi-line message would read as several errors)."""
    return " ".join(str(message).split()) or "failed (no detail given)"


def cmd_ingest(args: argparse.Namespace) -> int:
    from research.ingestion.run import format_report, ingest, timed, write_ingest

    progress = timed(_progress)
    result = ingest(args.survey, args.workorders, progress=progress)
    out = Path(args.out) if args.out else paths.ingest_dir()
    progress(f"writing {out}")
    written = write_ingest(result, out)
    print(format_report(result.report))
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from research.simulate import hard_case_params, simulate, write_simulation

    _progress(f"simulating {args.n:,} survey responses (seed {args.seed})")
    params = hard_case_params() if getattr(args, "hard_cases", False) else None
    sim = simulate(args.n, args.seed, faults=args.faults, params=params)
    written = write_simulation(sim, args.out)
    counts = sim.truth.get("counts", {})
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    if counts:
        print("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if isinstance(v, int)))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.models.run import fit_plan, single_cluster_models, summarize, write_results
    from research.config.plan import load_plan

    progress = timed(_progress)
    data = Path(args.data) if args.data else paths.ingest_dir() / "responses.parquet"
    responses = _read_parquet(data, "responses")  # columns and types checked against research.ingestion.schema
    plan = load_plan(args.plan)
    progress(f"fitting {len(plan.models)} models on {len(responses):,} responses")
    from research.pipeline.reproduce import one_blas_thread

    try:
        with one_blas_thread():  # the same sums, in the same order, as research reproduce
            results = fit_plan(responses, plan=plan, progress=progress, thresholds=not args.no_thresholds)
    except InputError as exc:  # the models' messages say "responses"; the user wants the file
        text = str(exc)
        raise InputError(f"{data}: {text.removeprefix('responses: ')}") from None
    out = Path(args.out) if args.out else paths.build_dir() / "fit"
    written = write_results(results, out, plan=plan)
    for var, models in single_cluster_models(results["model_fit"]).items():
        # one line, as for errors; the reason is in notes.csv and in each estimate's method
        print(f"research fit: warning: a single {var} in {data.name}: standard errors of {', '.join(models)} are "
              f"model-based, not clustered by {var} (see notes.csv in {out})", file=sys.stderr, flush=True)
    print(summarize(results))
    print(f"wrote {len(written)} files to {out}")
    return 0


def _read_parquet(path: Path, what: str):
    from research.ingestion.readers import read_ingested

    return read_ingested(path, what)


def cmd_weight(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.representativeness.run import analyse_representativeness, write_representativeness

    progress = timed(_progress)
    folder = Path(args.data) if args.data else paths.ingest_dir()
    responses = _read_parquet(folder / "responses.parquet", "responses")
    workorders = _read_parquet(folder / "workorders.parquet", "work-order")
    plan = load_plan(args.plan)
    spec = plan.weighting
    progress(f"weighting {len(responses):,} respondents to {len(workorders):,} work orders ({spec.method})")
    results = analyse_representativeness(responses, workorders, plan=plan, instrument=load_instrument(),
                                         progress=progress)
    out = Path(args.out) if args.out else paths.build_dir() / "weights"
    written = write_representativeness(results, out)
    we = results["weighted_estimates"]
    o = we[(we["variable"] == "satisfied") & (we["domain"] == "overall")].iloc[0]
    ws = results["weight_summary"].iloc[0]
    print(f"satisfied rate: weighted {100 * o['estimate']:.1f}% (95% CI {100 * o['conf_low']:.1f} to "
          f"{100 * o['conf_high']:.1f}), unweighted {100 * o['estimate_unweighted']:.1f}%")
    print(f"weights: {ws['description']}; design effect {ws['deff']:.2f}, effective n {ws['n_eff']:,.0f}, "
          f"max weight {ws['max']:.2f}")
    print(f"wrote {len(written)} files to {out}")
    return 0


def cmd_bulletin(args: argparse.Namespace) -> int:
    from research.bulletin import run_bulletin

    data = Path(args.data) if args.data else paths.ingest_dir()
    out = Path(args.out) if args.out else paths.build_dir() / "bulletin"
    _progress(f"building the {args.period} bulletin for {args.at} from {data}")
    written = run_bulletin(data, period=args.period, at=args.at, out=out, lang=args.lang,
                           plan_path=Path(args.plan) if args.plan else None)
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.pipeline.reproduce import reproduce

    progress = timed(_progress)
    survey = Path(args.survey) if args.survey else paths.sample_survey()
    workorders = Path(args.workorders) if args.workorders else None
    if workorders is None and args.survey is None and paths.sample_workorders().exists():
        workorders = paths.sample_workorders()
    out = Path(args.out) if args.out else paths.build_dir()
    manifest = reproduce(survey, workorders, out, progress=progress,
                         plan_path=Path(args.plan) if args.plan else None, reps=args.reps)
    print(f"{len(manifest['artifacts'])} artifacts and manifest.json in {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``research verify``: rebuild and compare (default), or ``--built DIR``: check a folder as it is.

    Exit 0 when everything matches, 1 on any difference, 2 (through InputError) on a malformed
    manifest, a folder marked incomplete or being rebuilt, or a missing input.
    """
    from research.ingestion.run import timed
    from research.pipeline.reproduce import verify, verify_built

    if args.built:
        if args.manifest or args.plan or args.keep or args.reps is not None:
            raise InputError("verify --built checks the folder's own manifest.json without rebuilding; "
                             "--manifest, --plan, --keep and --reps do not apply to it")
        ok, rows = verify_built(Path(args.built))
        statuses = ("match", "differs", "missing", "extra", "leftover")
    else:
        ok, rows = verify(Path(args.manifest) if args.manifest else None, progress=timed(_progress),
                          plan_path=Path(args.plan) if args.plan else None,
                          keep=Path(args.keep) if args.keep else None, artifact=args.artifact,
                          reps=args.reps)
        statuses = ("match", "differs", "missing", "extra", "recorded")
    width = max((len(r[0]) for r in rows), default=0)
    for path, status, detail in rows:
        print(f"{status:<9} {path:<{width}}  {detail}")
    counts = {s: sum(1 for r in rows if r[1] == s) for s in statuses}
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    print("verify: every compared artifact matches" if ok else "verify: DIFFERENCES found")
    if args.keep and not args.built:
        print(f"verify: the rebuild is kept in {args.keep}")
    return 0 if ok else 1


def cmd_publish(args: argparse.Namespace) -> int:
    """``research publish``: a build's manifest and compared CSVs become the published ones in paper/."""
    from research.pipeline.reproduce import publish

    written = publish(Path(args.built) if args.built else paths.build_dir(), allow_dirty=args.allow_dirty)
    print(f"published {len(written) - 1} result tables to paper/results/ and {written[-1]}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from research.artifacts.registry import BULLETIN, REGISTRY

    for spec in (*REGISTRY, *BULLETIN.values()):
        print(f"{spec.id}  {spec.kind:<6}  {spec.name:<32} {spec.zh_title} / {spec.en_title}")
    return 0


def _reps(text: str) -> int:
    """``--reps N``: a whole number from 0 to research.config.plan.MAX_BOOTSTRAP_REPS."""
    from research.config.plan import MAX_BOOTSTRAP_REPS

    if not text.isascii() or not text.isdigit() or int(text) > MAX_BOOTSTRAP_REPS:
        raise argparse.ArgumentTypeError(f"a whole number from 0 to {MAX_BOOTSTRAP_REPS:,} is expected")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="research",
        description="Complaint work orders and satisfaction surveys: ingest, models, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="validate and pseudonymise raw exports",
                       description="Validate, pseudonymise and derive fields. Every row read is "
                       "accepted or rejected with a reason; nothing is dropped silently.")
    p.add_argument("survey", help="survey export: CSV (UTF-8, UTF-8 BOM, GB18030), XLSX or Parquet")
    p.add_argument("--workorders", metavar="FILE", help="work-order export (the surveyed population)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.ingest_dir()})")
    p.set_defaults(func=cmd_ingest)

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
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("fit", help="fit the analysis plan's models",
                       description="Fit every model of the analysis plan on validated responses and "
                       "write the tidy result tables as CSV.")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    p.add_argument("--data", metavar="FILE",
                   help=f"responses.parquet from ingest (default {paths.ingest_dir() / 'responses.parquet'})")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'fit'})")
    p.add_argument("--no-thresholds", action="store_true",
                   help="skip the tolerance-threshold analysis and its bootstrap")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("weight", help="response rates, non-response weights and weighted estimates",
                       description="Response rates and propensity model from the work orders, non-response "
                                   "weights of the respondents (the plan's weighting section) and design-based "
                                   "weighted estimates; reads build/ingest/ (run 'research ingest SURVEY "
                                   "--workorders FILE' first).")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    p.add_argument("--data", metavar="DIR",
                   help=f"folder with responses.parquet and workorders.parquet (default {paths.ingest_dir()})")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'weights'})")
    p.set_defaults(func=cmd_weight)

    p = sub.add_parser("bulletin", help="daily statistics, weekly bulletin, monthly supervision",
                       description="日统计、周通报、月督导: volumes, satisfied rate, resolution within target and "
                                   "repeat callers for one day, ISO week or month against the previous period and "
                                   "the same period last year, with out-of-control stations and recurring "
                                   "complaints (week) and the adjusted station ranking (month). Reads "
                                   "build/ingest/ (run 'research ingest SURVEY --workorders FILE' first).")
    p.add_argument("--period", required=True, help="day, week or month")  # run_bulletin checks the value
    p.add_argument("--at", required=True, metavar="DATE", help="a date in the period (YYYY-MM-DD)")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {paths.build_dir() / 'bulletin'})")
    p.add_argument("--lang", default="zh", help="zh (default) or en")
    p.add_argument("--data", metavar="DIR",
                   help=f"folder with responses.parquet and workorders.parquet (default {paths.ingest_dir()})")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML whose conf_level and bulletin section "
                   "(ranking fixed effects, repeat-caller rows) are used (default paper/analysis_plan.yaml)")
    p.set_defaults(func=cmd_bulletin)

    p = sub.add_parser("reproduce", help="rebuild every output from the raw exports",
                       description="Rebuild every output from the raw exports; by default the "
                       "committed synthetic sample in data/raw/.")
    p.add_argument("--survey", metavar="FILE", help="survey export (default: the committed sample)")
    p.add_argument("--workorders", metavar="FILE", help="work-order export (default: the sample's)")
    p.add_argument("--out", metavar="DIR", help=f"output root (default {paths.build_dir()}); its entries "
                   "ingest/ fit/ weights/ strategy/ tables/ figures/ report/ values.csv manifest.json are "
                   "replaced, anything else in it is left alone")
    p.add_argument("--plan", metavar="FILE", help="analysis plan YAML (default paper/analysis_plan.yaml)")
    p.add_argument("--reps", metavar="N", type=_reps,
                   help="a quick look: every bootstrap, permutation and calibration draws N replicates "
                   "instead of the plan's (recorded in the manifest; such a build cannot be published and "
                   "does not verify against the committed manifest)")
    p.set_defaults(func=cmd_reproduce)

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
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("publish", help="make a build the published one (paper/manifest.json, paper/results/)",
                       description="Copy a build's manifest.json to paper/manifest.json and its compared result "
                       "CSVs to paper/results/, which 'research verify' compares cell by cell within the "
                       "tolerances the manifest states. Refuses a build made from a working tree with "
                       "uncommitted changes unless --allow-dirty (then recorded in the manifest).")
    p.add_argument("--built", metavar="DIR", help=f"the build folder (default {paths.build_dir()})")
    p.add_argument("--allow-dirty", action="store_true",
                   help="publish a build made from uncommitted changes (recorded as such)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("list", help="list the registered tables and figures")
    p.set_defaults(func=cmd_list)
    return parser


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

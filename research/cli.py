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
research bulletin --period day|week|month --at DATE [--out DIR] [--lang zh|en] [--data DIR]
    The daily statistics / weekly bulletin / monthly supervision (HTML, DOCX, CSV).
research reproduce [--survey FILE] [--workorders FILE] [--out DIR]
    Rebuild everything from the raw exports (default: the committed sample):
    ingest, fit, representativeness, levers and drivers, tables, figures,
    named values, report, manifest.
research verify [--manifest FILE]
    Rebuild into a temporary folder and compare with the committed manifest.
research list
    The registered tables and figures.

Bad input ends with one message naming the file and the problem, on
standard error, and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from research import paths
from research.errors import InputError


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 0.5:
        raise argparse.ArgumentTypeError(f"must be in [0, 0.5), got {value}")
    return value


def cmd_ingest(args: argparse.Namespace) -> int:
    from research.ingest import format_report, ingest, timed, write_ingest

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
    from research.simulate import simulate, write_simulation

    _progress(f"simulating {args.n:,} survey responses (seed {args.seed})")
    sim = simulate(args.n, args.seed, faults=args.faults)
    written = write_simulation(sim, args.out)
    counts = sim.truth.get("counts", {})
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    if counts:
        print("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if isinstance(v, int)))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    import pandas as pd

    from research.ingest import timed
    from research.models.run import fit_plan, summarize, write_results
    from research.plan import load_plan

    progress = timed(_progress)
    data = Path(args.data) if args.data else paths.ingest_dir() / "responses.parquet"
    if not data.exists():
        raise InputError(f"{data}: responses file not found; run 'research ingest' first")
    try:
        responses = pd.read_parquet(data)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{data}: cannot read the responses ({type(exc).__name__}: {exc})") from None
    plan = load_plan(args.plan)
    progress(f"fitting {len(plan.models)} models on {len(responses):,} responses")
    results = fit_plan(responses, plan=plan, progress=progress, thresholds=not args.no_thresholds)
    out = Path(args.out) if args.out else paths.build_dir() / "fit"
    written = write_results(results, out, plan=plan)
    print(summarize(results))
    print(f"wrote {len(written)} files to {out}")
    return 0


def _read_parquet(path: Path, what: str):
    from research.readers import read_ingested

    return read_ingested(path, what)


def cmd_weight(args: argparse.Namespace) -> int:
    from research.ingest import timed
    from research.instrument import load_instrument
    from research.plan import load_plan
    from research.representativeness import analyse_representativeness, write_representativeness

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
    written = run_bulletin(data, period=args.period, at=args.at, out=out, lang=args.lang)
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from research.ingest import timed
    from research.reproduce import reproduce

    progress = timed(_progress)
    survey = Path(args.survey) if args.survey else paths.sample_survey()
    workorders = Path(args.workorders) if args.workorders else None
    if workorders is None and args.survey is None and paths.sample_workorders().exists():
        workorders = paths.sample_workorders()
    out = Path(args.out) if args.out else paths.build_dir()
    manifest = reproduce(survey, workorders, out, progress=progress)
    print(f"{len(manifest['artifacts'])} artifacts and manifest.json in {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from research.ingest import timed
    from research.reproduce import verify

    ok, rows = verify(Path(args.manifest) if args.manifest else None, progress=timed(_progress))
    width = max(len(r[0]) for r in rows)
    for path, status, detail in rows:
        print(f"{status:<9} {path:<{width}}  {detail}")
    counts = {s: sum(1 for r in rows if r[1] == s) for s in ("match", "differs", "missing", "extra", "recorded")}
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    print("verify: every compared artifact matches" if ok else "verify: DIFFERENCES found")
    return 0 if ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    from research.artifacts.registry import BULLETIN, REGISTRY

    for spec in (*REGISTRY, *BULLETIN.values()):
        print(f"{spec.id}  {spec.kind:<6}  {spec.name:<32} {spec.zh_title} / {spec.en_title}")
    return 0


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
    p.add_argument("--n", type=_positive_int, required=True, help="number of completed surveys")
    p.add_argument("--seed", type=int, required=True, help="random seed")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--faults", type=_fraction, default=0.0,
                   help="fraction of survey rows given a planted fault (default 0)")
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
    p.set_defaults(func=cmd_bulletin)

    p = sub.add_parser("reproduce", help="rebuild every output from the raw exports",
                       description="Rebuild every output from the raw exports; by default the "
                       "committed synthetic sample in data/raw/.")
    p.add_argument("--survey", metavar="FILE", help="survey export (default: the committed sample)")
    p.add_argument("--workorders", metavar="FILE", help="work-order export (default: the sample's)")
    p.add_argument("--out", metavar="DIR", help=f"output root (default {paths.build_dir()})")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("verify", help="rebuild and compare with the committed manifest",
                       description="Rebuild from the inputs the manifest names into a temporary folder and "
                       "compare every artifact; exit 1 on any difference.")
    p.add_argument("--manifest", metavar="FILE", help="manifest to check (default paper/manifest.json)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("list", help="list the registered tables and figures")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``research`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"research {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"research {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild everything from the raw exports, and verify a rebuild against a manifest.

:func:`reproduce` runs the stages in order — ingest, fit, representativeness
(non-response, weights and design-based estimates; whenever a work-order
export is given), levers (improvement scenarios), tables, figures, named values, report, manifest — each
reporting its time through ``progress``. :func:`verify` rebuilds into a temporary folder from the inputs
a manifest names and compares artifact by artifact.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from research import paths
from research.artifacts import registry
from research.artifacts.manifest import build_manifest, compare_manifests, display_path, write_manifest
from research.artifacts.stamp import Stamp, data_hash, git_commit
from research.errors import InputError

Progress = Callable[[str], None]


def manifest_path() -> Path:
    """The committed manifest of the sample: ``paper/manifest.json``."""
    return paths.project_root() / "paper" / "manifest.json"


def reproduce(survey: Path, workorders: Path | None, out_root: Path, *, progress: Progress | None = None,
              plan_path: Path | None = None) -> dict:
    """Rebuild every artifact into ``out_root``; returns the manifest (also written there).

    Layout: ``ingest/``, ``fit/``, ``weights/`` (with a work-order export), ``strategy/``,
    ``tables/``, ``figures/``, ``values.csv``, ``report/``, ``manifest.json``.
    """
    from research.artifacts.bundle import make_bundle
    from research.artifacts.render_figures import write_figure
    from research.artifacts.render_tables import write_table
    from research.artifacts.report import build_report
    from research.artifacts.values import named_values
    from research.ingest import format_report, ingest, write_ingest
    from research.instrument import load_instrument
    from research.models.run import fit_plan, summarize, write_results
    from research.plan import load_plan, plan_path as default_plan

    say = progress or (lambda m: None)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    plan_file = Path(plan_path) if plan_path else default_plan()
    plan, instrument = load_plan(plan_file), load_instrument()
    steps = 9

    t = time.perf_counter()
    say(f"stage 1/{steps}: ingest")
    ing = ingest(survey, workorders, instrument=instrument, progress=say)
    write_ingest(ing, out_root / "ingest")
    say(f"stage 1/{steps}: ingest done in {time.perf_counter() - t:.1f} s")
    print(format_report(ing.report))

    t = time.perf_counter()
    say(f"stage 2/{steps}: fit")
    fit = fit_plan(ing.responses, plan=plan, instrument=instrument, progress=say)
    write_results(fit, out_root / "fit", plan=plan)
    say(f"stage 2/{steps}: fit done in {time.perf_counter() - t:.1f} s")
    print(summarize(fit))

    t = time.perf_counter()
    say(f"stage 3/{steps}: representativeness")
    bundle = make_bundle(ing, fit, plan=plan, instrument=instrument)
    if ing.workorders is not None:
        from research.representativeness import analyse_representativeness, write_representativeness

        rep = analyse_representativeness(ing.responses, ing.workorders, plan=plan, instrument=instrument,
                                         progress=say)
        write_representativeness(rep, out_root / "weights")
        bundle.update(rep)
        say(f"stage 3/{steps}: representativeness done in {time.perf_counter() - t:.1f} s")
    else:
        say(f"stage 3/{steps}: no work-order export: response rates and weights skipped")

    t = time.perf_counter()
    say(f"stage 4/{steps}: levers and key drivers")
    from research.scenarios import run_levers

    weights = calibration = None
    if "respondent_weights" in bundle:
        from research.representativeness import calibration_of, respondent_frame

        weights = bundle["respondent_weights"]["weight"].to_numpy()
        calibration = calibration_of(respondent_frame(ing.responses, plan.weighting), weights, plan.weighting)
    levers = run_levers(ing.responses, plan=plan, instrument=instrument, weights=weights,
                        calibration=calibration, progress=say)
    (out_root / "strategy").mkdir(exist_ok=True)
    levers.to_csv(out_root / "strategy" / "levers.csv", index=False, float_format="%.17g")
    bundle["levers"] = levers
    from research.drivers import key_drivers

    ds = plan.drivers
    data = ing.responses if weights is None else ing.responses.assign(_weight=weights)
    drivers = key_drivers(data, outcome=ds.outcome, weights=None if weights is None else "_weight",
                          bootstrap_reps=ds.bootstrap_reps, seed=ds.bootstrap_seed, cluster=ds.bootstrap_cluster,
                          conf_level=plan.conf_level, progress=say)
    for key in ("importance", "ipa"):
        drivers[key].to_csv(out_root / "strategy" / f"drivers_{key}.csv", index=False, float_format="%.17g")
    bundle["drivers_importance"], bundle["drivers_ipa"] = drivers["importance"], drivers["ipa"]
    from research.monitoring import p_chart, recurrence, repeat_callers

    bundle["p_chart"] = p_chart(ing.responses)
    bundle["p_chart"].to_csv(out_root / "strategy" / "p_chart.csv", index=False, float_format="%.17g")
    if ing.workorders is not None:
        rec = recurrence(ing.workorders)
        bundle["recurrence"] = rec[rec["flagged"]].reset_index(drop=True)
        bundle["recurrence_tested"] = int(len(rec))
        bundle["recurrence"].to_csv(out_root / "strategy" / "recurrence_flags.csv", index=False,
                                    float_format="%.17g")
        bundle["repeat_callers"] = repeat_callers(ing.workorders, ing.responses)
        # customer pseudonyms depend on the local key: recorded in the manifest, not compared
        bundle["repeat_callers"].to_csv(out_root / "strategy" / "repeat_callers.csv", index=False,
                                        float_format="%.17g")
    say(f"stage 4/{steps}: {len(levers)} levers and {len(drivers['importance'])} drivers in "
        f"{time.perf_counter() - t:.1f} s")
    inputs = [{"role": f["role"], "path": display_path(Path(p)), "sha256": f["sha256"]}
              for f, p in zip(ing.report["files"], [survey] + ([workorders] if workorders else []))]
    seed = plan.thresholds.bootstrap_seed if plan.thresholds else 0
    stamp = Stamp(data_sha256=data_hash([i["sha256"] for i in inputs]), commit=git_commit(), seed=seed)

    t = time.perf_counter()
    say(f"stage 5/{steps}: tables")
    for spec in registry.TABLES:
        write_table(spec, bundle, out_root / "tables", stamp)
    say(f"stage 5/{steps}: {len(registry.TABLES)} tables in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 6/{steps}: figures")
    for spec in registry.FIGURES:
        write_figure(spec, bundle, out_root / "figures", stamp)
    say(f"stage 6/{steps}: {len(registry.FIGURES)} figures in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 7/{steps}: named values")
    values = named_values(bundle)
    values.to_csv(out_root / "values.csv", index=False, float_format="%.17g", encoding="utf-8")
    say(f"stage 7/{steps}: {len(values)} named values in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 8/{steps}: report")
    build_report(values, out_root, out_root / "report")
    say(f"stage 8/{steps}: report (zh, en; HTML, DOCX) in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 9/{steps}: manifest")
    manifest = build_manifest(out_root, inputs=inputs, commit=stamp.commit,
                              seeds={"threshold_bootstrap": seed,
                                     "lever_bootstrap": plan.scenarios.bootstrap_seed if plan.scenarios else 0,
                                     "driver_bootstrap": plan.drivers.bootstrap_seed}, plan_path=plan_file, provenance=values)
    write_manifest(manifest, out_root / "manifest.json")
    say(f"stage 9/{steps}: manifest of {len(manifest['artifacts'])} artifacts in {time.perf_counter() - t:.1f} s")
    return manifest


def _input_path(entry: dict) -> Path:
    p = Path(entry["path"])
    return p if p.is_absolute() else paths.project_root() / p


def verify(manifest_file: Path | None = None, *, progress: Progress | None = None,
           keep: Path | None = None) -> tuple[bool, list[tuple[str, str, str]]]:
    """Rebuild from the inputs a manifest names and compare with it.

    Returns (all compared artifacts match, rows of (path, status, detail)).
    """
    manifest_file = Path(manifest_file) if manifest_file else manifest_path()
    if not manifest_file.exists():
        raise InputError(f"{manifest_file}: manifest not found; run 'research reproduce' first")
    try:
        expected = json.loads(manifest_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{manifest_file}: not valid JSON ({exc})") from None
    inputs = {i["role"]: i for i in expected["inputs"]}
    rows = []
    for role, entry in inputs.items():
        path = _input_path(entry)
        if not path.exists():
            raise InputError(f"{manifest_file}: input {role} {path} not found")
        from research.artifacts.manifest import sha256_file

        got = sha256_file(path)
        rows.append((f"input:{entry['path']}", "match" if got == entry["sha256"] else "differs", role))
    plan_file = _input_path(expected["plan"])
    with tempfile.TemporaryDirectory(prefix="research-verify-") as tmp:
        out = Path(keep) if keep else Path(tmp)
        actual = reproduce(_input_path(inputs["survey"]),
                           _input_path(inputs["workorders"]) if "workorders" in inputs else None,
                           out, progress=progress, plan_path=plan_file)
    rows += compare_manifests(expected, actual)
    ok = all(status in ("match", "recorded") for _, status, _ in rows)
    return ok, rows

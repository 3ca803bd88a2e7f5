"""verify survives a change of machine and still catches a real change (issue 12, point 1).

Reference for the tolerances: the differences seen between two processors on the sample
(a threshold of 14.795035346122354 against 14.795035346123187, relative 5.6e-14, reported by a
reviewer on an AMD EPYC) lie far below every tolerance, and a change of one published digit (tables
show at most three decimals) lies far above.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

from research.artifacts.compare import TOLERANCES, cell_rel_diff, compare_csv, describe, tolerance_for
from research.artifacts.manifest import sha256_file, write_manifest
from research.errors import InputError
from research.pipeline.reproduce import publish, results_dir, verify

CSV = b"\xef\xbb\xbfmodel,term,estimate,n\nols,(Intercept),3.8123456789012345,19920\nols,x,-0.25,19920\n"


def _with(text: bytes, old: bytes, new: bytes) -> bytes:
    assert old in text
    return text.replace(old, new)


def test_last_digit_noise_is_within_every_tolerance():
    noisy = _with(CSV, b"3.8123456789012345", b"3.8123456789012558")  # 5.6e-15 relative
    for name, (tol, _) in TOLERANCES.items():
        result = compare_csv(CSV, noisy, rel_tol=tol)
        assert result.ok, name
        assert 0 < result.max_rel_diff < 1e-13
        assert "equal within" in describe(result, name)


def test_one_published_digit_fails_naming_row_column_and_both_values():
    changed = _with(CSV, b"3.8123456789012345", b"3.8133456789012345")  # third decimal as published
    result = compare_csv(CSV, changed, rel_tol=TOLERANCES["bootstrap"][0])
    assert not result.ok
    [d] = result.diffs
    assert (d.row, d.column, d.expected, d.actual) == (1, "estimate", "3.8123456789012345", "3.8133456789012345")
    assert d.rel_diff == pytest.approx(0.001 / 3.8133456789012345, rel=1e-9)
    line = describe(result, "bootstrap")
    assert "row 1 estimate: 3.8123456789012345 vs 3.8133456789012345" in line and "rel 2.6e-04" in line


@pytest.mark.parametrize("old, new", [(b",19920\nols,x", b",19921\nols,x"),  # whole numbers: exact
                                      (b"ols,x", b"ols,y"),  # text: exact
                                      (b"-0.25,", b",")])  # a number against a blank
def test_whole_numbers_text_and_blanks_must_be_identical(old, new):
    result = compare_csv(CSV, _with(CSV, old, new), rel_tol=1e-6)
    assert not result.ok and math.isinf(result.diffs[0].rel_diff)


def test_shape_differences_stop_the_comparison_with_a_reason():
    assert "header" in compare_csv(CSV, _with(CSV, b"estimate", b"est"), rel_tol=1e-6).problem
    assert "3 rows expected, 2 rebuilt" in compare_csv(CSV + b"ols,z,1.0,5\n", CSV, rel_tol=1e-6).problem


def test_missing_values_and_infinities_agree_with_themselves_only():
    assert cell_rel_diff("nan", "NaN") == 0.0 and cell_rel_diff("inf", "inf") == 0.0
    assert math.isinf(cell_rel_diff("inf", "1e308")) and math.isinf(cell_rel_diff("nan", "0.5"))
    assert cell_rel_diff("1e-20", "2e-20") == pytest.approx(0.5)  # relative, but below tol in absolute terms
    assert compare_csv(b"a\n1e-20\n", b"a\n2e-20\n", rel_tol=1e-9).ok


def test_every_compared_csv_of_the_sample_states_its_tolerance(sample_build):
    _, manifest, _ = sample_build
    compared = [a for a in manifest["artifacts"] if a["compare"] and a["path"].endswith(".csv")]
    assert len(compared) > 50
    assert all(a["tolerance"] == tolerance_for(a["path"]) for a in compared)
    assert set(manifest["tolerances"]) == set(TOLERANCES)
    assert tolerance_for("fit/thresholds.csv") == "bootstrap" and tolerance_for("fit/estimates.csv") == "iterative"


def _published(sample_build, tmp_path):
    """A published copy of the session's build (manifest + results/) in tmp_path."""
    build, manifest, _ = sample_build
    target = tmp_path / "paper" / "manifest.json"
    for a in manifest["artifacts"]:
        if a["compare"] and a["path"].endswith(".csv"):
            dest = results_dir(target) / a["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(build / a["path"], dest)
    write_manifest(manifest, target)
    return build, json.loads(json.dumps(manifest)), target


def _republish(manifest, target, path, old, new):
    """Edit one published CSV cell and record the edited bytes in the published manifest, as if the
    published build had been made on another machine."""
    copy = results_dir(target) / path
    copy.write_bytes(_with(copy.read_bytes(), old, new))
    next(a for a in manifest["artifacts"] if a["path"] == path)["sha256"] = sha256_file(copy)
    write_manifest(manifest, target)


def _first_float(path) -> bytes:
    import re

    return re.search(rb"-?\d+\.\d{10,}", path.read_bytes()).group(0)


def test_verify_accepts_last_digit_differences_and_names_a_changed_digit(sample_build, tmp_path, monkeypatch):
    build, manifest, target = _published(sample_build, tmp_path)
    monkeypatch.setattr("research.pipeline.reproduce.reproduce", lambda *a, **k: sample_build[1])  # the rebuild: the session's
    rel = "fit/estimates.csv"
    value = _first_float(build / rel)
    noisy = repr(float(value) * (1 + 3e-14)).encode()
    _republish(manifest, target, rel, value, noisy)
    ok, rows = verify(target, keep=build)
    row = next(r for r in rows if r[0] == rel)
    assert ok and row[1] == "match" and "equal within iterative tolerance" in row[2]

    digit = f"{float(value) + 0.001:.17g}".encode()  # one published (third) decimal
    _republish(manifest, target, rel, noisy, digit)
    ok, rows = verify(target, keep=build, artifact="fit/estimates.csv")
    assert not ok
    assert rows[-1][0] == rel and rows[-1][1] == "differs"
    assert value.decode() in rows[-1][2] and digit.decode() in rows[-1][2]
    # --artifact filters the report; inputs, plan, replicate counts and the engine are always reported
    assert [r[0] for r in rows if not r[0].startswith("input:") and r[0] not in ("replicates", "platform", "engine")] == [rel]


def test_verify_artifact_id_selects_its_files_and_an_unknown_id_is_refused(sample_build, tmp_path, monkeypatch):
    build, manifest, target = _published(sample_build, tmp_path)
    monkeypatch.setattr("research.pipeline.reproduce.reproduce", lambda *a, **k: sample_build[1])
    ok, rows = verify(target, keep=build, artifact="T04")
    names = {r[0] for r in rows if not r[0].startswith("input:") and r[0] not in ("replicates", "platform", "engine")}
    assert ok and names and all(n.split("/")[-1].startswith("T04_") for n in names)
    with pytest.raises(InputError, match="no artifact"):
        verify(target, keep=build, artifact="T99")


def test_publish_refuses_a_dirty_build_unless_asked_and_records_it(sample_build, tmp_path, monkeypatch):
    build, manifest, _ = sample_build
    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    m = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    m["git_commit"] = "0123456789+dirty"
    write_manifest(m, copy / "manifest.json")
    target = tmp_path / "paper" / "manifest.json"
    target.parent.mkdir()
    monkeypatch.setattr("research.pipeline.verify.manifest_path", lambda: target)
    with pytest.raises(InputError, match="uncommitted changes"):
        publish(copy)
    assert not target.exists()
    written = publish(copy, allow_dirty=True)
    published = json.loads(target.read_text(encoding="utf-8"))
    assert published["published_dirty"] is True and target in written
    assert (results_dir(target) / "fit" / "estimates.csv").read_bytes() == (build / "fit" / "estimates.csv").read_bytes()


def test_the_pipeline_runs_with_one_blas_thread():
    # issue 12: sums in a fixed order. Inside research.pipeline.reproduce.one_blas_thread every BLAS library
    # threadpoolctl sees runs one thread, and the previous limits come back afterwards.
    # The suite runs one BLAS thread (conftest.pytest_configure): two here, so that the limit and
    # its undoing show; scipy's OpenBLAS loaded first, so that the same libraries are listed throughout.
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    from research.pipeline.reproduce import one_blas_thread

    with threadpool_limits(limits=2, user_api="blas"):
        before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        with one_blas_thread():
            inside = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert before and set(before) == {2}
    assert inside and set(inside) == {1}
    assert after == before


def test_reps_sets_every_replicate_count_and_refuses_nonsense():
    # issue 12, point 2: reproduce --reps N for a quick look, the same N for every resampling step
    from research.config.plan import load_plan, replicate_counts, with_replicates

    plan = load_plan()
    full = replicate_counts(plan)
    assert set(full) == {"threshold_bootstrap", "breakpoint_calibration", "lever_bootstrap",
                         "driver_bootstrap", "driver_permutation"}
    assert min(full.values()) > 0
    assert set(replicate_counts(with_replicates(plan, 7)).values()) == {7}
    # the plan copied beside the fit (fit/analysis_plan_used.yaml) says its counts were replaced
    assert with_replicates(plan, 7).source.startswith("# research reproduce --reps 7:")
    assert replicate_counts(plan) == full  # the plan itself is unchanged
    for bad in (-1, 10_001, 2.5, True):
        with pytest.raises(InputError, match="--reps"):
            with_replicates(plan, bad)


@pytest.mark.parametrize("arg", ["-1", "abc", "10001", "１０"])
def test_reps_on_the_command_line_refuses_nonsense_with_exit_2(arg, capsys):
    from research.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--reps", arg])
    assert exc.value.code == 2
    assert "--reps" in capsys.readouterr().err


def test_a_quick_look_manifest_says_why_it_differs_and_is_not_published(sample_build, tmp_path):
    from research.pipeline.verify import _replicate_row

    out, manifest, _ = sample_build
    assert manifest["reps_override"] is None and min(manifest["replicates"].values()) > 0
    quick = {**manifest, "replicates": {k: 5 for k in manifest["replicates"]}, "reps_override": 5}
    status_detail = _replicate_row(manifest, quick)
    assert status_detail[1] == "differs"
    assert "the plan's" in status_detail[2] and "--reps 5" in status_detail[2]
    assert _replicate_row(manifest, manifest)[1] == "match"
    assert _replicate_row({k: v for k, v in manifest.items() if k != "replicates"}, quick)[1] == "recorded"
    build = tmp_path / "quick"
    shutil.copytree(out, build)
    write_manifest(quick, build / "manifest.json")
    with pytest.raises(InputError, match="--reps 5"):
        publish(build)


@pytest.mark.parametrize("value,expected", [("1", 1), ("3", 3), (" 2 ", 2)])
def test_render_workers_reads_research_workers(monkeypatch, value, expected):
    from research.pipeline.reproduce import render_workers

    monkeypatch.setenv("RESEARCH_WORKERS", value)
    assert render_workers() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "65", "１"])
def test_render_workers_refuses_nonsense(monkeypatch, value):
    from research.pipeline.reproduce import render_workers

    monkeypatch.setenv("RESEARCH_WORKERS", value)
    with pytest.raises(InputError, match="RESEARCH_WORKERS"):
        render_workers()


def test_the_manifest_records_its_platform_and_verify_shows_both(sample_build, tmp_path, monkeypatch):
    # issue 12: a reviewer whose processor differs sees where the manifest was built and where the
    # rebuild ran (the BLAS kernel is what moves the last digits); informative, never compared
    from research.artifacts.manifest import describe_platform

    build, manifest, target = _published(sample_build, tmp_path)
    info = sample_build[1]["platform"]
    assert info["machine"] and info["processor"] and isinstance(info["blas"], list)
    other = json.loads(target.read_text(encoding="utf-8"))
    other["platform"] = {"machine": "aarch64", "processor": "Neoverse-N1 <b>x</b>" * 30,
                         "blas": [{"internal_api": "openblas", "version": "0.3.21", "architecture": "NEOVERSEN1"}]}
    target.write_text(json.dumps(other), encoding="utf-8")
    monkeypatch.setattr("research.pipeline.reproduce.reproduce", lambda *a, **k: sample_build[1])
    ok, rows = verify(target, keep=build)
    row = next(r for r in rows if r[0] == "platform")
    assert ok and row[1] == "recorded"
    assert "kernel NEOVERSEN1" in row[2] and describe_platform(info) in row[2] and len(row[2]) < 600
    assert describe_platform(None) == "not recorded" and describe_platform(["x"]) == "not recorded"


def test_the_platforms_blas_list_does_not_depend_on_the_order_libraries_were_loaded(monkeypatch):
    """threadpoolctl lists BLAS libraries in load order (numpy's, scipy's OpenBLAS), which differs
    between processes that imported in another order; two builds must record the same list."""
    import threadpoolctl

    from research.artifacts.manifest import platform_info

    libs = [{"user_api": "blas", "internal_api": "openblas", "version": v, "architecture": "SkylakeX",
             "num_threads": 1} for v in ("0.3.30", "0.3.31.188.0")]
    seen = []
    for order in (libs, libs[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda order=order: list(order))
        seen.append(platform_info()["blas"])
    assert seen[0] == seen[1] and [b["version"] for b in seen[0]] == ["0.3.30", "0.3.31.188.0"]

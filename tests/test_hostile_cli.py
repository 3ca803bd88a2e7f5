"""Issue 10, point 6: every failure of ``research`` is exit code 2 and ONE message line
``research <command>: error: ...`` on standard error -- never a traceback -- and data that
cannot support one model skip it with a note instead of crashing the run.

Each test is one hostile case. Commands run in-process through ``research.cli.main``;
progress lines also go to standard error, so the checks count the lines that start with
``research <command>: error:`` (exactly one) and look for ``Traceback`` anywhere.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import valid_survey, write_csv
from research import cli
from research.cli import main
from research.errors import InputError

PHONE = "13912345678"


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Run ``research argv``; return (exit code, stdout, stderr). Usage errors (argparse)
    exit through SystemExit; their code is returned the same way."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str, command: str) -> str:
    """The one error line of ``command``; fails unless there is exactly one and no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"research {command}: error:")]
    assert len(lines) == 1, err
    return lines[0]


def assert_fails(capsys, argv: list[str]) -> str:
    """Exit code 2 with one error line (returned) and no traceback."""
    code, out, err = run(capsys, argv)
    assert code == 2, (out, err)
    assert "Traceback" not in out
    return error_line(err, argv[0])


# ---------------------------------------------------------------- inputs ----

@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> pd.DataFrame:
    """200 valid survey rows through ``research ingest``: canonical responses."""
    folder = tmp_path_factory.mktemp("ingest")
    write_csv(valid_survey(200), folder / "survey.csv", "utf-8")
    assert main(["ingest", str(folder / "survey.csv"), "--out", str(folder / "out")]) == 0
    return pd.read_parquet(folder / "out" / "responses.parquet")


def fit(capsys, tmp_path: Path, responses: pd.DataFrame, *extra: str) -> tuple[int, str, str, Path]:
    """``research fit`` on ``responses`` (written as parquet in tmp_path)."""
    data = tmp_path / "responses.parquet"
    responses.to_parquet(data)
    out = tmp_path / "fit"
    code, stdout, err = run(capsys, ["fit", "--data", str(data), "--out", str(out), *extra])
    return code, stdout, err, out


def notes_of(out: Path) -> str:
    notes = pd.read_csv(out / "notes.csv")
    return " | ".join(notes["step"] + ": " + notes["note"])


# ------------------------------------------------------------------ --out ----

def _argv_for(command: str, out: str, tmp_path: Path) -> list[str]:
    survey = str(tmp_path / "survey.csv")
    return {
        "ingest": ["ingest", survey, "--out", out],
        "fit": ["fit", "--data", str(tmp_path / "responses.parquet"), "--out", out],
        "simulate": ["simulate", "--n", "10", "--seed", "1", "--out", out],
        "weight": ["weight", "--data", str(tmp_path), "--out", out],
        "bulletin": ["bulletin", "--period", "week", "--at", "2025-03-05", "--data", str(tmp_path), "--out", out],
        "reproduce": ["reproduce", "--survey", survey, "--out", out],
    }[command]


@pytest.mark.parametrize("command", ["ingest", "fit", "simulate", "weight", "bulletin", "reproduce"])
def test_out_pointing_at_a_file_is_refused_before_any_work(command, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("not a folder", encoding="utf-8")
    line = assert_fails(capsys, _argv_for(command, str(target), tmp_path))
    assert str(target) in line and "existing file" in line
    assert target.read_text(encoding="utf-8") == "not a folder"


@pytest.mark.parametrize("command", ["ingest", "fit", "simulate", "reproduce"])
def test_out_under_a_regular_file_cannot_be_created(command, tmp_path, capsys):
    # tests run as root, where permission bits do not stop writes: a path through a file does
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    target = tmp_path / "file.txt" / "sub"
    line = assert_fails(capsys, _argv_for(command, str(target), tmp_path))
    assert str(target) in line and "cannot create" in line and "Not a directory" in line


def test_out_folder_not_writable_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.os, "access", lambda *args, **kwargs: False)  # root ignores chmod 0o555
    line = assert_fails(capsys, ["simulate", "--n", "10", "--seed", "1", "--out", str(tmp_path / "ro")])
    assert str(tmp_path / "ro") in line and "not writable" in line


class _FullDisk:
    """A file whose write() fails as on a full disk (the error names no file, as the OS's)."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_names_the_file(tmp_path, capsys, monkeypatch):
    from research import safeio

    real = os.fdopen
    monkeypatch.setattr(safeio.os, "fdopen", lambda fd, mode: _FullDisk(real(fd, mode)))
    out = tmp_path / "sim"
    line = assert_fails(capsys, ["simulate", "--n", "20", "--seed", "1", "--out", str(out)])
    assert f"{out}{os.sep}" in line and "No space left on device" in line and "ENOSPC" in line
    assert not list(out.glob("*.part"))  # the half-written temporary file is gone


def test_permission_denied_while_writing_names_the_file(tmp_path, capsys, monkeypatch):
    write_csv(valid_survey(12), tmp_path / "survey.csv", "utf-8")
    target = tmp_path / "out" / "responses.parquet"

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))

    # the module itself: ``research.ingestion.run`` as an attribute is the package's ingest() function
    monkeypatch.setattr(sys.modules["research.ingestion.run"], "write_ingest", denied)
    line = assert_fails(capsys, ["ingest", str(tmp_path / "survey.csv"), "--out", str(tmp_path / "out")])
    assert str(target) in line and "Permission denied" in line


def test_os_error_text_is_never_shown(tmp_path, capsys, monkeypatch):
    def leaky(args):
        raise OSError(f"cannot write row for {PHONE}")  # no errno: only free text

    monkeypatch.setattr(cli, "cmd_list", leaky)
    code, out, err = run(capsys, ["list"])
    assert code == 2 and PHONE not in out + err
    assert "operating-system error" in error_line(err, "list")


# -------------------------------------------------------------- simulate ----

@pytest.mark.parametrize("argv, option, words", [
    (["--n", "10", "--seed", "-1"], "--seed", "from 0 to 4,294,967,295"),
    (["--n", "10", "--seed", str(2**40)], "--seed", "from 0 to 4,294,967,295"),
    (["--n", str(10**13), "--seed", "1"], "--n", "at most 20,000,000"),
    (["--n", "1e3", "--seed", "1"], "--n", "not a whole number"),
    (["--n", "10", "--seed", "1", "--faults", "nan"], "--faults", "must be in [0, 0.5)"),
], ids=["seed_negative", "seed_2_pow_40", "n_10_pow_13", "n_not_whole", "faults_nan"])
def test_simulate_refuses_absurd_sizes_and_seeds(argv, option, words, tmp_path, capsys):
    line = assert_fails(capsys, ["simulate", *argv, "--out", str(tmp_path / "sim")])
    assert f"argument {option}:" in line and words in line
    assert not (tmp_path / "sim").exists()  # refused before anything was created


# ------------------------------------------------------- internal errors ----

def test_unexpected_exception_is_one_line_without_its_text(capsys, monkeypatch):
    def boom(args):
        raise ValueError(PHONE)

    monkeypatch.setattr(cli, "cmd_list", boom)
    code, out, err = run(capsys, ["list"])
    assert code == 2
    line = error_line(err, "list")
    assert "internal error (ValueError)" in line and "RESEARCH_DEBUG=1" in line
    assert PHONE not in out + err
    assert [x for x in err.splitlines() if x.strip()] == [line]


def test_research_debug_shows_the_traceback(capsys, monkeypatch):
    def boom(args):
        raise ValueError(PHONE)

    monkeypatch.setattr(cli, "cmd_list", boom)
    monkeypatch.setenv("RESEARCH_DEBUG", "1")
    with pytest.raises(ValueError, match=PHONE):
        main(["list"])


def test_out_of_memory_has_its_own_message(capsys, monkeypatch):
    def hungry(args):
        raise MemoryError()

    monkeypatch.setattr(cli, "cmd_list", hungry)
    assert "out of memory" in assert_fails(capsys, ["list"])


def test_interrupt_exits_130(capsys, monkeypatch):
    def stop(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_list", stop)
    code, _, err = run(capsys, ["list"])
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_broken_pipe_is_one_line(capsys, monkeypatch):
    def closed(args):
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    monkeypatch.setattr(cli, "cmd_list", closed)
    assert "broken pipe" in assert_fails(capsys, ["list"])


def test_multi_line_input_error_is_printed_on_one_line(capsys, monkeypatch):
    def bad(args):
        raise InputError("survey.csv: row 3:\nbad date")

    monkeypatch.setattr(cli, "cmd_list", bad)
    assert assert_fails(capsys, ["list"]).endswith("survey.csv: row 3: bad date")


# ---------------------------------------------------------------- models ----

def test_fit_single_station_falls_back_to_model_based_errors_with_a_note(ingested, tmp_path, capsys):
    # every plan model is clustered by station (issue 11), and a cluster-robust covariance needs two
    # clusters: a one-station export gets model-based standard errors, said in the method of every
    # estimate, in model_fit's se_type, in notes.csv and in one warning line on stderr
    from research.config.instrument import load_instrument
    from research.models.fit import fit_model
    from research.config.plan import load_plan

    one = ingested.assign(station=pd.Series("站0供电所", index=ingested.index, dtype="string"))
    code, out, err, folder = fit(capsys, tmp_path, one)
    assert code == 0, err
    assert "Traceback" not in err and not [x for x in err.splitlines() if x.startswith("research fit: error:")]
    warn = [x for x in err.splitlines() if x.startswith("research fit: warning:")]
    assert len(warn) == 1 and "a single station" in warn[0] and "model-based" in warn[0], err
    plan = load_plan()
    fit_rows = pd.read_csv(folder / "model_fit.csv").set_index("model")
    clustered = [m.name for m in plan.models if m.se in ("cluster", "cr2") and m.name in fit_rows.index]
    assert {"ols", "ordinal", "logit"} <= set(clustered)
    assert f"standard errors of {', '.join(clustered)} are model-based" in warn[0], warn[0]
    assert (fit_rows.loc[clustered, "se_type"] == "model").all()
    assert (fit_rows.loc[clustered, "n_clusters"] == 1).all() and (fit_rows.loc[clustered, "cluster"] == "station").all()
    est = pd.read_csv(folder / "estimates.csv")
    est = est[est["model"].isin(clustered)]
    assert est["method"].str.contains("model-based standard errors: a single station in the data").all()
    assert (np.isfinite(est["std_error"]) & (est["std_error"] > 0)).all()
    notes = notes_of(folder)
    for m in clustered:
        assert f"model {m}: a single station in the data: standard errors are model-based" in notes, notes
    assert "model mixed: not fitted: a random intercept per station needs at least 2 levels" in notes
    # the fallback is exactly the plan's se: model fit (inverse information), not some other covariance
    logit = next(m for m in plan.models if m.name == "logit")
    ref = fit_model(dataclasses.replace(logit, se="model", cluster=None), one, plan=plan, instrument=load_instrument())
    got = est[est["model"] == "logit"]
    np.testing.assert_allclose(got["std_error"], np.sqrt(np.diag(ref.vcov)), rtol=1e-10)
    np.testing.assert_allclose(got["p_value"], pd.Series(ref_p(ref)), rtol=1e-8)


def ref_p(fm) -> list[float]:
    from scipy import stats

    z = fm.params / np.sqrt(np.diag(fm.vcov))
    return list(2 * stats.norm.sf(np.abs(z)))


def test_fit_single_cause_group_notes_what_it_cannot_compare(ingested, tmp_path, capsys):
    one = ingested[ingested["cause_l1"] == "outage"]
    code, out, err, folder = fit(capsys, tmp_path, one, "--no-thresholds")
    assert code == 0, err
    notes = notes_of(folder)
    assert "comparisons by cause_l1: not computed" in notes
    assert "association of satisfied and cause_l1: not computed" in notes
    assert "cause_l1 has a single level in the data" in notes


def test_fit_single_channel_notes_the_missing_contrast(ingested, tmp_path, capsys):
    one = ingested.assign(channel=pd.Series("hotline", index=ingested.index, dtype="string"))
    code, out, err, folder = fit(capsys, tmp_path, one, "--no-thresholds")
    assert code == 0, err
    assert "channel has a single level in the data" in notes_of(folder)
    terms = set(pd.read_csv(folder / "estimates.csv")["term"])
    assert not any(t.startswith("channel[") for t in terms)


def test_fit_single_sub_cause_predicts_without_crashing(ingested, tmp_path, capsys):
    # a single-level factor's term has no design columns: predictions must still index them
    one = ingested.assign(cause_l2=pd.Series("slow_repair", index=ingested.index, dtype="string"),
                          cause_l1=pd.Series("outage", index=ingested.index, dtype="string"))
    code, out, err, folder = fit(capsys, tmp_path, one, "--no-thresholds")
    assert code == 0, err
    assert "cause_l2 has a single level in the data" in notes_of(folder)
    pred = pd.read_csv(folder / "predictions.csv")
    assert (pred.loc[pred["quantity"] == "aap_subcause", "cause_l2"] == "slow_repair").any()


def test_fit_constant_flag_skips_the_models_that_use_it_with_a_clear_note(ingested, tmp_path, capsys):
    # every plan model but the lever model has repeat on its right-hand side (the lever model may
    # not: repeat is post-treatment): those are skipped with the reason, the lever model is fitted
    never = ingested.assign(repeat=pd.Series(False, index=ingested.index, dtype="boolean"))
    code, out, err, folder = fit(capsys, tmp_path, never, "--no-thresholds")
    assert code == 0, err
    notes = notes_of(folder)
    for model in ("ols", "ordinal", "logit", "mixed", "speed_by_cause"):
        assert f"model {model}: not fitted: repeat takes a single value" in notes, notes
    assert "rhs" in notes and "Traceback" not in err
    assert set(pd.read_csv(folder / "estimates.csv")["model"]) == {"levers"}


def test_fit_constant_flag_in_every_model_is_one_clear_error(ingested, tmp_path, capsys):
    # with no model left to fit, one line and exit 2
    never = ingested.assign(repeat=pd.Series(False, index=ingested.index, dtype="boolean"))
    plan = Path("paper/analysis_plan.yaml").read_text(encoding="utf-8").replace(
        "channel + station + month", "channel + station + month + repeat")
    (tmp_path / "plan.yaml").write_text(plan.replace("post_treatment: [resolved, repeat]",
                                                     "post_treatment: [resolved]"), encoding="utf-8")
    code, out, err, folder = fit(capsys, tmp_path, never, "--no-thresholds", "--plan", str(tmp_path / "plan.yaml"))
    assert code == 2, err
    line = error_line(err, "fit")
    assert "repeat takes a single value" in line and "rhs" in line


def test_fit_brant_singular_is_nan_with_a_note(ingested, tmp_path, capsys):
    # one sub-cause never answered at the lowest level: the binary logit 1{Y > lowest} separates
    sub = ingested["cause_l2"] == ingested["cause_l2"].iloc[0]
    bad = ingested.assign(sat_overall=ingested["sat_overall"].mask(sub & (ingested["sat_overall"] == 1), 3))
    code, out, err, folder = fit(capsys, tmp_path, bad, "--no-thresholds")
    assert code == 0, err
    brant = pd.read_csv(folder / "brant.csv")
    assert brant[brant["model"] == "ordinal"]["statistic"].isna().all()
    assert "Brant test ordinal: not computable" in notes_of(folder)
    fitted = set(pd.read_csv(folder / "model_fit.csv")["model"])
    assert {"ordinal", "speed_by_cause"} <= fitted  # the ordinal models themselves are fitted


def test_fit_group_without_variance_is_left_out_of_comparisons_with_a_note(ingested, tmp_path, capsys):
    sub = ingested["cause_l2"] == ingested["cause_l2"].iloc[0]
    alike = ingested.assign(sat_overall=ingested["sat_overall"].mask(sub, 4))
    code, out, err, folder = fit(capsys, tmp_path, alike, "--no-thresholds")
    assert code == 0, err
    assert "comparisons by cause_l2: groups whose answers are all the same" in notes_of(folder)
    omnibus = pd.read_csv(folder / "comparisons.csv")
    assert set(omnibus["between"]) == {"cause_l1", "cause_l2"}


def test_fit_all_satisfied_is_one_clear_error(ingested, tmp_path, capsys):
    allsat = ingested.assign(sat_overall=ingested["sat_overall"].where(ingested["sat_overall"].isna(), 5),
                             satisfied=ingested["satisfied"].where(ingested["satisfied"].isna(), True))
    code, out, err, folder = fit(capsys, tmp_path, allsat)
    assert code == 2
    line = error_line(err, "fit")
    assert str(tmp_path / "responses.parquet") in line
    assert "none of the analysis plan's 6 models can be fitted" in line and "takes a single value" in line


def test_fit_zero_complete_rows_is_one_clear_error(ingested, tmp_path, capsys):
    code, out, err, folder = fit(capsys, tmp_path, ingested.assign(handling_hours=np.nan), "--no-thresholds")
    assert code == 2
    line = error_line(err, "fit")
    assert "only 0 complete rows" in line and "(ols" in line


# ------------------------------------------------------ bootstrap sizes ----

def test_drivers_bootstrap_size_is_checked_before_allocating(ingested):
    from research.strategy.drivers import key_drivers

    with pytest.raises(InputError, match="key drivers: bootstrap_reps must be from 0 to"):
        key_drivers(ingested, bootstrap_reps=10**12)
    with pytest.raises(InputError, match="key drivers: seed must be from 0 to"):
        key_drivers(ingested, bootstrap_reps=0, seed=-1)


def test_lever_bootstrap_size_is_checked_before_any_work():
    from research.strategy.scenarios import lever_effects

    with pytest.raises(InputError, match="scenarios: bootstrap reps must be from 0 to"):
        lever_effects(None, pd.DataFrame(), [], threshold=4, reps=10**12)


def test_threshold_bootstrap_size_is_checked_before_any_work(ingested):
    from research.config.instrument import load_instrument
    from research.models.thresholds import tolerance_thresholds
    from research.config.plan import load_plan

    plan = load_plan()
    huge = dataclasses.replace(plan, thresholds=dataclasses.replace(plan.thresholds, bootstrap_reps=10**12))
    with pytest.raises(InputError, match="thresholds: bootstrap reps must be from 0 to"):
        tolerance_thresholds(ingested, plan=huge, instrument=load_instrument())


# ------------------------------------------------------------ reliability ----

def test_alpha_of_identical_answers_is_refused_by_name(ingested):
    from research.stats.reliability import cronbach_alpha

    alike = ingested.assign(sat_overall=3, sat_speed=3, sat_attitude=3, sat_outcome=3)
    with pytest.raises(ValueError, match="sum score has no variance"):  # fit_plan turns it into a note
        cronbach_alpha(alike)


def test_constant_item_gives_nan_statistics_without_warnings(ingested):
    import warnings

    from research.stats.reliability import item_statistics

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would be printed on standard error
        stats = item_statistics(ingested.assign(sat_speed=3)).set_index("item")
    assert np.isnan(stats.loc["sat_speed", "item_rest_r"])
    assert np.isfinite(stats.loc["sat_overall", "item_rest_r"])


def test_reproduce_on_a_single_station_stops_with_one_clear_line(tmp_path, capsys):
    # research reproduce clusters, weights and compares by station after the fit: one station is
    # refused right after ingest with the column and the count, exit 2, no traceback, and nothing
    # published (research fit works on one station: the test above)
    survey = valid_survey(200)
    survey["供电所"] = "站0供电所"
    write_csv(survey, tmp_path / "survey.csv", "utf-8")
    code, _, err = run(capsys, ["reproduce", "--survey", str(tmp_path / "survey.csv"), "--reps", "0",
                                "--out", str(tmp_path / "build")])
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert "survey.csv" in lines[-1] and "station" in lines[-1] and "at least 2" in lines[-1]
    assert not (tmp_path / "build" / "manifest.json").exists()

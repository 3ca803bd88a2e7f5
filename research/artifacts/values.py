"""Named values: every number the report's prose quotes, with where it came from.

Each value is computed from one cell of a result file that reproduce writes
(``ingest/ingest_report.json`` or a ``fit/*.csv`` table), so a reader can
trace "the outage threshold is 3.1 hours" to the file, row and column that
hold it. The report templates use them as ``{{ name }}``; an unknown name
fails the build.

Output: :func:`named_values` returns a frame with columns ``name, value,
unit, zh, en, source, row, column, artifact`` (``zh``/``en`` the formatted
text used in the report; ``artifact`` the registered table or figure that
shows the same number).

The values are computed by stage, each module giving its rows in ``values.csv`` order:
ingest, limitations and the report's front matter (dates, issuing unit) here, the fit in :mod:`research.artifacts.values_fit`,
representativeness in :mod:`research.artifacts.values_weights`, monitoring, levers and
drivers in :mod:`research.artifacts.values_strategy`; the row and the wording of one value
are in :mod:`research.artifacts.values_format`. Their names stay importable from here.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from research import paths
from research.artifacts.values_fit import (SUBCAUSE_RANK_VALUES, fit_values, subcause_rank_values,
                                           threshold_finding)
from research.artifacts.values_format import AME_MODEL, NO_DATA, missing_row, pct, value_row
from research.artifacts.values_strategy import (MONITORING_VALUES, driver_values, lever_values, monitoring_values,
                                               typical_values)
from research.artifacts.values_weights import nonresponse_sensitivity_values, representativeness_values
from research.artifacts.words import word

__all__ = ["ALWAYS", "AME_MODEL", "MONITORING_VALUES", "NO_DATA", "SUBCAUSE_RANK_VALUES", "named_values",
           "ingest_values", "limitation_values"]

#: names the report may always use, whatever the data hold
ALWAYS = ("survey_rows_read", "survey_rows_rejected", "n_responses", "sat_rate_overall", "n_workorders",
          "threshold_shortest_cause", "ame_doubling_largest_cause", "subcause_lowest", "subcause_lowest_rate",
          "subcause_highest", "subcause_highest_rate", "repeat_odds_ratio", "cronbach_alpha", "welch_p_cause",
          "response_rate_overall", "response_rate_lowest_cause", "response_rate_lowest_cause_rate",
          "response_rate_highest_cause", "response_rate_highest_cause_rate", "sat_rate_weighted",
          "sat_rate_weighted_low", "sat_rate_weighted_high", "sat_rate_weighting_shift", "weight_deff",
          "weight_n_eff", "weight_max", "weighting_method", "svy_ame_doubling_largest_cause",
          "sat_rate_shift_largest_subcause", "sat_rate_shift_largest_subcause_points",
          "lever_best", "lever_best_points", "lever_best_low", "lever_best_high", "lever_best_per_10k",
          "lever_second", "lever_second_points", "lever_best_evalue", "lever_best_evalue_ci", "driver_top", "driver_top_share", "drivers_concentrate_here",
          "nonresponse_methods_low", "nonresponse_methods_high", "nonresponse_target", "tipping_delta_refused",
          "tipping_delta_no_answer", "tipping_delta_all", "data_source", "n_stations", "survey_first_date",
          "survey_last_date", "report_issued", "report_issuer")



def named_values(bundle: dict) -> pd.DataFrame:
    """All named values of the report from the bundle (see module docstring): ingest, fit,
    monitoring, representativeness, levers, drivers, typical cases and limitations in that order, then a "no
    data" row for each name of :data:`ALWAYS` the data could not give."""
    out = ingest_values(bundle) + fit_values(bundle)
    out += monitoring_values(bundle)
    out += representativeness_values(bundle)
    out += lever_values(bundle)
    out += driver_values(bundle)
    out += typical_values(bundle)
    out += limitation_values(bundle)
    out += report_values(bundle)
    present = {r["name"] for r in out}
    for name in ALWAYS:  # a value the data cannot give still exists, saying so
        if name not in present:
            out.append(missing_row(name))
    return pd.DataFrame(out)


def ingest_values(bundle: dict) -> list[dict]:
    """Named values of the ingest report (``ingest/ingest_report.json``): survey rows read and
    rejected, responses, the unweighted satisfied rate and, with work orders, their number."""
    rep = bundle["ingest_report"]
    out = []
    files = {f["role"]: f for f in rep["files"]}
    sv = files["survey"]
    out.append(value_row("survey_rows_read", sv["rows_read"], "rows", f"{sv['rows_read']:,}", f"{sv['rows_read']:,}",
                         "ingest/ingest_report.json", "files[role=survey]", "rows_read", "T02"))
    out.append(value_row("survey_rows_rejected", sv["rejected"], "rows", f"{sv['rejected']:,}", f"{sv['rejected']:,}",
                         "ingest/ingest_report.json", "files[role=survey]", "rejected", "T02"))
    out.append(value_row("n_responses", rep["responses"]["rows"], "responses", f"{rep['responses']['rows']:,}",
                         f"{rep['responses']['rows']:,}", "ingest/ingest_report.json", "responses", "rows", "T01"))
    rate = rep["responses"]["satisfied_rate_unweighted"]
    out.append(value_row("sat_rate_overall", rate, "proportion", pct(rate), pct(rate), "ingest/ingest_report.json",
                         "responses", "satisfied_rate_unweighted", "T01"))
    if "workorders" in files:
        wo = files["workorders"]
        out.append(value_row("n_workorders", wo["accepted"], "work orders", f"{wo['accepted']:,}",
                             f"{wo['accepted']:,}", "ingest/ingest_report.json", "files[role=workorders]",
                             "accepted", "T01"))
    return out


def limitation_values(bundle: dict) -> list[dict]:
    """Named values of the limitations section: ``data_source`` (whether every survey export of the
    build is the committed synthetic sample, by its sha256, so the report says plainly that its numbers come
    from simulated data) and ``n_stations`` (the number of stations, the clusters of every
    clustered interval, whose t reference has G - 1 degrees of freedom)."""
    out = []
    # every survey file of the build (a dataset of several ingests has one per ingest) must be the
    # sample for the report to call its data the sample
    surveys = [f.get("sha256") for f in bundle["ingest_report"]["files"] if f["role"] == "survey"]
    sample = paths.sample_survey()
    is_sample = bool(surveys) and sample.is_file() and \
        set(surveys) == {hashlib.sha256(sample.read_bytes()).hexdigest()}
    zh, en = (("随仓库提交的合成样本：由模拟器生成的模拟数据，不是真实客户的回访，数字只用于演示方法",
               "the committed synthetic sample: simulated data written by the simulator, not real "
               "customers' answers, so its numbers only demonstrate the method")
              if is_sample else ("用户提供的导出数据", "the exports supplied to this build"))
    out.append(value_row("data_source", "sample" if is_sample else "supplied", "code", zh, en,
                         "ingest/ingest_report.json", "files[role=survey]", "sha256", "T02"))
    resp = bundle.get("responses")
    if resp is not None and "station" in resp.columns:
        g = int(resp["station"].nunique())
        out.append(value_row("n_stations", g, "stations", f"{g:,}", f"{g:,}", "ingest/responses.parquet",
                             "", "nunique(station)", "T09"))
    return out


def date_text(day, lang: str) -> str:
    """A date as the report writes it: ``2026年3月31日`` / ``2026-03-31``."""
    return word("date_long", lang, y=day.year, m=day.month, d=day.day)


def report_values(bundle: dict) -> list[dict]:
    """Named values of the report's front matter: the period covered (``survey_first_date``,
    ``survey_last_date``: the first and last survey date of the valid responses,
    ``ingest/responses.parquet`` column ``surveyed_at``), the issue date (``report_issued``: the
    plan's ``report.issued``, else the last survey date, never the day of the build) and the
    issuing unit (``report_issuer``: the plan's ``report.issuer``, else "not stated")."""
    out = []
    resp = bundle.get("responses")
    days = None
    if resp is not None and "surveyed_at" in resp.columns and resp["surveyed_at"].notna().any():
        at = pd.to_datetime(resp["surveyed_at"])
        days = (at.min().date(), at.max().date())
        for name, day, col in (("survey_first_date", days[0], "min(surveyed_at)"),
                               ("survey_last_date", days[1], "max(surveyed_at)")):
            out.append(value_row(name, day.isoformat(), "date", date_text(day, "zh"), date_text(day, "en"),
                                 "ingest/responses.parquet", "", col, "T01"))
    spec = getattr(bundle.get("plan"), "report", None)
    issued = getattr(spec, "issued", None)
    if issued is not None or days is not None:
        day, source = (issued, "report.issued") if issued is not None else (days[1], "max(surveyed_at)")
        out.append(value_row("report_issued", day.isoformat(), "date", date_text(day, "zh"), date_text(day, "en"),
                             "fit/analysis_plan_used.yaml" if issued is not None else "ingest/responses.parquet",
                             "", source, ""))
    issuer = getattr(spec, "issuer", None)
    zh, en = ((issuer["zh"], issuer["en"]) if issuer else
              (word("report_issuer_default", "zh"), word("report_issuer_default", "en")))
    out.append(value_row("report_issuer", "configured" if issuer else "not_stated", "text", zh, en,
                         "fit/analysis_plan_used.yaml", "", "report.issuer", ""))
    return out


# the former private names, still imported by scripts and tests
_threshold_finding = threshold_finding
_subcause_rank_values = subcause_rank_values
_monitoring_values = monitoring_values
_representativeness_values = representativeness_values
_nonresponse_sensitivity = nonresponse_sensitivity_values
_lever_values = lever_values
_driver_values = driver_values
_limitation_values = limitation_values

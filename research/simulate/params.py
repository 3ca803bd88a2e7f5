"""The simulator's parameters (:class:`SimParams`, every number of the data-generating process), its
result (:class:`Simulation`), the export headers and codes, and the hard-case switches
(:data:`HARD_CASE_DEFAULTS`, :func:`hard_case_params`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


SURVEY_HEADERS = (
    "工单编号", "客户编号", "联系电话", "地市", "供电所", "受理渠道", "诉求大类", "诉求子类",
    "受理时间", "办结时间", "回访时间", "重复来电次数", "是否解决", "总体满意度",
    "处理速度满意度", "服务态度满意度", "处理结果满意度", "客户意见",
)

WORKORDER_HEADERS = (
    "工单编号", "客户编号", "联系电话", "地市", "供电所", "受理渠道", "诉求大类", "诉求子类",
    "受理时间", "办结时间", "回访状态",
)

#: reason codes of planted faults, in the order they are planted
FAULT_REASONS = (
    "missing_required", "unknown_label", "cause_mismatch", "time_order", "invalid_answer",
    "invalid_datetime", "invalid_count", "duplicate", "conflicting_duplicate", "no_workorder",
)

SAT_ITEMS = ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome")

STATUS_CODES = ("completed", "no_answer", "refused")

RESOLVED_CODES = ("yes", "partly", "no")

MISSING_LABELS = ("拒答", "不清楚")

_POSITIVE = ("处理及时，很满意", "服务态度很好", "感谢供电所工作人员", "师傅很专业", "问题已经解决了",
             "希望继续保持", "来得很快，点赞")

_NEGATIVE = ("处理太慢了", "停电太频繁", "希望尽快解决", "工作人员态度不好", "一直没有人联系我",
             "问题没有彻底解决", "等了好几天才来", "电压还是不稳定")

# planted personal data: (prefix, suffix) around the number
_PHONE_TEMPLATES = (("请打", "联系我"), ("有问题请联系", ""), ("我的手机号是", "，请回电"))

_IDCARD_TEMPLATES = (("户主身份证号", ""), ("身份证", "，请核实户名"))

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])

_ID_CHECK = np.array(list("10X98765432"))

_ID_AREAS = np.array([440103, 440104, 440105, 440106, 440604, 440605, 440606, 441900, 441302,
                      440703, 440781, 440802, 440803, 441881])

_BAD_DATETIME = "2025-13-45 10:00:00"

_MINUTES_PER_DAY = 1440


def _d(**kw: Any):
    return field(default_factory=lambda: dict(kw))


@dataclass
class SimParams:
    """Every number of the data-generating process (see the module docstring).

    Keys of the cause, sub-cause, channel and resolved dictionaries are the
    instrument's codes; regions and stations are the export's Chinese names.
    """

    # period of ticket creation (dates, inclusive)
    start: str = "2025-01-01"
    end: str = "2026-06-30"
    # regions (地市) and their share of tickets
    region_share: dict[str, float] = _d(广州=0.27, 佛山=0.20, 东莞=0.21, 惠州=0.12, 江门=0.10, 湛江=0.10)
    # stations (供电所) of each region, named <region><area>供电所; the k-th listed has weight (k+1)**-decay
    station_areas: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "广州": ("天河", "越秀", "白云", "番禺", "花都", "增城", "从化", "南沙"),
        "佛山": ("南海", "顺德", "禅城", "三水", "高明"),
        "东莞": ("城区", "长安", "虎门", "常平", "塘厦", "松山湖", "石龙"),
        "惠州": ("惠城", "惠阳", "博罗", "惠东", "龙门"),
        "江门": ("蓬江", "新会", "台山", "开平", "鹤山", "江海"),
        "湛江": ("赤坎", "霞山", "麻章", "廉江", "雷州", "吴川"),
    })
    station_size_decay: float = 0.6
    station_sd: float = 0.3  # sd of the station random effect on the satisfaction latent
    # causes: annual shares of the groups, summer multiplier of outages, sub-cause shares
    cause_share: dict[str, float] = _d(service=0.38, outage=0.40, capability=0.12, voltage=0.10)
    outage_season: dict[int, float] = field(default_factory=lambda: {6: 1.3, 7: 1.8, 8: 1.8, 9: 1.3})
    subcause_share: dict[str, float] = _d(
        expansion_delay=0.12, staff_attitude=0.18, meter_quality=0.10, meter_replacement_notice=0.08,
        billing_dispute=0.20, metering_billing_error=0.20, no_follow_up=0.12,
        fault_outage=0.30, planned_outage_deviation=0.15, arrears_disconnection=0.15, slow_repair=0.30,
        maintenance_outage_frequency=0.10,
        inspection_hazard=0.40, property_damage=0.25, construction_site=0.35,
        low_voltage=0.60, voltage_fluctuation=0.40)
    channel_share: dict[str, float] = _d(hotline=0.55, app=0.20, wechat=0.15, counter=0.10)
    # customers
    customer_pool_ratio: float = 0.8
    follow_up_share: float = 0.08
    follow_up_window_days: float = 30.0
    # handling time (hours): lognormal, median by sub-cause
    handling_median_hours: dict[str, float] = _d(
        expansion_delay=120.0, staff_attitude=20.0, meter_quality=48.0, meter_replacement_notice=24.0,
        billing_dispute=40.0, metering_billing_error=72.0, no_follow_up=20.0,
        fault_outage=3.0, planned_outage_deviation=4.0, arrears_disconnection=20.0, slow_repair=4.0,
        maintenance_outage_frequency=48.0,
        inspection_hazard=72.0, property_damage=144.0, construction_site=72.0,
        low_voltage=96.0, voltage_fluctuation=72.0)
    handling_sigma: float = 0.9
    handling_min_hours: float = 0.25
    handling_max_hours: float = 1440.0
    survey_delay_hours: tuple[float, float] = (2.0, 96.0)
    # repeat calls ~ Poisson(exp(intercept + cause + log_hours * L))
    repeat_intercept: float = -2.3
    repeat_cause: dict[str, float] = _d(service=0.0, outage=0.3, capability=-0.1, voltage=0.2)
    repeat_log_hours: float = 0.2
    # resolved (yes, partly, no) by sub-cause
    resolved_probs_default: tuple[float, float, float] = (0.85, 0.10, 0.05)
    resolved_probs: dict[str, tuple[float, float, float]] = _d(
        expansion_delay=(0.70, 0.20, 0.10), staff_attitude=(0.80, 0.15, 0.05),
        billing_dispute=(0.75, 0.15, 0.10), fault_outage=(0.92, 0.05, 0.03),
        slow_repair=(0.90, 0.07, 0.03), maintenance_outage_frequency=(0.70, 0.20, 0.10),
        property_damage=(0.65, 0.20, 0.15), low_voltage=(0.60, 0.25, 0.15),
        voltage_fluctuation=(0.70, 0.20, 0.10))
    # satisfaction latent (proportional odds)
    beta_sub: dict[str, float] = _d(
        expansion_delay=0.6, staff_attitude=-0.6, meter_quality=0.2, meter_replacement_notice=0.3,
        billing_dispute=-0.3, metering_billing_error=0.0, no_follow_up=-0.4,
        fault_outage=0.2, planned_outage_deviation=-0.1, arrears_disconnection=0.5, slow_repair=-0.4,
        maintenance_outage_frequency=0.1,
        inspection_hazard=0.3, property_damage=0.0, construction_site=0.2,
        low_voltage=0.0, voltage_fluctuation=0.1)
    slope: dict[str, float] = _d(service=-0.25, outage=-0.40, capability=-0.18, voltage=-0.22)
    beta_channel: dict[str, float] = _d(hotline=0.0, app=0.15, wechat=0.10, counter=0.25)
    beta_repeat: float = -0.6
    beta_resolved: dict[str, float] = _d(yes=0.0, partly=-1.0, no=-2.0)
    cutpoints: tuple[float, float, float, float] = (-4.75, -3.9, -3.15, -1.1)
    # item-specific parts
    item_noise_sd: float = 0.8
    speed_log_hours: float = -0.25
    speed_ref_log_hours: float = 4.0
    attitude_staff: float = -1.0
    outcome_resolved: dict[str, float] = _d(yes=0.3, partly=-0.5, no=-1.0)
    # survey response: logit P(completed) = intercept + cause + log_hours * L + region
    response_intercept: float = 1.75
    response_cause: dict[str, float] = _d(service=0.0, outage=0.2, capability=-0.2, voltage=-0.1)
    response_log_hours: float = -0.32
    response_region: dict[str, float] = _d(广州=0.0, 佛山=0.2, 东莞=-0.3, 惠州=0.1, 江门=0.3, 湛江=-0.4)
    refused_share: float = 0.35
    # answers, comments, formatting
    missing_overall: float = 0.03
    missing_item: float = 0.02
    comment_blank: float = 0.70
    comment_phone: float = 0.03
    comment_idcard: float = 0.01
    # typical cases (issue 14; off by default, the sample and the default random stream unchanged):
    # share of dissatisfied phrase comments that also name their sub-cause's planted phrase
    # (research.simulate.comments.CAUSE_PHRASES), and share of all phrase comments given the phrase
    # of a random sub-cause (noise, satisfied answers included)
    comment_cause_share: float = 0.0
    comment_cause_noise: float = 0.0
    date_style_slash: float = 0.5
    # planted signals for the monitoring tests (none by default; the random stream is the same either way)
    # (station name, ISO-week Monday "YYYY-MM-DD", shift of the satisfaction latent for that station's
    # tickets surveyed in that week): an out-of-control station week
    plant_out_of_control: tuple | None = None
    # (station name, sub-cause code, ISO-week Monday, share of the station's tickets created that week
    # relabelled to the sub-cause): a recurring station x sub-cause cell
    plant_recurrence: tuple | None = None
    # hard cases (issue 11; all off by default, the random stream of the default DGP unchanged;
    # recorded in truth["hard_cases"] when on; see the module docstring, "Hard cases")
    # log-odds of a better resolved answer per unit of the pre-resolution satisfaction latent
    resolution_from_satisfaction: float = 0.0
    # log-odds of a worse resolved answer per sd of ticket difficulty (which also lengthens handling)
    resolution_from_difficulty: float = 0.0
    difficulty_handling_corr: float = 0.6  # correlation of difficulty with the handling-time normal
    # log rate of repeat calls per unit of dissatisfaction (minus the centred pre-resolution latent)
    repeat_from_dissatisfaction: float = 0.0
    station_handling_sd: float = 0.0  # sd of a station random effect on log handling hours
    station_handling_sat: float = -0.5  # its effect on the satisfaction latent per unit (station confounds)
    # cause_l1 -> (hours, drop of the latent beyond them): a step replacing the group's smooth slope
    threshold_step: dict[str, tuple[float, float]] | None = None
    # log-odds of completing the survey per unit of the (centred) satisfaction latent (not at random)
    response_from_satisfaction: float = 0.0
    # log-odds of refusing rather than not answering per unit of the latent, among non-completed
    refusal_from_satisfaction: float = 0.0

_FIELD_DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                   for f in dataclasses.fields(SimParams)}


@dataclass
class Simulation:
    """One simulated data set.

    ``survey_export`` / ``workorders_export``: what the utility exports (Chinese
    headers and labels, every value a string, blank = ""). ``responses`` /
    ``workorders``: the canonical frames ingest must reproduce
    (:data:`research.ingestion.schema.RESPONSES`, :data:`research.ingestion.schema.WORKORDERS`;
    customer ids in the clear). ``truth``: JSON-serialisable parameters,
    population quantities, counts and planted faults. ``population``: every
    work order with its potential answers (``sat_*`` for all tickets), the
    linear predictor ``eta``, station effect and response propensity
    ``p_complete`` (not written to disk).
    """

    survey_export: pd.DataFrame
    workorders_export: pd.DataFrame
    responses: pd.DataFrame
    workorders: pd.DataFrame
    truth: dict
    population: pd.DataFrame | None = None
    model: dict | None = None

#: keys of the side random streams ``default_rng([seed, attempt, key])`` (one per hard case)
_SIDE_DIFFICULTY, _SIDE_STATION, _SIDE_REPEAT = 101, 102, 103

#: the hard-case switches and the strengths ``--hard-cases`` / :func:`hard_case_params` use
HARD_CASE_DEFAULTS: dict[str, Any] = {
    "resolution_from_satisfaction": 0.8,
    "resolution_from_difficulty": 0.8,
    "repeat_from_dissatisfaction": 0.3,
    "station_handling_sd": 0.4,
    "threshold_step": {"capability": (96.0, 0.8), "voltage": (72.0, 0.8)},
    "response_from_satisfaction": 0.25,
    "refusal_from_satisfaction": -0.3,
}

#: fields of SimParams that belong to the hard cases (left out of truth["params"] at their defaults)
_HARD_FIELDS = (*HARD_CASE_DEFAULTS, "difficulty_handling_corr", "station_handling_sat")

#: fields of the planted comment phrases (also left out of truth["params"] at their defaults, so the
#: committed sample's truth file is unchanged)
_TEXT_FIELDS = ("comment_cause_share", "comment_cause_noise")


def hard_case_params(**overrides: Any) -> SimParams:
    """:class:`SimParams` with every hard case on at :data:`HARD_CASE_DEFAULTS` (then ``overrides``)."""
    return SimParams(**{**HARD_CASE_DEFAULTS, **overrides})

"""Synthetic survey and work-order exports with known truth.

Everything here is SYNTHETIC: no real customer, phone or ID-card number. The
simulator writes the two exports of the input contract (DESIGN.md) in the shape
a utility's system produces them (Chinese headers, Chinese labels, two date
styles, personal data in the clear), together with the canonical frames that
ingest must reproduce from them and a ``truth`` dictionary with every number of
the data-generating process (DGP) and the population quantities an analysis is
meant to recover.

Data-generating process
-----------------------
All numbers are fields of :class:`SimParams`; the defaults are given in brackets.
``L = log2(1 + handling_hours)`` throughout.

1. **Population.** Complaint tickets (work orders) are created over
   ``start`` .. ``end`` [2025-01-01 .. 2026-06-30]. The daily volume is
   proportional to ``sum_c cause_share[c] * season[c](month)``, where the
   outage group is multiplied by ``outage_season`` [x1.3 in June and September,
   x1.8 in July and August]; other groups are flat. The work-order population
   is generated in creation order and cut at the ticket of the ``n``-th
   completed survey, so the survey export has exactly ``n`` rows. (The
   population size is chosen so that the cut falls near ``end``; if it falls
   after ``end``, creation times are compressed linearly to end by ``end``.)
2. **Place.** Region (地市) with ``region_share``; station (供电所) within the
   region with weight ``(k + 1) ** -station_size_decay`` for the k-th station
   listed in ``station_areas``. Each station has a random effect
   ``u_station ~ N(0, station_sd)`` [0.3] on the satisfaction latent.
3. **Cause.** ``cause_l1`` given the creation month (shares ``cause_share``
   times the season multiplier, renormalised); ``cause_l2`` within
   ``cause_l1`` with ``subcause_share``. Channel with ``channel_share``.
4. **Customer.** Customer ids (10 digits) come from a pool of
   ``customer_pool_ratio`` x tickets; a share ``follow_up_share`` of tickets
   re-use the customer of a ticket created up to ``follow_up_window_days``
   earlier, so repeat complainers exist, some within 30 days. One mobile
   number ``1[3-9]\\d{9}`` per customer.
5. **Handling.** ``hours = exp(log(handling_median_hours[cause_l2]) +
   handling_sigma * z)``, clipped to ``handling_min_hours`` ..
   ``handling_max_hours`` [0.25 h .. 1440 h = 60 days], rounded to whole
   minutes; ``resolved_at = created_at + hours``; ``surveyed_at = resolved_at +
   U{survey_delay_hours}`` [2 .. 96 h, whole minutes].
6. **Repeat calls** ``~ Poisson(exp(repeat_intercept + repeat_cause[cause_l1]
   + repeat_log_hours * L))``.
7. **Resolved** (yes / partly / no) with probabilities ``resolved_probs``
   [by sub-cause; ``resolved_probs_default`` otherwise].
8. **Satisfaction** (the potential answer of EVERY ticket, surveyed or not):
   ``eta = beta_sub[cause_l2] + slope[cause_l1] * L + beta_channel[channel]
   + beta_repeat * (repeat_calls > 0) + beta_resolved[resolved] + u_station``;
   ``latent = eta + Logistic(0, 1)``;
   ``sat_overall = 1 + #{cutpoints < latent}`` (proportional odds). The three
   item scores use the same latent plus item-specific parts and their own
   ``N(0, item_noise_sd)`` noise, cut at the same cutpoints:
   speed ``+ speed_log_hours * (L - speed_ref_log_hours)``; attitude
   ``+ attitude_staff`` when the sub-cause is staff_attitude; outcome
   ``+ outcome_resolved[resolved]``.
9. **Survey response** (missing at random given cause group, handling time and
   region only): ``logit P(completed) = response_intercept +
   response_cause[cause_l1] + response_log_hours * L + response_region[region]``;
   a non-completed ticket is ``refused`` with probability ``refused_share``,
   else ``no_answer``. Slow tickets are less satisfied AND less often
   surveyed, so the naive respondent satisfied rate is biased upward; both it
   and the population rate are in ``truth``.
10. **Answers** of completed surveys: each item is replaced by 拒答 or 不清楚
    (half each) with probability ``missing_overall`` [0.03] for the overall
    item and ``missing_item`` [0.02] for the others.
11. **Comments**: blank with ``comment_blank`` [0.70]; a planted mobile number
    in ``comment_phone`` [0.03] of rows; an 18-digit ID-card number (valid
    GB 11643 check digit, so X occurs) in ``comment_idcard`` [0.01]; else a
    short phrase from a bank (positive phrases when the overall answer is 4 or 5).
12. **Formatting**: every row writes its datetimes in one style chosen at
    random (``date_style_slash`` [0.5]): ``2026-03-01 08:15:00`` or
    ``2026/3/1 8:15``. Ticket ids ``GD<yyyymmdd><5-digit sequence of the day>``.

Hard cases (issue 11; every one off by default)
-----------------------------------------------
Each switch of :class:`SimParams` below is 0 / ``None`` by default, in which case
the output is exactly that of steps 1-12. Switched on, a hard case draws only
from its own side stream ``default_rng([seed, attempt, key])``, so the other
columns keep their draws, and ``truth["hard_cases"]`` records the switches and
what an estimator should recover. ``hard_case_params()`` (CLI ``research
simulate --hard-cases``) turns all of them on at :data:`HARD_CASE_DEFAULTS`.
With any of the first four on, step 8 becomes structural:
``latent0 = base + h(hours) + Logistic`` with ``base = beta_sub + beta_channel
+ u_station (+ station_handling_sat * v_station)`` and ``h = slope * L`` (or the
step), then repeat calls and resolution are drawn given ``latent0``, and
``latent = latent0 + beta_repeat * (repeat > 0) + beta_resolved[resolved]``.
``centre`` is the mean of ``base + h`` over the tickets (``truth["hard_cases"]["latent_centre"]``).

- ``resolution_from_satisfaction`` [0; 0.8 with --hard-cases]: cumulative logit of
  the resolved answer, ``logit P(resolved <= k) = logit(resolved_probs cum_k)
  + a * (latent0 - centre) - b * difficulty``: dissatisfied customers more often
  answer "not resolved", so resolution is partly a consequence of satisfaction.
- ``resolution_from_difficulty`` (``b`` above) [0; 0.8]: a ticket difficulty
  ``d ~ N(0, 1)`` makes up a share ``difficulty_handling_corr`` [0.6] of the
  handling-time normal (``z = rho d + sqrt(1 - rho^2) z'``, marginal unchanged),
  so difficult tickets are slow AND less often resolved.
- ``repeat_from_dissatisfaction`` [0; 0.3]: repeat calls ``~ Poisson(exp(step 6
  - k * (latent0 - centre)))``: dissatisfied customers call again.
- ``station_handling_sd`` [0; 0.4]: station random effect ``v_station ~ N(0, sd)``
  on log handling hours, entering the latent with ``station_handling_sat``
  [-0.5] per unit: slow stations are less satisfied for other reasons too, so
  station confounds handling time.
- ``threshold_step`` [None; capability (96 h, 0.8), voltage (72 h, 0.8)]:
  ``{cause_l1: (hours0, drop)}`` replaces the group's smooth ``slope * L`` by
  ``slope * log2(1 + hours0) - drop * (hours > hours0)``: flat, then a step.
- ``response_from_satisfaction`` [0; 0.25] and ``refusal_from_satisfaction``
  [0; -0.3]: step 9 gains ``+ r * (latent - c)`` on the completion logit and a
  non-completed ticket is refused with ``logit = logit(refused_share) + s *
  (latent - c)``, ``c`` the mean linear predictor (missing not at random;
  refusals and no-answers differ). The population is then drawn in full before
  the cut; not combinable with the ``plant_*`` options.

``truth["hard_cases"]``: ``levers`` (for each cause group, halving its handling
time and bringing every late ticket to its SLA deadline: the population effect on
the satisfied rate as a proportion over all work orders and within the group,
the natural direct effect with the resolution answer drawn as under the
factual hours, and the share through resolution; from the simulator's potential
outcomes, :func:`potential_satisfied`, averaged over each ticket's noise, with
everything that precedes handling held as drawn), ``thresholds`` (hours, latent
drop, the satisfied rate just below and just above the step and their
difference), ``smooth_slopes`` (groups without a step), ``station_handling``,
``resolution`` and ``repeat`` (rates by satisfaction), ``response`` (population
vs respondents' satisfied rate; rates by survey status; completion by satisfaction).

Planted faults
--------------
With ``faults = f`` about ``round(f * n)`` faults are planted in the survey
export, spread round-robin over :data:`FAULT_REASONS`, each on distinct rows
(see :func:`simulate`). ``truth["planted_faults"]`` lists ``ticket_id``,
1-based ``source_row`` and ``reason`` of every rejected row. The canonical
``responses`` frame holds exactly the rows ingest must accept.

Public API: :class:`SimParams`, :class:`Simulation`, :func:`simulate`,
:func:`write_simulation`, :func:`hard_case_params`, :data:`HARD_CASE_DEFAULTS`,
:func:`potential_satisfied`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research import schema
from research.instrument import Instrument, load_instrument
from research.sla import sla_deadlines

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
    (:data:`research.schema.RESPONSES`, :data:`research.schema.WORKORDERS`;
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


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _draw_cat(rng: np.random.Generator, table: np.ndarray, row: np.ndarray | None, size: int) -> np.ndarray:
    """Draw category indices; ``table[row]`` holds each draw's probabilities."""
    table = np.asarray(table, dtype=float)
    table = table / table.sum(axis=-1, keepdims=True)
    cum = np.cumsum(table, axis=-1)
    u = rng.random(size)
    out = np.zeros(size, dtype=np.int64)
    for j in range(table.shape[-1] - 1):
        out += u >= (cum[j] if row is None else cum[row, j])
    return out


def _cut(latent: np.ndarray, cutpoints) -> np.ndarray:
    out = np.ones(len(latent), dtype=np.int64)
    for c in cutpoints:
        out += latent > c
    return out


_STR = pa.large_string()  # what pandas' Arrow-backed string arrays hold: no copy on conversion


def _strings(values) -> pa.Array:
    return pa.array(list(values), type=_STR)


def _take(table: pa.Array, idx: np.ndarray) -> pa.Array:
    return table.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, pa.scalar("", type=_STR))


def _log2h(hours: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + hours)


class _Clock:
    """Formats minute offsets from ``start`` in the two export styles."""

    def __init__(self, start: pd.Timestamp, n_days: int):
        days = pd.date_range(start, periods=n_days, freq="D")
        iso = [f"{d.year:04d}-{d.month:02d}-{d.day:02d}" for d in days]
        slash = [f"{d.year}/{d.month}/{d.day}" for d in days]
        self.compact = _strings(f"{d.year:04d}{d.month:02d}{d.day:02d}" for d in days)
        self.day = _strings(iso + slash)
        self.n_days = n_days
        tod_iso = [f" {m // 60:02d}:{m % 60:02d}:00" for m in range(_MINUTES_PER_DAY)]
        tod_slash = [f" {m // 60}:{m % 60:02d}" for m in range(_MINUTES_PER_DAY)]
        self.tod = _strings(tod_iso + tod_slash)

    def format(self, minutes: np.ndarray, slash: np.ndarray) -> pa.Array:
        day, tod = np.divmod(minutes, _MINUTES_PER_DAY)
        s = slash.astype(np.int64)
        return _join(_take(self.day, day + s * self.n_days), _take(self.tod, tod + s * _MINUTES_PER_DAY))


def _idcards(rng: np.random.Generator, size: int) -> list[str]:
    """Synthetic 18-digit resident ID numbers with a valid GB 11643 check digit."""
    area = rng.choice(_ID_AREAS, size)
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, size), unit="D")
    seq = rng.integers(0, 1000, size)
    out = []
    for a, b, s in zip(area, birth, seq):
        body = f"{a:06d}{b.year:04d}{b.month:02d}{b.day:02d}{s:03d}"
        check = _ID_CHECK[int(np.dot(np.array(list(body), dtype=int), _ID_WEIGHTS)) % 11]
        out.append(body + check)
    return out


def _to_str_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="str"))


# --------------------------------------------------------------------------
# the simulator
# --------------------------------------------------------------------------


def simulate(n: int, seed: int, *, faults: float = 0.0, params: SimParams | None = None,
             instrument: Instrument | None = None) -> Simulation:
    """Simulate ``n`` completed surveys and their work-order population.

    Parameters
    ----------
    n : number of survey rows before planted faults (completed surveys), >= 1.
    seed : seed of ``numpy.random.default_rng``; same arguments give identical output.
    faults : fraction of survey rows to plant faults on (``0 <= faults < 0.5``);
        ``round(faults * n)`` faults spread round-robin over :data:`FAULT_REASONS`.
        In-place faults change one cell of a clean row; ``duplicate``,
        ``conflicting_duplicate`` and ``no_workorder`` add a row, so the survey
        export has ``n + (#duplicate) + (#conflicting_duplicate) + (#no_workorder)``
        rows.
    params : the DGP; default :class:`SimParams()` (every hard case off).
    instrument : labels and SLA targets; default :func:`research.instrument.load_instrument`.

    Returns
    -------
    Simulation
        Exports, canonical frames, ``truth`` (JSON-serialisable; ``truth["hard_cases"]``
        when a hard-case switch of :class:`SimParams` is on) and the population.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    if not 0.0 <= faults < 0.5:
        raise ValueError(f"faults must be in [0, 0.5), got {faults!r}")
    n = int(n)
    p = params or SimParams()
    ins = instrument or load_instrument()
    _check_params(p, ins)
    ct = _code_tables(p, ins)
    rng, pop, tk, m = _draw_until_n(n, seed, p, ct)
    tk["rows"] = np.flatnonzero(pop["status"] == 0)  # n rows, creation order
    rest = _survey_answers(rng, n, p, tk)
    exports = _exports(rng, n, faults, p, ins, ct, pop, tk, rest, m)
    frames = _canonical_frames(p, ins, ct, pop, tk, rest, exports, m)
    truth = _truth(n, seed, faults, p, frames["population"], frames["responses"], tk["rows"], tk["sat"],
                   ins.satisfied_threshold, ct["station_names"], tk["station_effect"], ct["p_bar"],
                   exports["plan"], exports["survey_export"], frames["sla_warnings"])
    if tk["planted_signals"]:
        truth["planted_signals"] = tk["planted_signals"]
    model = tk.get("model")
    if _hard_cases_on(p):
        truth["hard_cases"] = _hard_case_truth(p, ct, tk, frames, model)
    return Simulation(survey_export=exports["survey_export"], workorders_export=exports["wo_export"],
                      responses=frames["responses"], workorders=frames["workorders"], truth=truth,
                      population=frames["population"], model=model)


def _code_tables(p: SimParams, ins: Instrument) -> dict[str, Any]:
    """Codes of causes, channels, regions and stations, and the station draw table."""
    l1_codes = list(p.cause_share)
    l2_by_l1 = [[c for c in ins.subcauses_of(g) if c in p.subcause_share] for g in l1_codes]
    l2_codes = [c for group in l2_by_l1 for c in group]
    regions = list(p.region_share)
    station_names, station_region, station_w = [], [], []
    for r_i, r in enumerate(regions):
        areas = p.station_areas[r]
        w = np.arange(1, len(areas) + 1, dtype=float) ** -p.station_size_decay
        for a, wk in zip(areas, w / w.sum()):
            station_names.append(f"{r}{a}供电所")
            station_region.append(r_i)
            station_w.append(wk)
    station_region = np.array(station_region)
    station_first = np.searchsorted(station_region, np.arange(len(regions)))
    n_st_region = np.bincount(station_region, minlength=len(regions))
    st_table = np.zeros((len(regions), n_st_region.max()))
    for s, (r_i, w) in enumerate(zip(station_region, station_w)):
        st_table[r_i, s - station_first[r_i]] = w
    start = pd.Timestamp(p.start)
    end_minute = ((pd.Timestamp(p.end) - start).days + 1) * _MINUTES_PER_DAY - 1
    return {"l1_codes": l1_codes, "l2_by_l1": l2_by_l1, "l2_codes": l2_codes,
            "l2_index": {c: i for i, c in enumerate(l2_codes)}, "ch_codes": list(p.channel_share),
            "regions": regions, "station_names": station_names, "st_table": st_table,
            "station_first": station_first, "start": start, "end_minute": end_minute,
            "period_days": (end_minute + 1) // _MINUTES_PER_DAY,
            "p_bar": _mean_completion(p, l1_codes, l2_by_l1, regions), "thr": ins.satisfied_threshold}


def _draw_until_n(n: int, seed: int, p: SimParams, ct: dict) -> tuple:
    """Draw the population until the ``n``-th completed survey; return ``(rng, pop, tickets, m)``.

    Without ``response_from_satisfaction`` the survey status is known before the
    satisfaction model, so the population is cut first and the tickets' other
    fields are drawn for the ``m`` tickets kept (the stream of the default DGP).
    With it, every allocated ticket gets its satisfaction first, then its status,
    then the cut.
    """
    n_target = n / ct["p_bar"]
    margin, attempt = 1.0, 0
    mnar = p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0
    while True:
        n_alloc = int(np.ceil(n_target * (1.05 * margin) + 6 * np.sqrt(n_target) * margin + 20))
        rng = np.random.default_rng([seed, attempt] if attempt else seed)
        pop = _draw_population(rng, p, n_alloc, n_target, ct["start"], ct["l1_codes"], ct["l2_by_l1"],
                               ct["l2_index"], ct["regions"], ct["st_table"], ct["station_first"],
                               side=lambda k: np.random.default_rng([seed, attempt, k]))
        if mnar:
            tk = _draw_tickets(rng, p, ct, pop, n_alloc, lambda k: np.random.default_rng([seed, attempt, k]))
            _mnar_status(p, ct, pop, tk)
        done = np.flatnonzero(pop["status"] == 0)
        if len(done) >= n:
            break
        attempt, margin = attempt + 1, margin * 2
    m = int(done[n - 1]) + 1
    pop = {k: (v if k == "station_handling_effects" else v[:m]) for k, v in pop.items()}
    t = pop["created"]
    if t[-1] > ct["end_minute"]:  # compress into the period (only when the cut fell after `end`)
        t = np.floor(t * (ct["end_minute"] / t[-1]))
    pop["created"] = t.astype(np.int64)
    if mnar:
        tk = _slice_tickets(tk, m)
    else:
        tk = _draw_tickets(rng, p, ct, pop, m, lambda k: np.random.default_rng([seed, attempt, k]))
    tk["station_handling_effects"] = pop.get("station_handling_effects")
    tk["resolved_min"] = pop["created"] + pop["handling_min"]
    tk["surveyed_min"] = tk["resolved_min"] + tk["survey_delay"]
    return rng, pop, tk, m


def _draw_tickets(rng, p: SimParams, ct: dict, pop: dict, m: int, side) -> dict[str, Any]:
    """Channel, customer, repeat calls, resolution and satisfaction of the first ``m`` tickets.

    Draws from ``rng`` in the order of the default DGP; hard cases draw only from
    their own ``side(k)`` streams, so switching one on leaves every other draw as it was.
    """
    tk: dict[str, Any] = {"planted_signals": {}}
    l1, l2, station = pop["l1"][:m], pop["l2"][:m], pop["station"][:m]
    if p.plant_recurrence is not None:
        st_name, cause, monday, share = p.plant_recurrence
        idx = np.flatnonzero((station == ct["station_names"].index(st_name))
                             & _week_mask(pop["created"], ct["start"], monday))
        chosen = idx[: int(round(share * len(idx)))]  # the week's earliest tickets: no random draw
        l2, l1 = l2.copy(), l1.copy()
        l2[chosen] = ct["l2_index"][cause]
        l1[chosen] = next(g for g, subs in enumerate(ct["l2_by_l1"]) if cause in subs)
        tk["planted_signals"]["recurrence"] = {"station": st_name, "cause_l2": cause, "week_start": monday,
                                               "tickets_relabelled": int(len(chosen))}
    tk.update(l1=l1, l2=l2)
    hours = pop["handling_min"][:m] / 60.0
    L = _log2h(hours)
    d_lo, d_hi = (int(round(h * 60)) for h in p.survey_delay_hours)
    tk["survey_delay"] = rng.integers(d_lo, d_hi + 1, m)
    tk["channel"] = _draw_cat(rng, list(p.channel_share.values()), None, m)
    pool = max(1, int(np.ceil(p.customer_pool_ratio * m)))
    tk["cust_ids"] = rng.choice(9_000_000_000, size=pool, replace=False) + 1_000_000_000
    tk["phones"] = (10_000_000_000 + rng.integers(3, 10, pool) * 1_000_000_000
                    + rng.integers(0, 1_000_000_000, pool))
    cust = rng.integers(0, pool, m)
    follow = np.flatnonzero(rng.random(m) < p.follow_up_share)
    window = max(1, int(round(m / ct["period_days"] * p.follow_up_window_days)))
    src = follow - rng.integers(1, window + 1, len(follow))
    keep = src >= 0
    cust[follow[keep]] = cust[src[keep]]
    tk["cust"] = cust
    rep_rate = np.exp(p.repeat_intercept + np.array([p.repeat_cause[g] for g in ct["l1_codes"]])[l1]
                      + p.repeat_log_hours * L)
    tk["repeat_calls"] = rng.poisson(rep_rate)
    tk["u_resolved"] = rng.random(m)  # the uniform _draw_cat would draw for `resolved`
    res_table = np.array([p.resolved_probs.get(c, p.resolved_probs_default) for c in ct["l2_codes"]])
    tk["resolved"] = _cat_from_u(tk["u_resolved"], res_table, l2)
    tk["station_effect"] = rng.normal(0.0, p.station_sd, len(ct["station_names"]))
    tk["eps"] = rng.logistic(0.0, 1.0, m)
    tk["noise"] = rng.normal(0.0, p.item_noise_sd, (3, m))
    _satisfaction(p, ct, pop, tk, hours, side)
    return tk


def _slice_tickets(tk: dict, m: int) -> dict:
    """Keep the first ``m`` tickets of every per-ticket array (customer pools are kept whole)."""
    out = {}
    for k, v in tk.items():
        if k in ("cust_ids", "phones", "station_effect", "planted_signals", "response_centre",
                 "station_handling_effects"):
            out[k] = v
        elif k == "model":
            out[k] = _sub_model(v, slice(0, m))
        elif k == "sat":
            out[k] = {i: a[:m] for i, a in v.items()}
        elif k == "noise":
            out[k] = v[:, :m]
        else:
            out[k] = v[:m]
    return out


def _satisfaction(p: SimParams, ct: dict, pop: dict, tk: dict, hours: np.ndarray, side) -> None:
    """The satisfaction latent, the four potential answers and (hard cases) repeat and resolution.

    With no hard case on the arithmetic is exactly that of the default DGP (step 8).
    """
    m = len(hours)
    l1, l2, ch, station = tk["l1"], tk["l2"], tk["channel"], pop["station"][:m]
    L = _log2h(hours)
    if p.plant_out_of_control is not None:  # uses survey times: only without response_from_satisfaction
        st_name, monday, shift = p.plant_out_of_control
        surveyed = pop["created"][:m] + pop["handling_min"][:m] + tk["survey_delay"]
        hit = (station == ct["station_names"].index(st_name)) & _week_mask(surveyed, ct["start"], monday)
        tk["planted_signals"]["out_of_control"] = {"station": st_name, "week_start": monday,
                                                   "latent_shift": shift, "tickets": int(hit.sum())}
        shift = np.where(hit, float(shift), 0.0)
    else:
        shift = None
    model = _sat_model(p, ct, pop, tk, hours, shift)
    tk["model"] = model
    if not _latent_hard_cases_on(p):
        eta = (np.array([p.beta_sub[c] for c in ct["l2_codes"]])[l2]
               + np.array([p.slope[g] for g in ct["l1_codes"]])[l1] * L
               + np.array([p.beta_channel[c] for c in ct["ch_codes"]])[ch]
               + p.beta_repeat * (tk["repeat_calls"] > 0)
               + np.array([p.beta_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]]
               + tk["station_effect"][station])
        if shift is not None:
            eta = eta + shift
    else:
        latent0 = model["base"] + _handling_term(p, ct["l1_codes"], l1, hours) + tk["eps"]
        if p.repeat_from_dissatisfaction != 0:
            rate = _repeat_rate(p, ct["l1_codes"], l1, L, latent0, model["centre"])
            tk["repeat_calls"] = side(_SIDE_REPEAT).poisson(rate)
        if p.resolution_from_satisfaction != 0 or p.resolution_from_difficulty != 0:
            probs = _resolved_probs(p, model, latent0)
            tk["resolved"] = _cat_from_cum(tk["u_resolved"], probs)
        eta = (latent0 - tk["eps"] + p.beta_repeat * (tk["repeat_calls"] > 0)
               + np.array([p.beta_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]])
    latent = eta + tk["eps"]
    tk["eta"], tk["latent"] = eta, latent
    sat = {"sat_overall": _cut(latent, p.cutpoints)}
    noise = tk["noise"]
    sat["sat_speed"] = _cut(latent + p.speed_log_hours * (L - p.speed_ref_log_hours) + noise[0],
                            p.cutpoints)
    staff = l2 == ct["l2_index"].get("staff_attitude", -1)
    sat["sat_attitude"] = _cut(latent + p.attitude_staff * staff + noise[1], p.cutpoints)
    sat["sat_outcome"] = _cut(latent + np.array([p.outcome_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]]
                              + noise[2], p.cutpoints)
    tk["sat"] = sat


def _survey_answers(rng, n: int, p: SimParams, tk: dict) -> dict[str, Any]:
    """Item non-response, comments and date styles of the ``n`` survey rows (DGP steps 10-12)."""
    rows, m = tk["rows"], len(tk["l1"])
    answers = {}
    for item, rate in zip(SAT_ITEMS, (p.missing_overall,) + (p.missing_item,) * 3):
        miss = rng.random(n) < rate
        which = rng.integers(0, 2, n)
        answers[item] = np.where(miss, -1 - which, tk["sat"][item][rows])  # -1 拒答, -2 不清楚
    comment_kind = _draw_cat(rng, [p.comment_blank, p.comment_phone, p.comment_idcard,
                                   1 - p.comment_blank - p.comment_phone - p.comment_idcard], None, n)
    slash_s = rng.random(n) < p.date_style_slash
    slash_w = rng.random(m) < p.date_style_slash
    comment_raw, comment_masked = _comments(rng, comment_kind, tk["sat"]["sat_overall"][rows],
                                            tk["phones"][tk["cust"][rows]])
    return {"answers": answers, "slash_s": slash_s, "slash_w": slash_w, "comment_raw": comment_raw,
            "comment_masked": comment_masked}


def _exports(rng, n, faults, p, ins, ct, pop, tk, rest, m) -> dict[str, Any]:
    """The two exports as the utility writes them (Chinese headers and labels), faults planted."""
    created, rows = pop["created"], tk["rows"]
    region, station, l1, l2, channel = pop["region"], pop["station"], tk["l1"], tk["l2"], tk["channel"]
    resolved_min, surveyed_min = tk["resolved_min"], tk["surveyed_min"]
    slash_s, slash_w = rest["slash_s"], rest["slash_w"]
    clock = _Clock(ct["start"], int(surveyed_min.max() // _MINUTES_PER_DAY) + 2)
    day = created // _MINUTES_PER_DAY
    first_of_day = np.searchsorted(day, day, side="left")
    seq = np.arange(m) - first_of_day + 1
    if seq.max() >= 90000:
        raise ValueError("more than 89999 tickets on one day: ticket ids would overflow")
    seq_table = _strings(f"{i:05d}" for i in range(int(seq.max()) + 1))
    ticket = _join(pa.scalar("GD", type=_STR), _take(clock.compact, day), _take(seq_table, seq))
    cust_str = pa.array(tk["cust_ids"][tk["cust"]]).cast(_STR)
    phone_str = pa.array(tk["phones"][tk["cust"]]).cast(_STR)
    zh = {k: ins.label_sets[k].zh() for k in ("channel", "cause_l1", "cause_l2", "resolved", "survey_status")}
    region_t, station_t = _strings(ct["regions"]), _strings(ct["station_names"])
    ch_zh = _strings(zh["channel"][c] for c in ct["ch_codes"])
    l1_zh = _strings(zh["cause_l1"][c] for c in ct["l1_codes"])
    l2_zh = _strings(zh["cause_l2"][c] for c in ct["l2_codes"])
    l2_parent = np.array([ct["l1_codes"].index(ins.parent[c]) for c in ct["l2_codes"]])
    place = {"地市": (region_t, region), "供电所": (station_t, station), "受理渠道": (ch_zh, channel),
             "诉求大类": (l1_zh, l1), "诉求子类": (l2_zh, l2)}
    wo_export = pd.DataFrame({
        "工单编号": _to_str_series(ticket), "客户编号": _to_str_series(cust_str),
        "联系电话": _to_str_series(phone_str),
        **{h: _to_str_series(_take(t, idx)) for h, (t, idx) in place.items()},
        "受理时间": _to_str_series(clock.format(created, slash_w)),
        "办结时间": _to_str_series(clock.format(resolved_min, slash_w)),
        "回访状态": _to_str_series(_take(_strings(zh["survey_status"][c] for c in STATUS_CODES),
                                       pop["status"])),
    })
    sat_zh = {int(lab.code): lab.zh for lab in ins.scales["sat5"].levels}
    # index: 0 不清楚 (answer -2), 1 拒答 (answer -1), 2..6 levels 1..5
    sat_labels = _strings([MISSING_LABELS[1], MISSING_LABELS[0]] + [sat_zh[k] for k in range(1, 6)])
    cols: dict[str, pa.Array] = {
        "工单编号": ticket.take(pa.array(rows)), "客户编号": cust_str.take(pa.array(rows)),
        "联系电话": phone_str.take(pa.array(rows)),
        **{h: _take(t, idx[rows]) for h, (t, idx) in place.items()},
        "受理时间": clock.format(created[rows], slash_s),
        "办结时间": clock.format(resolved_min[rows], slash_s),
        "回访时间": clock.format(surveyed_min[rows], slash_s),
        "重复来电次数": pa.array(tk["repeat_calls"][rows]).cast(_STR),
        "是否解决": _take(_strings(zh["resolved"][c] for c in RESOLVED_CODES), tk["resolved"][rows]),
    }
    answers = rest["answers"]
    for item, header in zip(SAT_ITEMS, SURVEY_HEADERS[13:17]):
        cols[header] = _take(sat_labels, np.where(answers[item] < 0, answers[item] + 2, answers[item] + 1))
    cols["客户意见"] = rest["comment_raw"]
    plan = _plant_faults(rng, n, faults, cols, created[rows], l2[rows], l2_parent, ct["l2_by_l1"], l2_zh,
                         answers["sat_overall"], sat_labels, clock, slash_s, ticket, rows, day)
    del cols
    columns = plan.pop("columns")
    survey_export = pd.DataFrame({h: _to_str_series(columns[h]) for h in SURVEY_HEADERS})
    return {"survey_export": survey_export, "wo_export": wo_export, "plan": plan, "ticket": ticket,
            "cust_str": cust_str, "region_t": region_t, "station_t": station_t}


def _canonical_frames(p, ins, ct, pop, tk, rest, ex, m) -> dict[str, Any]:
    """The canonical ``workorders`` and ``responses`` frames and the ``population`` frame."""
    start = ct["start"]

    def ts(minutes: np.ndarray) -> pd.Series:
        return pd.Series((start + pd.to_timedelta(minutes, unit="min")).as_unit("us"))

    created_dt, resolved_dt = ts(pop["created"]), ts(tk["resolved_min"])
    hours = pop["handling_min"] / 60.0
    region, station, l1, l2, channel = pop["region"], pop["station"], tk["l1"], tk["l2"], tk["channel"]
    l2_code_t = _strings(ct["l2_codes"])
    deadline, sla_warnings = sla_deadlines(created_dt, pd.Series(pd.array(_take(l2_code_t, l2),
                                                                          dtype="string")), ins)
    sla_met = (resolved_dt <= deadline).astype("boolean")
    text = {  # canonical text columns as Arrow arrays (no Python objects for a million rows)
        "ticket_id": ex["ticket"], "customer_id": ex["cust_str"],
        "region": _take(ex["region_t"], region), "station": _take(ex["station_t"], station),
        "channel": _take(_strings(ct["ch_codes"]), channel),
        "cause_l1": _take(_strings(ct["l1_codes"]), l1), "cause_l2": _take(l2_code_t, l2),
    }

    def frame(idx: np.ndarray | None) -> dict[str, Any]:
        sel = (lambda a: a) if idx is None else (lambda a: a.take(pa.array(idx)))
        pick = (lambda x: x) if idx is None else (lambda x: x.iloc[idx].reset_index(drop=True))
        out: dict[str, Any] = {k: pd.array(sel(v), dtype="string") for k, v in text.items()}
        out.update(created_at=pick(created_dt), resolved_at=pick(resolved_dt),
                   handling_hours=hours if idx is None else hours[idx],
                   sla_deadline=pick(deadline), sla_met=pick(sla_met))
        return out

    wo = frame(None)
    wo["survey_status"] = pd.array(_take(_strings(STATUS_CODES), pop["status"]), dtype="string")
    wo["source_row"] = np.arange(1, m + 1, dtype=np.int64)
    workorders = schema.conform(pd.DataFrame(wo), "workorders")

    plan = ex["plan"]
    acc = plan["accepted"]  # indices into the n survey rows, in export order
    take_rows = tk["rows"][acc]
    resp = frame(take_rows)
    resp["surveyed_at"] = ts(tk["surveyed_min"][take_rows])
    resp["repeat_calls"] = pd.array(tk["repeat_calls"][take_rows], dtype="Int64")
    resp["resolved"] = pd.array(_take(_strings(RESOLVED_CODES), tk["resolved"][take_rows]), dtype="string")
    for item in SAT_ITEMS:
        a = rest["answers"][item][acc]
        resp[item] = pd.Series(a).where(a > 0).astype("Int64")
    comment = pd.Series(pd.array(rest["comment_masked"].take(pa.array(acc)), dtype="string"))
    resp["comment"] = comment.mask(comment == "")
    thr = ins.satisfied_threshold
    resp["satisfied"] = (resp["sat_overall"] >= thr).astype("boolean")
    resp["repeat"] = pd.Series(resp["repeat_calls"] > 0, dtype="boolean")
    resp["source_row"] = plan["accepted_source_row"].astype(np.int64)
    responses = schema.conform(pd.DataFrame(resp), "survey")

    population = pd.DataFrame({
        "ticket_id": workorders["ticket_id"], "customer_id": workorders["customer_id"],
        "region": pd.Categorical.from_codes(region, ct["regions"]),
        "station": pd.Categorical.from_codes(station, ct["station_names"]),
        "channel": pd.Categorical.from_codes(channel, ct["ch_codes"]),
        "cause_l1": pd.Categorical.from_codes(l1, ct["l1_codes"]),
        "cause_l2": pd.Categorical.from_codes(l2, ct["l2_codes"]),
        "created_at": created_dt, "resolved_at": resolved_dt, "handling_hours": hours,
        "sla_met": sla_met, "repeat_calls": tk["repeat_calls"],
        "resolved": pd.Categorical.from_codes(tk["resolved"], RESOLVED_CODES),
        "station_effect": tk["station_effect"][station],
        "eta": tk["eta"], "p_complete": pop["p_complete"],
        "survey_status": pd.Categorical.from_codes(pop["status"], STATUS_CODES),
        **{item: tk["sat"][item] for item in SAT_ITEMS},
    })
    population["satisfied"] = population["sat_overall"] >= thr
    sla_hours = ((deadline - created_dt) / pd.Timedelta(hours=1)).to_numpy(dtype=float, na_value=np.nan)
    return {"workorders": workorders, "responses": responses, "population": population,
            "sla_warnings": sla_warnings, "sla_hours": sla_hours}


def _week_mask(minutes: np.ndarray, start: pd.Timestamp, monday: str) -> np.ndarray:
    """Rows whose time (minutes after ``start``) falls in the 7 days from ``monday`` 00:00."""
    m0 = (pd.Timestamp(monday) - start) / pd.Timedelta(minutes=1)
    return (minutes >= m0) & (minutes < m0 + 7 * _MINUTES_PER_DAY)


def _check_params(p: SimParams, ins: Instrument) -> None:
    l1 = set(ins.label_sets["cause_l1"].codes)
    l2 = set(ins.label_sets["cause_l2"].codes)
    problems = []
    for name, known in (("cause_share", l1), ("slope", l1), ("repeat_cause", l1), ("response_cause", l1),
                        ("subcause_share", l2), ("beta_sub", l2), ("handling_median_hours", l2),
                        ("channel_share", set(ins.label_sets["channel"].codes)),
                        ("beta_channel", set(ins.label_sets["channel"].codes))):
        keys = set(getattr(p, name))
        if keys != known:
            problems.append(f"{name}: keys {sorted(keys ^ known)} differ from the instrument")
    for name in ("beta_resolved", "outcome_resolved"):
        if set(getattr(p, name)) != set(RESOLVED_CODES):
            problems.append(f"{name}: keys must be {list(RESOLVED_CODES)}")
    if not set(p.resolved_probs) <= l2:
        problems.append(f"resolved_probs: unknown sub-causes {sorted(set(p.resolved_probs) - l2)}")
    if set(p.region_share) != set(p.station_areas) or set(p.region_share) != set(p.response_region):
        problems.append("region_share, station_areas and response_region must name the same regions")
    if len(p.cutpoints) != 4 or list(p.cutpoints) != sorted(p.cutpoints):
        problems.append("cutpoints must be 4 increasing numbers")
    if set(ins.label_sets["resolved"].codes) != set(RESOLVED_CODES) or \
            set(ins.label_sets["survey_status"].codes) != set(STATUS_CODES):
        problems.append("the instrument's resolved / survey_status codes differ from the simulator's")
    for name, plant in (("plant_out_of_control", p.plant_out_of_control), ("plant_recurrence", p.plant_recurrence)):
        if plant is None:
            continue
        size = 3 if name == "plant_out_of_control" else 4
        if len(plant) != size or pd.Timestamp(plant[-2 if size == 4 else 1]).day_of_week != 0:
            problems.append(f"{name}: expected {size} values with a Monday date, got {plant!r}")
        if size == 4 and plant[1] not in l2:
            problems.append(f"{name}: unknown sub-cause {plant[1]!r}")
        stations = {f"{r}{a}供电所" for r, areas in p.station_areas.items() for a in areas}
        if plant and plant[0] not in stations:
            problems.append(f"{name}: unknown station {plant[0]!r}")
    problems += _check_hard_cases(p, l1)
    if problems:
        raise ValueError("SimParams do not match the instrument: " + "; ".join(problems))


def _check_hard_cases(p: SimParams, l1: set) -> list[str]:
    problems = []
    if not -1 < p.difficulty_handling_corr < 1:
        problems.append("difficulty_handling_corr must lie in (-1, 1)")
    if p.station_handling_sd < 0:
        problems.append("station_handling_sd must be >= 0")
    for g, v in (p.threshold_step or {}).items():
        if g not in l1:
            problems.append(f"threshold_step: unknown cause group {g!r}")
        elif len(v) != 2 or not float(v[0]) > 0:
            problems.append(f"threshold_step[{g!r}]: expected (hours > 0, latent drop), got {v!r}")
    mnar = p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0
    if mnar and (p.plant_out_of_control is not None or p.plant_recurrence is not None):
        problems.append("response_from_satisfaction / refusal_from_satisfaction cannot be combined "
                        "with the monitoring plants (plant_*)")
    return problems


def _response_logit(p: SimParams, l1_codes, regions, l1, region, L) -> np.ndarray:
    return (p.response_intercept + np.array([p.response_cause[g] for g in l1_codes])[l1]
            + p.response_log_hours * L + np.array([p.response_region[r] for r in regions])[region])


def _mean_completion(p: SimParams, l1_codes, l2_by_l1, regions) -> float:
    """Expected completion rate under the DGP (Gauss-Hermite quadrature over handling time)."""
    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    total = 0.0
    r_share = np.array(list(p.region_share.values()))
    r_share = r_share / r_share.sum()
    g_share = _period_cause_mix(p, l1_codes)
    for g, subs in enumerate(l2_by_l1):
        s_share = np.array([p.subcause_share[c] for c in subs])
        s_share = s_share / s_share.sum()
        for c, sw in zip(subs, s_share):
            h = np.clip(np.exp(np.log(p.handling_median_hours[c]) + p.handling_sigma * z),
                        p.handling_min_hours, p.handling_max_hours)
            for r, rw in enumerate(r_share):
                lg = _response_logit(p, l1_codes, regions, np.array([g]), np.array([r]), _log2h(h))
                total += g_share[g] * sw * rw * float(np.dot(w, 1 / (1 + np.exp(-lg))))
    return total


def _month_mix(p: SimParams, l1_codes) -> np.ndarray:
    """(12, groups): relative ticket intensity of each cause group by calendar month."""
    season = np.ones((12, len(l1_codes)))
    if "outage" in l1_codes:
        for mth, mult in p.outage_season.items():
            season[mth - 1, l1_codes.index("outage")] = mult
    return season * np.array(list(p.cause_share.values()), dtype=float)


def _period_cause_mix(p: SimParams, l1_codes) -> np.ndarray:
    """Share of each cause group over the whole creation period (seasonality included)."""
    days = pd.date_range(p.start, p.end, freq="D")
    mix = _month_mix(p, l1_codes)[days.month - 1].sum(axis=0)
    return mix / mix.sum()


def _draw_population(rng, p: SimParams, n_alloc: int, n_target: float, start, l1_codes, l2_by_l1,
                     l2_index, regions, st_table, station_first, side=None) -> dict[str, np.ndarray]:
    """Creation time, place, cause, handling time and survey status of ``n_alloc`` tickets.

    ``side(k)`` gives the side random stream of hard case ``k`` (difficulty, station handling).
    """
    period_days = (pd.Timestamp(p.end) - start).days + 1
    n_days = int(period_days * (n_alloc / n_target + 1)) + 62
    days = pd.date_range(start, periods=n_days, freq="D")
    month_of_day = (days.month - 1).to_numpy()
    month_mix = _month_mix(p, l1_codes)
    daily = month_mix.sum(axis=1)[month_of_day]
    cum = np.concatenate([[0.0], np.cumsum(daily)])
    u = np.sort(rng.random(n_alloc)) * (n_alloc / n_target) * cum[period_days]
    d = np.searchsorted(cum, u, side="right") - 1
    t_days = d + (u - cum[d]) / daily[d]
    created = np.floor(t_days * _MINUTES_PER_DAY)  # minutes since start, nondecreasing

    region = _draw_cat(rng, list(p.region_share.values()), None, n_alloc)
    station = station_first[region] + _draw_cat(rng, st_table, region, n_alloc)
    l1 = _draw_cat(rng, month_mix, month_of_day[d], n_alloc)
    width = max(len(s) for s in l2_by_l1)
    sub_table = np.zeros((len(l1_codes), width))
    sub_offset = np.zeros(len(l1_codes), dtype=np.int64)
    for g, subs in enumerate(l2_by_l1):
        sub_table[g, :len(subs)] = [p.subcause_share[c] for c in subs]
        sub_offset[g] = l2_index[subs[0]]
    l2 = sub_offset[l1] + _draw_cat(rng, sub_table, l1, n_alloc)
    l2_codes = list(l2_index)
    med = np.array([p.handling_median_hours[c] for c in l2_codes])[l2]
    z = rng.standard_normal(n_alloc)
    out: dict[str, np.ndarray] = {}
    if p.resolution_from_difficulty != 0:  # difficulty: a share of the handling-time normal
        out["difficulty"] = side(_SIDE_DIFFICULTY).standard_normal(n_alloc)
        rho = p.difficulty_handling_corr
        z = rho * out["difficulty"] + np.sqrt(1 - rho ** 2) * z
    log_h = np.log(med) + p.handling_sigma * z
    if p.station_handling_sd > 0:  # station random effect on log handling time
        out["station_handling_effects"] = side(_SIDE_STATION).normal(0.0, p.station_handling_sd,
                                                                     int((st_table > 0).sum()))
        out["station_handling"] = out["station_handling_effects"][station]
        log_h = log_h + out["station_handling"]
    hours = np.clip(np.exp(log_h), p.handling_min_hours, p.handling_max_hours)
    handling_min = np.maximum(1, np.round(hours * 60)).astype(np.int64)
    L = _log2h(handling_min / 60.0)
    response_logit = _response_logit(p, l1_codes, regions, l1, region, L)
    p_complete = 1 / (1 + np.exp(-response_logit))
    u_complete = rng.random(n_alloc)
    u_refused = rng.random(n_alloc)
    completed = u_complete < p_complete
    refused = u_refused < p.refused_share
    status = np.where(completed, 0, np.where(refused, 2, 1))
    return {"created": created, "region": region, "station": station, "l1": l1, "l2": l2,
            "handling_min": handling_min, "p_complete": p_complete, "status": status,
            "response_logit": response_logit, "u_complete": u_complete, "u_refused": u_refused, **out}


def _comments(rng, kind: np.ndarray, sat_overall: np.ndarray, phones: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Raw and masked comments. kind: 0 blank, 1 planted phone, 2 planted ID card, 3 phrase."""
    n = len(kind)
    pos = sat_overall >= 4
    phrase_idx = np.where(pos, rng.integers(0, len(_POSITIVE), n),
                          len(_POSITIVE) + rng.integers(0, len(_NEGATIVE), n))
    phrases = list(_POSITIVE + _NEGATIVE)
    raw = np.array([""] * n, dtype=object)
    masked = np.array([""] * n, dtype=object)
    is_phrase = kind == 3
    table = np.array(phrases, dtype=object)
    raw[is_phrase] = table[phrase_idx[is_phrase]]
    masked[is_phrase] = raw[is_phrase]
    ph = np.flatnonzero(kind == 1)
    tmpl = rng.integers(0, len(_PHONE_TEMPLATES), len(ph))
    for i, t, num in zip(ph, tmpl, phones[ph]):
        pre, post = _PHONE_TEMPLATES[t]
        raw[i] = f"{pre}{num}{post}"
        masked[i] = f"{pre}[PHONE]{post}"
    ids = np.flatnonzero(kind == 2)
    tmpl = rng.integers(0, len(_IDCARD_TEMPLATES), len(ids))
    for i, t, num in zip(ids, tmpl, _idcards(rng, len(ids))):
        pre, post = _IDCARD_TEMPLATES[t]
        raw[i] = f"{pre}{num}{post}"
        masked[i] = f"{pre}[IDCARD]{post}"
    return pa.array(raw, type=_STR), pa.array(masked, type=_STR)


def _plant_faults(rng, n, faults, cols, created, l2, l2_parent, l2_by_l1, l2_zh, sat_overall, sat_labels,
                  clock, slash, ticket, rows, day) -> dict[str, Any]:
    """Plant faults; return the export columns in final order and the accepted rows."""
    k = int(round(faults * n))
    per_reason = {r: k // len(FAULT_REASONS) + (i < k % len(FAULT_REASONS))
                  for i, r in enumerate(FAULT_REASONS)}
    order = rng.permutation(n)
    used = np.zeros(n, dtype=bool)
    cursor = 0

    def pick(eligible=None) -> int:
        nonlocal cursor
        while cursor < n:
            i = int(order[cursor])
            cursor += 1
            if not used[i] and (eligible is None or eligible(i)):
                used[i] = True
                return i
        raise ValueError("too many faults for the number of rows")

    edits: dict[str, dict[int, str]] = {h: {} for h in cols}  # header -> {extended row: value}
    rejected: list[tuple[int, str]] = []  # (extended row, reason)
    extras: list[tuple[int, int]] = []  # (base row copied, insert-before position)
    bad_base = np.zeros(n, dtype=bool)
    t0_ok = created >= 2 * _MINUTES_PER_DAY
    for reason in FAULT_REASONS:
        for _ in range(per_reason[reason]):
            if reason == "missing_required":
                i = pick(); edits["供电所"][i] = ""
            elif reason == "unknown_label":
                i = pick(); edits["受理渠道"][i] = "传真"
            elif reason == "cause_mismatch":
                i = pick()
                others = [g for g in range(len(l2_by_l1)) if g != l2_parent[l2[i]]]
                g = others[rng.integers(len(others))]
                choices = [j for j in range(len(l2_parent)) if l2_parent[j] == g]
                edits["诉求子类"][i] = l2_zh[int(choices[rng.integers(len(choices))])].as_py()
            elif reason == "time_order":
                i = pick(lambda j: t0_ok[j])
                back = created[i] - int(rng.integers(60, 48 * 60 + 1))
                edits["办结时间"][i] = clock.format(np.array([back]), slash[i:i + 1])[0].as_py()
            elif reason == "invalid_answer":
                i = pick(); edits["总体满意度"][i] = ("6", "很好")[int(rng.integers(2))]
            elif reason == "invalid_datetime":
                i = pick(); edits["受理时间"][i] = _BAD_DATETIME
            elif reason == "invalid_count":
                i = pick(); edits["重复来电次数"][i] = ("-1", "两次")[int(rng.integers(2))]
            elif reason == "duplicate":
                i = pick()
                extras.append((i, int(rng.integers(i + 1, n + 1))))
                rejected.append((n + len(extras) - 1, reason))
                continue
            elif reason == "conflicting_duplicate":
                i = pick()
                extras.append((i, int(rng.integers(i + 1, n + 1))))
                e = n + len(extras) - 1
                cur = int(sat_overall[i])
                options = [v for v in range(1, 6) if v != cur]
                edits["总体满意度"][e] = sat_labels[options[rng.integers(len(options))] + 1].as_py()
                rejected += [(i, reason), (e, reason)]
                bad_base[i] = True
                continue
            else:  # no_workorder
                i = pick()
                extras.append((i, int(rng.integers(0, n + 1))))
                e = n + len(extras) - 1
                j = sum(1 for _, r in rejected if r == reason)
                edits["工单编号"][e] = "GD" + clock.compact[int(day[rows[i]])].as_py() + f"{90000 + j:05d}"
                rejected.append((e, reason))
                continue
            rejected.append((i, reason))
            bad_base[i] = True

    src = np.concatenate([np.arange(n), np.array([s for s, _ in extras], dtype=np.int64)])
    key = np.concatenate([np.arange(n, dtype=float), np.array([b - 0.5 for _, b in extras])])
    tie = np.arange(len(src))
    final = np.lexsort((tie, key))  # extended row at each export position
    position = np.empty(len(src), dtype=np.int64)
    position[final] = np.arange(len(src))
    out = {}
    for h, arr in cols.items():
        ext = arr.take(pa.array(src)) if extras else arr
        if edits[h]:
            mask = np.zeros(len(src), dtype=bool)
            idx = sorted(edits[h])
            mask[idx] = True
            ext = pc.replace_with_mask(ext, pa.array(mask), pa.array([edits[h][i] for i in idx],
                                                                     type=_STR))
        out[h] = ext.take(pa.array(final))
    accepted = np.flatnonzero(~bad_base)
    accepted = accepted[np.argsort(position[accepted], kind="stable")]
    tickets = out["工单编号"]
    planted = sorted(({"ticket_id": tickets[int(position[e])].as_py(), "source_row": int(position[e]) + 1,
                       "reason": r} for e, r in rejected), key=lambda d: d["source_row"])
    return {"columns": out, "accepted": accepted, "accepted_source_row": position[accepted] + 1,
            "planted": planted, "per_reason": per_reason, "n_extra": len(extras),
            "n_rows": len(src)}


def _rate(x) -> float | None:
    x = pd.Series(x).dropna()
    return float(x.mean()) if len(x) else None


def _truth(n, seed, faults, p, population, responses, rows, sat, thr, station_names, station_effect,
           p_bar, plan, survey_export, sla_warnings) -> dict:
    sat_ok = population["satisfied"]
    resp_sat = responses["satisfied"].astype("float64")
    counts_status = population["survey_status"].value_counts()
    per = plan["per_reason"]
    n_rejected = len(plan["planted"])
    dist = np.bincount(population["sat_overall"], minlength=6)[1:] / len(population)
    return {
        "synthetic": True,
        "generator": "research.simulate.simulate",
        "call": {"n": n, "seed": seed, "faults": faults},
        # unset plants are left out, so truth files from before they existed stay byte-identical
        "params": _jsonable({k: v for k, v in dataclasses.asdict(p).items()
                             if not (k.startswith("plant_") and v is None)
                             and not (k in _HARD_FIELDS and v == _FIELD_DEFAULTS[k])}),
        "station_effects": {s: float(v) for s, v in zip(station_names, station_effect)},
        "satisfied_threshold": thr,
        "population": {
            "description": "all work orders; potential sat_overall of every ticket, surveyed or not",
            "satisfied_rate": float(sat_ok.mean()),
            "satisfied_rate_by_cause_l1": _group_rates(population, "cause_l1"),
            "satisfied_rate_by_cause_l2": _group_rates(population, "cause_l2"),
            "sat_overall_distribution": {str(k): float(v) for k, v in zip(range(1, 6), dist)},
            "completion_rate": float((population["survey_status"] == "completed").mean()),
            "expected_completion_rate": float(p_bar),
            "mean_p_complete": float(population["p_complete"].mean()),
            "median_handling_hours": float(population["handling_hours"].median()),
            "sla_met_rate": float(population["sla_met"].mean()),
        },
        "respondents": {
            "description": "all n completed surveys, potential sat_overall before missing answers",
            "satisfied_rate": float((sat["sat_overall"][rows] >= thr).mean()),
        },
        "naive": {
            "description": "accepted responses with an observed sat_overall (what ingest yields)",
            "satisfied_rate": _rate(resp_sat),
            "satisfied_rate_by_cause_l1": {
                g: _rate(resp_sat[responses["cause_l1"] == g])
                for g in population["cause_l1"].cat.categories},
        },
        "bias_naive_minus_population": _rate(resp_sat) - float(sat_ok.mean()),
        "counts": {
            "workorders": len(population),
            "completed": int(counts_status.get("completed", 0)),
            "no_answer": int(counts_status.get("no_answer", 0)),
            "refused": int(counts_status.get("refused", 0)),
            "survey_rows_before_faults": n,
            "appended_copies": per["duplicate"] + per["conflicting_duplicate"],
            "no_workorder_rows": per["no_workorder"],
            "survey_rows": len(survey_export),
            "survey_rows_rule": "survey_rows = n + appended_copies + no_workorder_rows",
            "faults_planted": int(sum(per.values())),
            "faults_by_reason": dict(per),
            "rejected_rows": n_rejected,
            "accepted_rows": len(responses),
            "accepted_with_sat_overall": int(responses["sat_overall"].notna().sum()),
        },
        "planted_faults": plan["planted"],
        "warnings": list(sla_warnings),
    }


def _group_rates(population: pd.DataFrame, by: str) -> dict[str, float]:
    g = population.groupby(by, observed=True)["satisfied"].mean()
    return {str(k): float(v) for k, v in g.items()}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def write_simulation(sim: Simulation, out_dir, *, survey_encoding: str = "utf-8-sig",
                     workorders_encoding: str = "gb18030") -> dict[str, Path]:
    """Write ``survey.csv``, ``workorders.csv`` and ``truth.json`` into ``out_dir``.

    CSV with ``\\n`` line ends, minimal quoting; the same simulation always
    gives the same bytes. Returns ``{"survey": path, "workorders": path, "truth": path}``.
    """
    from research.safeio import atomic_write_bytes, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"survey": out / "survey.csv", "workorders": out / "workorders.csv", "truth": out / "truth.json"}
    # Atomic, but not through safeio.write_csv: these are raw exports, written exactly as a utility's
    # system would (planted faults included), so their cells must not be neutralised.
    for name, frame, encoding in (("survey", sim.survey_export, survey_encoding),
                                  ("workorders", sim.workorders_export, workorders_encoding)):
        atomic_write_bytes(paths[name], frame.to_csv(index=False, lineterminator="\n").encode(encoding))
    atomic_write_text(paths["truth"], json.dumps(sim.truth, ensure_ascii=False, indent=1) + "\n")
    return paths


# --------------------------------------------------------------------------
# hard cases (issue 11): switches, the structural satisfaction model, potential outcomes
# --------------------------------------------------------------------------

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


def hard_case_params(**overrides: Any) -> SimParams:
    """:class:`SimParams` with every hard case on at :data:`HARD_CASE_DEFAULTS` (then ``overrides``)."""
    return SimParams(**{**HARD_CASE_DEFAULTS, **overrides})


def _hard_cases_on(p: SimParams) -> bool:
    return _latent_hard_cases_on(p) or p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0


def _latent_hard_cases_on(p: SimParams) -> bool:
    """A hard case that changes the structural satisfaction model (not only who answers)."""
    return (p.resolution_from_satisfaction != 0 or p.resolution_from_difficulty != 0
            or p.repeat_from_dissatisfaction != 0 or p.station_handling_sd > 0 or bool(p.threshold_step))


def _expit(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -700, 700)))


def _cat_from_u(u: np.ndarray, table: np.ndarray, row: np.ndarray) -> np.ndarray:
    """What :func:`_draw_cat` returns for the uniforms ``u`` (same arithmetic)."""
    table = np.asarray(table, dtype=float)
    table = table / table.sum(axis=-1, keepdims=True)
    cum = np.cumsum(table, axis=-1)
    out = np.zeros(len(u), dtype=np.int64)
    for j in range(table.shape[-1] - 1):
        out += u >= cum[row, j]
    return out


def _cat_from_cum(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Category of each uniform given per-row probabilities ``probs`` (rows, k)."""
    cum = np.cumsum(probs, axis=1)
    return (u[:, None] >= cum[:, :-1]).sum(axis=1).astype(np.int64)


def _handling_term(p: SimParams, l1_codes, l1: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Effect of handling time on the latent: ``slope * L``, or the planted step of a cause group.

    A group in ``threshold_step`` (``hours0, drop``) gets the smooth curve's value at
    ``hours0`` up to ``hours0`` and ``drop`` less beyond it (flat on either side).
    """
    out = np.array([p.slope[g] for g in l1_codes])[l1] * _log2h(hours)
    for g, (h0, drop) in (p.threshold_step or {}).items():
        sel = l1 == l1_codes.index(g)
        out[sel] = p.slope[g] * _log2h(float(h0)) - float(drop) * (hours[sel] > float(h0))
    return out


def _repeat_rate(p: SimParams, l1_codes, l1, L, latent0, centre) -> np.ndarray:
    """Poisson rate of repeat calls; with ``repeat_from_dissatisfaction`` it rises as the latent falls."""
    lin = (p.repeat_intercept + np.array([p.repeat_cause[g] for g in l1_codes])[l1] + p.repeat_log_hours * L
           - p.repeat_from_dissatisfaction * (latent0 - centre))
    return np.exp(np.minimum(lin, 30.0))


def _resolved_probs(p: SimParams, model: dict, latent0: np.ndarray) -> np.ndarray:
    """(tickets, 3) probabilities of yes / partly / no given the pre-resolution latent.

    Cumulative logit: ``logit P(resolved <= k) = logit(base_k[cause_l2])
    + resolution_from_satisfaction * (latent0 - centre) - resolution_from_difficulty * difficulty``.
    """
    base = model["res_table"][model["l2"]]
    if p.resolution_from_satisfaction == 0 and p.resolution_from_difficulty == 0:
        return np.broadcast_to(base[:, None, :], latent0.shape + (3,)) if latent0.ndim > 1 else base
    cum = np.clip(np.cumsum(base, axis=1)[:, :2], 1e-12, 1 - 1e-12)
    theta = np.log(cum / (1 - cum))
    shift = p.resolution_from_satisfaction * (latent0 - model["centre"])
    if p.resolution_from_difficulty != 0:
        d = model["difficulty"]
        shift = shift - p.resolution_from_difficulty * (d if latent0.ndim == 1 else d[:, None])
    if latent0.ndim > 1:
        theta = theta[:, None, :]
    c = _expit(theta + shift[..., None])
    return np.stack([c[..., 0], c[..., 1] - c[..., 0], 1 - c[..., 1]], axis=-1)


def _sat_model(p: SimParams, ct: dict, pop: dict, tk: dict, hours: np.ndarray, shift) -> dict:
    """Per-ticket inputs of the structural satisfaction model that no handling-time lever moves."""
    m = len(hours)
    l1, l2, station = tk["l1"], tk["l2"], pop["station"][:m]
    base = (np.array([p.beta_sub[c] for c in ct["l2_codes"]])[l2]
            + np.array([p.beta_channel[c] for c in ct["ch_codes"]])[tk["channel"]]
            + tk["station_effect"][station])
    if p.station_handling_sd > 0:
        base = base + p.station_handling_sat * pop["station_handling"][:m]
    if shift is not None:
        base = base + shift
    res = np.array([p.resolved_probs.get(c, p.resolved_probs_default) for c in ct["l2_codes"]], dtype=float)
    res = res / res.sum(axis=1, keepdims=True)
    centre = float(np.mean(base + _handling_term(p, ct["l1_codes"], l1, hours)))
    return {"base": base, "l1": l1, "l2": l2, "hours": hours, "centre": centre, "res_table": res,
            "difficulty": pop["difficulty"][:m] if "difficulty" in pop else np.zeros(m),
            "l1_codes": ct["l1_codes"], "cut": p.cutpoints[ct["thr"] - 2]}


def _mnar_status(p: SimParams, ct: dict, pop: dict, tk: dict) -> None:
    """Survey status when response depends on the satisfaction latent (DGP step 9, hard case).

    ``logit P(completed) = <MAR logit> + response_from_satisfaction * (latent - centre)``;
    a non-completed ticket is refused with ``logit = logit(refused_share)
    + refusal_from_satisfaction * (latent - centre)``, else not answered. The
    uniforms are those of the MAR draw, so both strengths 0 give the MAR status.
    """
    centre = float(np.mean(tk["eta"]))
    dev = tk["latent"] - centre
    p_complete = _expit(pop["response_logit"] + p.response_from_satisfaction * dev)
    p_refused = _expit(np.log(p.refused_share / (1 - p.refused_share)) + p.refusal_from_satisfaction * dev)
    completed = pop["u_complete"] < p_complete
    refused = pop["u_refused"] < p_refused
    pop["p_complete"] = p_complete
    pop["status"] = np.where(completed, 0, np.where(refused, 2, 1))
    tk["response_centre"] = centre


def _sub_model(model: dict, idx: np.ndarray) -> dict:
    return {k: (v[idx] if isinstance(v, np.ndarray) and k != "res_table" else v) for k, v in model.items()}


def _p_satisfied(p: SimParams, model: dict, hours: np.ndarray, resolution_hours: np.ndarray | None = None,
                 nodes: int = 24) -> np.ndarray:
    """P(satisfied) of each ticket of ``model`` had its handling time been ``hours``.

    The potential outcome of the structural model, averaged over the ticket's
    satisfaction noise and its repeat-call and resolution draws (the ticket's
    sub-cause, channel, station and difficulty stay as they are). With
    ``resolution_hours`` the resolution answer is drawn as under those hours (the
    cross-world mediator of a natural direct effect, Pearl 2001; VanderWeele 2015,
    ch. 2) while everything else follows ``hours``. The integral over the logistic
    noise is exact when neither repeat calls nor resolution depend on it, else
    Gauss-Legendre on the probability scale above the satisfied cut.
    """
    l1_codes = model["l1_codes"]
    a = model["base"] + _handling_term(p, l1_codes, model["l1"], hours)
    a_res = a if resolution_hours is None else \
        model["base"] + _handling_term(p, l1_codes, model["l1"], resolution_hours)
    L = _log2h(hours)
    x, w = np.polynomial.legendre.leggauss(nodes)
    beta_res = np.array([p.beta_resolved[c] for c in RESOLVED_CODES])
    out = np.zeros(len(a))
    for k in range(3):
        for r in (0, 1):
            u_lo = _expit(model["cut"] - a - p.beta_repeat * r - beta_res[k])  # P(noise <= threshold)
            u = np.clip(u_lo[:, None] + (1 - u_lo)[:, None] * (x + 1) / 2, 1e-300, 1 - 1e-16)
            eps = np.log(u) - np.log1p(-u)
            p_res = _resolved_probs(p, model, a_res[:, None] + eps)[..., k]
            p_rep = 1 - np.exp(-_repeat_rate(p, l1_codes, model["l1"][:, None], L[:, None],
                                             a[:, None] + eps, model["centre"]))
            g = p_res * (p_rep if r else 1 - p_rep)
            out += (1 - u_lo) / 2 * (g @ w)
    return out


def potential_satisfied(sim: Simulation, hours, *, resolution_hours=None,
                        params: SimParams | None = None) -> np.ndarray:
    """Potential P(satisfied) of every work order of ``sim`` under handling times ``hours``.

    Parameters
    ----------
    sim : a :class:`Simulation` from :func:`simulate`.
    hours : array (one per work order, population order) of handling hours under the lever.
    resolution_hours : optional hours under which the resolution answer is drawn
        (natural direct effect: pass the factual ``sim.population["handling_hours"]``).
    params : the :class:`SimParams` of the run (default: rebuilt from ``sim.truth["params"]``).

    Returns
    -------
    numpy.ndarray of probabilities; its mean minus the mean at the factual hours is the
    population lever effect (proportion, not points).
    """
    p = params or _params_from_truth(sim.truth)
    hours = np.asarray(hours, dtype=float)
    res = None if resolution_hours is None else np.asarray(resolution_hours, dtype=float)
    return _p_satisfied(p, sim.model, hours, res)


def _params_from_truth(truth: dict) -> SimParams:
    known = {f.name for f in dataclasses.fields(SimParams)}
    kw = {k: v for k, v in truth["params"].items() if k in known}
    for k in ("cutpoints", "survey_delay_hours", "resolved_probs_default"):
        kw[k] = tuple(kw[k])
    kw["resolved_probs"] = {c: tuple(v) for c, v in kw["resolved_probs"].items()}
    kw["outage_season"] = {int(k): v for k, v in kw["outage_season"].items()}
    if kw.get("threshold_step"):
        kw["threshold_step"] = {g: tuple(v) for g, v in kw["threshold_step"].items()}
    return SimParams(**kw)


def _lever_truth(p: SimParams, model: dict, hours: np.ndarray, sla_hours: np.ndarray) -> dict:
    """True effects of halving each cause group's handling time and of meeting its SLA."""
    factual = _p_satisfied(p, model, hours)
    m = len(hours)
    out = {"description": "potential outcomes of the simulator: mean P(satisfied) over all work orders "
                          "had handling time been changed for one cause group (proportions); "
                          "direct_effect keeps the resolution answer as under the factual handling time",
           "satisfied_rate_factual": float(factual.mean())}
    for g_i, g in enumerate(model["l1_codes"]):
        idx = np.flatnonzero(model["l1"] == g_i)
        if not len(idx):
            continue
        sub = _sub_model(model, idx)
        h = hours[idx]
        sla = np.where(np.isnan(sla_hours[idx]), h, np.minimum(h, sla_hours[idx]))
        for name, new in (("halve_handling", np.maximum(p.handling_min_hours, h / 2)), ("within_sla", sla)):
            total = _p_satisfied(p, sub, new)
            direct = _p_satisfied(p, sub, new, resolution_hours=h)
            te = float((total - factual[idx]).sum() / m)
            de = float((direct - factual[idx]).sum() / m)
            out[f"{name}_{g}"] = {
                "cause_l1": g, "lever": name, "tickets_in_group": int(len(idx)),
                "tickets_changed": int((new != h).sum()),
                "effect": te, "effect_in_group": float((total - factual[idx]).mean()),
                "direct_effect": de, "indirect_effect_through_resolution": te - de,
                "share_through_resolution": (te - de) / te if te != 0 else None}
    return out


def _hard_case_truth(p: SimParams, ct: dict, tk: dict, frames: dict, model: dict) -> dict:
    """What an estimator should recover under the hard cases that are on (``truth["hard_cases"]``)."""
    pop = frames["population"]
    hours = pop["handling_hours"].to_numpy(dtype=float)
    sat = pop["satisfied"].to_numpy(dtype=bool)
    out: dict[str, Any] = {"switches": {k: _jsonable(getattr(p, k)) for k in _HARD_FIELDS},
                           "latent_centre": model["centre"]}
    if _latent_hard_cases_on(p):
        out["levers"] = _lever_truth(p, model, hours, frames["sla_hours"])
    res_yes = pop["resolved"].to_numpy() == "yes"
    rep = pop["repeat_calls"].to_numpy() > 0
    out["resolution"] = {
        "resolved_yes_rate": float(res_yes.mean()),
        "satisfied_rate_if_resolved_yes": float(sat[res_yes].mean()) if res_yes.any() else None,
        "satisfied_rate_if_not_resolved_yes": float(sat[~res_yes].mean()) if (~res_yes).any() else None}
    out["repeat"] = {"repeat_share": float(rep.mean()),
                     "repeat_share_satisfied": float(rep[sat].mean()) if sat.any() else None,
                     "repeat_share_dissatisfied": float(rep[~sat].mean()) if (~sat).any() else None}
    if p.station_handling_sd > 0:
        v = tk["station_handling_effects"]
        u = tk["station_effect"]
        out["station_handling"] = {
            "effects_log_hours": {s: float(x) for s, x in zip(ct["station_names"], v)},
            "satisfaction_per_log_hour": p.station_handling_sat,
            "total_station_effect_on_latent": {s: float(a + p.station_handling_sat * b)
                                               for s, a, b in zip(ct["station_names"], u, v)}}
    if p.threshold_step:
        out["thresholds"] = {}
        for g, (h0, drop) in p.threshold_step.items():
            idx = np.flatnonzero(model["l1"] == ct["l1_codes"].index(g))
            sub = _sub_model(model, idx)
            below = _p_satisfied(p, sub, np.full(len(idx), float(h0)))
            above = _p_satisfied(p, sub, np.full(len(idx), float(h0) * (1 + 1e-9)))
            out["thresholds"][g] = {"hours": float(h0), "latent_drop": float(drop), "tickets": int(len(idx)),
                                    "satisfied_rate_at_threshold_below": float(below.mean()),
                                    "satisfied_rate_at_threshold_above": float(above.mean()),
                                    "satisfied_rate_drop": float(below.mean() - above.mean())}
        out["smooth_slopes"] = {g: p.slope[g] for g in ct["l1_codes"] if g not in p.threshold_step}
    status = pop["survey_status"].to_numpy().astype(str)
    out["response"] = {
        "response_centre": tk.get("response_centre"),
        "population_satisfied_rate": float(sat.mean()),
        "respondents_satisfied_rate": float(sat[status == "completed"].mean()),
        "satisfied_rate_by_status": {s: (float(sat[status == s].mean()) if (status == s).any() else None)
                                     for s in STATUS_CODES},
        "completion_rate_satisfied": float((status[sat] == "completed").mean()) if sat.any() else None,
        "completion_rate_dissatisfied": float((status[~sat] == "completed").mean()) if (~sat).any() else None}
    return out

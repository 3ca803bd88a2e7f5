"""The registry: every table and figure declared once, with a stable id.

Each entry names its id (``T01``..., ``F01``...), its Chinese and English title
and caption, the results it reads (bundle keys, see
:mod:`research.artifacts.bundle`) and the function that builds it:

- tables: ``research.artifacts.tables.<builder>(bundle) -> DataFrame`` (the
  table's data, machine column names, full precision);
- figures: ``research.artifacts.figures.<builder>(bundle) -> DataFrame`` (the
  data plotted) and ``research.artifacts.figures.<drawer>(data, lang, bundle)
  -> matplotlib Figure``.

The report refers to artifacts by id only; a test fails if the report cites an
id that nothing produces or if a produced artifact is cited nowhere.

Where a caption names the plan's confidence level it says ``{level}``, filled by
:meth:`ArtifactSpec.caption` from the entry's ``conf_level``: bind an entry to a build's plan
with :meth:`ArtifactSpec.for_bundle` (the renderers do). Levels fixed by a method (the funnel's
95% and 99.8% limits, the recurrence test's alpha) are written as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from research.artifacts.levels import DEFAULT_CONF_LEVEL, conf_level
from research.artifacts.words import LANGS, level_text


def _lang_index(lang: str) -> int:
    """0 for ``zh``, 1 for ``en`` (the order of every zh/en pair); ValueError otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    return LANGS.index(lang)


@dataclass(frozen=True)
class ArtifactSpec:
    """One registered table or figure."""

    id: str
    kind: str  # "table" | "figure"
    name: str  # file stem, e.g. "T01_sample"
    zh_title: str
    en_title: str
    zh_caption: str
    en_caption: str
    reads: tuple[str, ...]  # bundle keys
    builder: str | Callable  # function (or its name in research.artifacts.tables / .figures)
    drawer: str | None = None  # figures: drawing function in research.artifacts.figures
    #: tables: ``display(data, lang, bundle) -> Display``; None: the one
    #: research.artifacts.render_tables.DISPLAYS holds for the builder
    display: Callable | None = None
    #: the confidence level (0..1) a ``{level}`` in the title or caption shows; None: the plan's
    #: default (:data:`research.artifacts.levels.DEFAULT_CONF_LEVEL`). Set by :meth:`for_bundle`.
    conf_level: float | None = None

    def title(self, lang: str) -> str:
        """The title in ``lang`` (``zh`` or ``en``), ``{level}`` filled."""
        return self._level_filled((self.zh_title, self.en_title)[_lang_index(lang)])

    def caption(self, lang: str) -> str:
        """The caption in ``lang`` (``zh`` or ``en``), ``{level}`` filled with this entry's level (``90%``)."""
        return self._level_filled((self.zh_caption, self.en_caption)[_lang_index(lang)])

    def _level_filled(self, text: str) -> str:
        # str.replace, not str.format: a caption may hold other braces, and only {level} is a field
        level = DEFAULT_CONF_LEVEL if self.conf_level is None else self.conf_level
        return text.replace("{level}", level_text(level))

    def at_level(self, level: float) -> ArtifactSpec:
        """This entry with ``{level}`` shown as ``level`` (0..1, e.g. the plan's ``conf_level``)."""
        return replace(self, conf_level=float(level))

    def for_bundle(self, bundle: dict | None) -> ArtifactSpec:
        """This entry at the confidence level of the bundle's plan (:func:`research.artifacts.levels.conf_level`)."""
        return self.at_level(conf_level(bundle))

    def build_function(self) -> Callable:
        if callable(self.builder):
            return self.builder
        module = importlib.import_module("research.artifacts.tables" if self.kind == "table"
                                         else "research.artifacts.figures")
        return getattr(module, self.builder)

    def draw_function(self) -> Callable:
        return getattr(importlib.import_module("research.artifacts.figures"), self.drawer)


TABLES = (
    ArtifactSpec("T01", "table", "T01_sample", "样本描述", "Sample description",
                 "按诉求大类统计的工单数、回访完成数、有效回访数、处理时长中位数与满意率。",
                 "Work orders, completed surveys, valid responses, median handling time and satisfied "
                 "rate by cause group.",
                 ("responses", "workorders"), "table_sample"),
    ArtifactSpec("T02", "table", "T02_reconciliation", "数据核对：读取、接受与拒绝",
                 "Ingest reconciliation: rows read, accepted and rejected",
                 "每个输入文件读取的行数等于接受与拒绝行数之和；拒绝行按原因分列。",
                 "For every input file, rows read equal rows accepted plus rows rejected; rejections by reason.",
                 ("ingest_report",), "table_reconciliation"),
    ArtifactSpec("T03", "table", "T03_satisfaction_by_cause", "各诉求大类与子类的满意度",
                 "Satisfaction by cause group and sub-cause",
                 "满意率（总体满意度为“满意”或“非常满意”的比例）与平均得分，附{level}置信区间（未加权）。",
                 "Satisfied rate (share answering satisfied or very satisfied) and mean score with {level} "
                 "confidence intervals (unweighted).",
                 ("responses",), "table_satisfaction_by_cause"),
    ArtifactSpec("T04", "table", "T04_models", "模型估计结果对照", "Models side by side",
                 "Logit与有序模型为优势比exp(b)，线性与混合模型为系数，方括号内为{level}置信区间（切点为对数优势尺度，"
                 "括号内为标准误）；* p<0.05, ** p<0.01, *** p<0.001，诉求子类按Holm校正；下方为拟合统计量。",
                 "Odds ratios exp(b) for the logit and ordinal models, coefficients for the others, {level} intervals "
                 "in brackets (cutpoints: log-odds, standard errors in parentheses); * p<0.05, ** p<0.01, "
                 "*** p<0.001, Holm-adjusted for sub-causes; fit statistics below.",
                 ("estimates", "model_fit"), "table_models"),
    ArtifactSpec("T05", "table", "T05_handling_time_effects", "处理时长翻倍的平均边际效应",
                 "Average marginal effect of doubling the handling time",
                 "处理时长翻倍时各诉求大类工单的平均满意概率与平均得分的变化，附{level}置信区间。",
                 "Change in the probability of being satisfied and in the mean score when the handling "
                 "time of a cause group's tickets doubles, with {level} confidence intervals.",
                 ("marginal_effects",), "table_handling_time_effects"),
    ArtifactSpec("T06", "table", "T06_thresholds", "各诉求大类满意率随处理时长的变化：是否存在阈值",
                 "Satisfied rate against handling time by cause group: is there a threshold?",
                 "变点检验判断是否存在阈值；无变点时满意率逐渐下降，给出每翻倍的斜率。“下降5个百分点”的时长只是约定，"
                 "不是变点；置信区间来自按供电所的整群自助法。",
                 "A change-point test asks whether a threshold exists; without one the rate falls gradually "
                 "and the slope per doubling is the finding. The 5-point-drop time is a convention, not a "
                 "change point; intervals from a cluster bootstrap by station.",
                 ("thresholds",), "table_thresholds"),
    ArtifactSpec("T07", "table", "T07_group_comparisons", "组间比较与效应量",
                 "Group comparisons and effect sizes",
                 "总体满意度在诉求大类与子类间的Welch方差分析与Kruskal–Wallis检验，满意与否×诉求大类的卡方检验。",
                 "Welch ANOVA and Kruskal–Wallis tests of overall satisfaction across cause groups and "
                 "sub-causes; chi-square test of satisfied × cause group.",
                 ("comparisons", "association"), "table_group_comparisons"),
    ArtifactSpec("T08", "table", "T08_reliability", "满意度量表信度", "Reliability of the satisfaction scale",
                 "四个满意度题项的Cronbach α（Feldt {level}置信区间）、题项-其余总分相关与删除该题后的α。",
                 "Cronbach's alpha of the four satisfaction items (Feldt {level} interval), item-rest "
                 "correlations and alpha if the item is dropped.",
                 ("reliability", "item_statistics"), "table_reliability"),
    ArtifactSpec("T09", "table", "T09_response_rates", "回访成功率", "Survey response rates",
                 "各诉求大类、子类、地市、处理时长分段与供电所的工单回访成功、未接通与拒访比例；"
                 "回访成功率附Wilson {level}置信区间。",
                 "Shares of work orders whose survey was completed, not answered or refused, by cause group, "
                 "sub-cause, region, handling-time band and station; Wilson {level} intervals of the response rate.",
                 ("response_rates",), "table_response_rates"),
    ArtifactSpec("T10", "table", "T10_weight_diagnostics", "无应答调整权重诊断", "Non-response weight diagnostics",
                 "权重为每个回访样本代表的工单数。变异系数、Kish有效样本量与设计效应（1+CV²）衡量加权的精度代价。",
                 "Weights are work orders represented per respondent. The coefficient of variation, Kish's "
                 "effective sample size and the design effect (1 + CV²) measure the precision cost of weighting.",
                 ("weight_summary", "weight_margins"), "table_weight_diagnostics"),
    ArtifactSpec("T11", "table", "T11_weighted_vs_unweighted", "无应答对各项指标的影响：加权与未加权",
                 "How much non-response moves each figure: weighted against unweighted",
                 "加权估计代表全部工单；标准误按泰勒线性化计算，以供电所为整群并计入校准边际；未加权估计使用同样的整群。",
                 "Weighted estimates represent all work orders; Taylor-linearization standard errors with "
                 "stations as clusters and the calibration margins; unweighted estimates use the same clusters.",
                 ("weighted_estimates",), "table_weighted_vs_unweighted"),
    ArtifactSpec("T12", "table", "T12_weighted_effects", "处理时长翻倍的效应：加权与未加权",
                 "Effect of doubling the handling time: weighted against unweighted",
                 "满意概率的平均边际效应。加权列为按全部工单加权的调查加权模型（设计标准误）；未加权列同表T05。",
                 "Average marginal effect on P(satisfied). Weighted: survey-weighted model averaged over all "
                 "work orders (design-based standard errors); unweighted: as in T05.",
                 ("svy_marginal_effects", "marginal_effects"), "table_weighted_effects"),
    ArtifactSpec("T13", "table", "T13_response_propensity", "回访成功倾向模型", "Response-propensity model",
                 "以全部工单拟合的回访成功Logit模型的优势比及{level}置信区间；重复来电指同一客户30天内另有工单。",
                 "Odds ratios of completing the survey from a logit fitted on all work orders, with {level} "
                 "intervals; a repeat caller is a customer with another ticket in the 30 days before.",
                 ("propensity_estimates",), "table_response_propensity"),
    ArtifactSpec("T14", "table", "T14_levers", "改进杠杆排序：哪项措施带来最大的满意率提升",
                 "Improvement levers ranked: which measure buys the largest gain in satisfaction",
                 "以Logit模型对每张工单在现状与情景下分别预测满意概率并取平均（g计算），两者之差为预期满意率变化；"
                 "同时折算为每万件投诉中不满意客户数的变化。区间来自按供电所的整群自助法。模型只调整处理之前已确定的"
                 "变量（诉求子类、渠道、供电所、受理月份），不调整是否办结与重复来电（二者部分由不满意引起）；"
                 "因果解读假定给定这些变量后无未测混杂。E值（VanderWeele与Ding 2017）为足以解释掉该效应的未测混杂"
                 "强度（风险比，按受影响工单的不满意率计算）。",
                 "Each ticket's P(satisfied) predicted as observed and under the lever, averaged (g-computation, "
                 "logit model): expected change in the satisfied rate and in dissatisfied customers per 10,000 "
                 "complaints; cluster-bootstrap intervals by station. The model adjusts only for what precedes "
                 "handling (sub-cause, channel, station, month), never for resolution or repeat calls (partly "
                 "caused by dissatisfaction); a causal reading assumes no unmeasured confounding given these. "
                 "E-value (VanderWeele & Ding 2017): the risk ratio an unmeasured confounder would need with both "
                 "handling and dissatisfaction (among the tickets the lever changes) to explain the effect away.",
                 ("levers",), "table_levers"),
    ArtifactSpec("T15", "table", "T15_key_drivers", "满意度关键驱动因素与重要性—表现分析",
                 "Key drivers of satisfaction and importance–performance analysis",
                 "重要性为各驱动因素对总体满意度解释方差的Shapley（LMG）分解占比，运营因素与满意度分项分开分解；"
                 "与置换零分布比较；表现为处于有利水平的工单占比（0–1）；象限只含检出重要性且有表现指标的因素，"
                 "以其均值为界，概率来自按供电所的整群自助法。占比描述关联，不是效应。",
                 "LMG shares of explained variance, operational drivers and items decomposed apart, against a "
                 "permutation null; performance: share of tickets at the favourable level; quadrants only for "
                 "drivers clearing the null. Association, not effects.",
                 ("drivers_importance", "drivers_ipa"), "table_key_drivers"),
    ArtifactSpec("T16", "table", "T16_repeat_callers", "重复致电预警名单", "Repeat-caller early-warning list",
                 "同一客户30天内两张及以上工单的重复致电事件，按预测不满意概率排序；客户以化名表示。",
                 "Repeat-call episodes (two or more work orders of one customer within 30 days), ordered by the "
                 "predicted probability of dissatisfaction; customers shown as pseudonyms.",
                 ("repeat_callers",), "table_repeat_callers"),
    # alpha = 0.001: the recurrence test's fixed level (research.strategy.monitoring), not the plan's
    ArtifactSpec("T17", "table", "T17_recurrence", "同类诉求反复发生：供电所×诉求子类预警",
                 "Recurring complaints: station × sub-cause alerts",
                 "当周工单数显著高于前8周均值的供电所×诉求子类（单侧精确条件泊松检验，α=0.001），供专家团队分析。",
                 "Station × sub-cause cells whose weekly count is significantly above the mean of the 8 weeks "
                 "before (exact conditional Poisson test, one-sided, alpha = 0.001), for the expert teams.",
                 ("recurrence",), "table_recurrence"),
    ArtifactSpec("T18", "table", "T18_out_of_control", "失控的供电所周：不满意率p控制图",
                 "Out-of-control station weeks: p-chart of the dissatisfied rate",
                 "中心线为该供电所全期不满意率，控制限为±3σ（按当周回答数计算）。",
                 "Centre line: the station's pooled dissatisfied rate; limits ±3 sigma for the week's number of "
                 "answers.", ("p_chart",), "table_out_of_control"),
    ArtifactSpec("T19", "table", "T19_weighting_methods", "不同无应答调整方法下的满意率",
                 "The satisfied rate under each non-response adjustment",
                 "未加权、迭代比例加权（默认）、逆回访倾向加权、事后分层与结果模型（已回访者的Logit模型推及全部工单）"
                 "五种方法并列，总体及各诉求大类。",
                 "Unweighted, raking (the default), inverse response propensity, post-stratification and an outcome "
                 "model (the respondents' logit averaged over all work orders) side by side, overall and by cause group.",
                 ("weighting_methods",), "table_weighting_methods"),
    ArtifactSpec("T20", "table", "T20_nonresponse_delta", "若未回访客户的满意度不同：δ调整敏感性分析",
                 "If non-respondents were less (or more) satisfied: delta-adjustment sensitivity",
                 "假定未回访客户满意的对数优势比协变量相同的已回访客户低（或高）δ，全部工单的总体满意率（模式混合模型，"
                 "Rubin 1977; Little 1994），拒访与未接通分别计算，并给出使结论改变的临界δ。",
                 "Overall satisfied rate if non-respondents' log odds of being satisfied differed by δ from "
                 "comparable respondents' (pattern mixture; Rubin 1977, Little 1994), refusals and no-answers "
                 "apart; tipping δ against the target.",
                 ("delta_range", "tipping_deltas"), "table_nonresponse_delta"),
    ArtifactSpec("T21", "table", "T21_associations", "办结与重复来电与满意率的关联（非因果）",
                 "Resolution and repeat calls: associations with the satisfied rate, not effects",
                 "将全部工单设为某一水平与设为参照水平时的标准化满意率及其差（百分点），按诉求子类、处理时长、受理渠道、"
                 "供电所与月份调整。二者部分是不满意的后果，故为关联而非可施加的杠杆。",
                 "Standardised satisfied rate with every ticket set to a level and to the reference, and their "
                 "difference (points), adjusted for sub-cause, handling time, channel, station and month. Both are "
                 "partly consequences of dissatisfaction: associations, not levers.",
                 ("associations",), "table_associations"),
    # 99.8%: the funnel's control limits, fixed by the method (Spiegelhalter 2005), not the plan's level
    ArtifactSpec("T22", "table", "T22_station_funnel", "各供电所与总体满意率的比较（风险调整漏斗图）",
                 "Stations against the overall satisfied rate (risk-adjusted funnel)",
                 "按诉求子类、处理时长与受理渠道调整后的标准化满意率；超出99.8%控制限为信号，q值为Benjamini–Hochberg"
                 "校正（Spiegelhalter 2005）。按z排序。",
                 "Satisfied rate standardised for sub-cause, handling time and channel; outside the 99.8% limits "
                 "is a signal; q: Benjamini–Hochberg (Spiegelhalter 2005). Sorted by z.",
                 ("station_funnel",), "table_station_funnel"),
    ArtifactSpec("T23", "table", "T23_typical_cases", "典型案例分析：不满意客户意见中的区分词与典型案例",
                 "Typical cases: the words that mark dissatisfied customers' comments, and typical comments",
                 "各诉求大类中，不满意客户意见相对满意客户意见出现较多的词语（带信息先验的对数优势比z值，"
                 "Monroe等2008），以及与这些词语最相近的不满意客户意见（已脱敏）。词语与不满意相关联，不是不满意的原因。",
                 "Per cause group, the words more frequent in dissatisfied than in satisfied customers' comments "
                 "(z of the log-odds with an informative prior, Monroe et al. 2008), and the dissatisfied comments "
                 "(masked) closest to those words. The words are associated with dissatisfaction; they are not "
                 "its causes.",
                 ("typical_terms", "typical_cases"), "table_typical_cases"),
)

FIGURES = (
    ArtifactSpec("F01", "figure", "F01_pareto", "各诉求子类的投诉量（帕累托图）", "Complaints by sub-cause (Pareto)",
                 "柱为各诉求子类的工单数，折线为累计占比。", "Bars: work orders per sub-cause; line: cumulative share.",
                 ("workorders", "responses"), "figure_pareto_data", "draw_pareto"),
    ArtifactSpec("F02", "figure", "F02_satisfaction_by_subcause", "各诉求子类的满意率",
                 "Satisfied rate by sub-cause", "点为满意率，线段为{level}置信区间。",
                 "Points: satisfied rate; bars: {level} confidence intervals.",
                 ("responses",), "figure_satisfaction_data", "draw_satisfaction"),
    ArtifactSpec("F03", "figure", "F03_handling_time", "各诉求大类的处理时长分布",
                 "Distribution of handling time by cause group", "对数刻度的处理时长（小时）。",
                 "Handling time in hours, log scale.", ("responses",), "figure_handling_time_data",
                 "draw_handling_time"),
    ArtifactSpec("F04", "figure", "F04_speed_curves", "处理时长与预测满意率（关键图）",
                 "Predicted satisfied rate against handling time (key figure)",
                 "各诉求大类工单在不同处理时长下的平均预测满意率及{level}区间；竖线为下降5个百分点的约定时长，不是变点（见表T06）。",
                 "Average predicted satisfied rate of each cause group's tickets at each handling time, "
                 "with {level} bands; vertical lines mark the 5-point-drop convention, not change points (T06).",
                 ("threshold_curves", "thresholds"), "figure_speed_curves_data", "draw_speed_curves"),
    ArtifactSpec("F05", "figure", "F05_effects_forest", "各诉求子类对满意度的影响（森林图）",
                 "Effects of sub-causes on satisfaction (forest plot)",
                 "比例优势模型中各诉求子类相对参照类别的系数及{level}置信区间。",
                 "Proportional-odds coefficients of each sub-cause against the reference, with {level} intervals.",
                 ("estimates",), "figure_forest_data", "draw_forest"),
    ArtifactSpec("F06", "figure", "F06_item_correlations", "满意度题项相关热图", "Correlations of the satisfaction items",
                 "四个满意度题项两两之间的Pearson相关系数。", "Pairwise Pearson correlations of the four items.",
                 ("item_correlations",), "figure_item_correlation_data", "draw_item_correlations"),
    ArtifactSpec("F07", "figure", "F07_monthly_rate", "月度满意率", "Monthly satisfied rate",
                 "按回访月份统计的满意率及{level}置信区间。有效回访少于分析计划最少回答数（bulletin.min_n，"
                 "数值见图例）的月份不画满意率与区间，以灰色斜线条带标出，底部注明回答数；数据文件保留每个月份"
                 "（too_few列）。",
                 "Satisfied rate by survey month with {level} intervals. A month with fewer valid responses "
                 "than the plan's minimum (bulletin.min_n, shown in the legend) has no rate or interval drawn: "
                 "a grey hatched strip marks it, its count at the foot; the data file keeps every month (too_few).",
                 ("responses",), "figure_monthly_data", "draw_monthly"),
    ArtifactSpec("F08", "figure", "F08_response_funnel", "从工单到有效回答：回访漏斗与各子类回访成功率",
                 "From work orders to valid answers: the response funnel and response rate by sub-cause",
                 "左：各环节数量及占工单比例；右：各诉求子类的回访成功率及Wilson {level}置信区间。",
                 "Left: counts at each stage and their share of the work orders; right: response rate of "
                 "each sub-cause with its Wilson {level} interval.",
                 ("funnel", "response_rates"), "figure_funnel_data", "draw_funnel"),
    ArtifactSpec("F09", "figure", "F09_weighted_vs_unweighted", "各诉求子类满意率：加权与未加权",
                 "Satisfied rate by sub-cause: weighted against unweighted",
                 "空心灰点为未加权满意率，实心点为按工单总体加权的满意率，线段为{level}置信区间。",
                 "Hollow grey points: unweighted satisfied rate; filled points: rate weighted to the work-order "
                 "population; bars: {level} intervals.",
                 ("weighted_estimates",), "figure_weighted_data", "draw_weighted"),
    ArtifactSpec("F10", "figure", "F10_importance_performance", "重要性—表现分析（IPA）",
                 "Importance–performance analysis",
                 "运营因素中有表现指标且重要性超出置换零分布者；横轴为表现，纵轴为重要性，虚线为均值分界；"
                 "点旁数字为落在“重点改进区”的自助法概率。",
                 "Operational drivers with a performance measure clearing their permutation null; x: performance, "
                 "y: importance; dashed lines at the means; numbers: bootstrap probability of 'concentrate here'.",
                 ("drivers_ipa",), "figure_ipa_data", "draw_ipa"),
    # 95% and 99.8%: the funnel's control limits, fixed by the method (Spiegelhalter 2005), not the plan's level
    ArtifactSpec("F11", "figure", "F11_station_funnel", "各供电所风险调整满意率漏斗图",
                 "Funnel plot of the stations' risk-adjusted satisfied rates",
                 "点为各供电所按诉求子类、处理时长与受理渠道调整后的满意率，横轴为回答数；实线为总体满意率，"
                 "虚线与点线为95%与99.8%控制限（存在过度离散时已放宽）；标注者超出99.8%限或q<0.05。",
                 "Points: each station's satisfied rate adjusted for sub-cause, handling time and channel, against "
                 "its answers; line: the overall rate; dashed and dotted: 95% and 99.8% limits (widened for "
                 "over-dispersion when present); labelled: outside 99.8% or q < 0.05.",
                 ("station_funnel",), "figure_station_funnel_data", "draw_station_funnel"),
    ArtifactSpec("F12", "figure", "F12_typical_terms", "各诉求大类不满意客户意见的区分词",
                 "Words that mark dissatisfied customers' comments, by cause group",
                 "每个诉求大类中z值最高的至多10个词语（不满意客户意见相对满意客户意见，带信息先验的对数优势比）；"
                 "虚线为z = 1.96。词语与不满意相关联，不是不满意的原因（见表T23）。",
                 "Per cause group, at most 10 words of highest z (dissatisfied against satisfied customers' "
                 "comments, log-odds with an informative prior); dashed line at z = 1.96. The words are associated "
                 "with dissatisfaction; they are not its causes (T23).",
                 ("typical_terms",), "figure_typical_terms_data", "draw_typical_terms"),
)

#: the tables of `research bulletin` (research.bulletin), by key. Not in REGISTRY: reproduce and the
#: report do not build them; the bulletin command does, per period. Their ``builder`` is the key of
#: the section that computes and shows them (research.bulletin.sections.SECTIONS).
BULLETIN: dict[str, ArtifactSpec] = {
    "overview": ArtifactSpec(
        "B01", "table", "B01_overview", "总体情况", "Overview",
        "本期、上期与去年同期的工单量（按诉求大类）、满意率、工单及时率与重复来电占比。",
        "Work orders (by cause group), satisfied rate, resolution within target and repeat-caller share: "
        "this period, the previous period and the same period last year.",
        (), "overview"),
    "by_region": ArtifactSpec(
        "B02", "table", "B02_by_region", "分地市情况", "By region",
        "各地市本期指标及与上期相比的变化。", "Each region's indicators this period and the change "
        "against the previous period.", (), "by_region"),
    "by_station": ArtifactSpec(
        "B03", "table", "B03_by_station", "分供电所情况", "By station",
        "各供电所本期指标及与上期相比的变化。", "Each station's indicators this period and the change "
        "against the previous period.", (), "by_station"),
    "out_of_control": ArtifactSpec(
        "B04", "table", "B04_out_of_control", "不满意率失控供电所", "Stations out of control",
        "p控制图（按周，3σ控制限，中心线为该供电所截至本周的合并不满意率）判定为失控的供电所。",
        "Stations whose weekly dissatisfied rate lies beyond the 3-sigma limits of the p-chart (centre "
        "line: the station's pooled rate up to this week).", (), "out_of_control"),
    "recurrence": ArtifactSpec(
        "B05", "table", "B05_recurrence", "重复高发诉求", "Recurring complaints",
        "本周工单数显著高于前8周基线的供电所×诉求子类（精确条件泊松检验，α=0.001）。",
        "Station x sub-cause cells whose work orders this week exceed the 8-week baseline (exact "
        "conditional Poisson test, alpha = 0.001).", (), "recurrence"),
    "ranking": ArtifactSpec(
        "B06", "table", "B06_ranking", "月度督导排名（调整后满意率）", "Monthly supervision ranking "
        "(adjusted satisfied rate)",
        "随机截距Logit模型（拉普拉斯近似，同lme4::glmer）控制诉求子类、处理时长与受理渠道后的供电所满意率，"
        "附名次的模拟区间；供电所间方差与零无法区分时不作排名。与均值比较采用经调整的漏斗图并控制错误发现率。",
        "Station satisfied rates adjusted for sub-cause, handling time and channel by a logit "
        "random-intercept model (Laplace, as lme4::glmer), with simulated intervals on the ranks; "
        "no ranking when the between-station variance cannot be told from zero. Flags against the "
        "mean: risk-adjusted funnel with false-discovery-rate control.", (), "ranking"),
    "rising_words": ArtifactSpec(
        "B09", "table", "B09_rising_words", "不满意意见中增多的词语", "Words rising in dissatisfied comments",
        "不满意客户意见中本期比此前8期明显增多的词语（中文分词，带信息先验的对数优势比）。",
        "Words in dissatisfied customers' comments markedly more frequent this period than in the 8 before "
        "(Chinese word segmentation, log-odds with an informative prior).", (), "rising_words"),
    "red_black": ArtifactSpec(
        "B08", "table", "B08_red_black", "月度红黑榜", "Monthly red and black lists",
        "经病例组合调整后满意率高于（红榜）或低于（黑榜）全市均值且超出随机波动的供电所。",
        "Stations whose case-mix-adjusted satisfied rate lies above (red) or below (black) the overall rate "
        "beyond chance.", (), "red_black"),
    "repeat_callers": ArtifactSpec(
        "B07", "table", "B07_repeat_callers", "重复来电客户（按不满意风险）", "Repeat callers (by risk)",
        "30天内两次及以上来电、最近一次在本期的客户（仅显示假名），按预测不满意风险排序，至多50名。",
        "Customers (pseudonyms only) with two or more work orders within 30 days, the latest in this "
        "period, by predicted risk of dissatisfaction; at most 50.", (), "repeat_callers"),
}

REGISTRY: tuple[ArtifactSpec, ...] = TABLES + FIGURES


def get(artifact_id: str) -> ArtifactSpec:
    """The registered artifact with this id (KeyError listing the ids otherwise)."""
    for spec in REGISTRY:
        if spec.id == artifact_id:
            return spec
    raise KeyError(f"no artifact {artifact_id!r}; registered: {[s.id for s in REGISTRY]}")

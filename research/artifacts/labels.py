"""One mapping from machine names to Chinese and English labels, used only when displaying.

Codes of causes, channels and answers come from the instrument (surveys/*.yaml);
model names from the analysis plan; the rest (column headers, quantities,
scales) from :data:`LABELS` below.
"""

from __future__ import annotations

import re

from research.config.instrument import Instrument
from research.config.plan import Plan

Lang = str  # "zh" | "en"
LANGS = ("zh", "en")

#: column headers and other fixed words: name -> (zh, en)
LABELS: dict[str, tuple[str, str]] = {
    "cause_l1": ("诉求大类", "Cause group"),
    "cause_l2": ("诉求子类", "Sub-cause"),
    "channel": ("受理渠道", "Channel"),
    "region": ("地市", "Region"),
    "station": ("供电所", "Station"),
    "model": ("模型", "Model"),
    "term": ("变量", "Term"),
    "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Std. error"),
    "statistic": ("统计量", "Statistic"),
    "p_value": ("P值", "p-value"),
    "conf_low": ("95%置信下限", "95% CI low"),
    "conf_high": ("95%置信上限", "95% CI high"),
    "n": ("样本量", "N"),
    "nobs": ("样本量", "Observations"),
    "loglik": ("对数似然", "Log-likelihood"),
    "aic": ("AIC", "AIC"),
    "bic": ("BIC", "BIC"),
    "count": ("数量", "Count"),
    "share": ("占比", "Share"),
    "satisfied_rate": ("满意率", "Satisfied rate"),
    "mean_score": ("平均得分", "Mean score"),
    "p_satisfied": ("满意概率", "P(satisfied)"),
    "hours": ("处理时长（小时）", "Handling time (hours)"),
    "handling_hours": ("处理时长（小时）", "Handling time (hours)"),
    "threshold_hours": ("下降5个百分点的时长（小时，约定）", "5-point-drop time (hours, a convention)"),
    "reference_rate": ("快速处理时满意率", "Satisfied rate at fast handling"),
    "rows_read": ("读取行数", "Rows read"),
    "accepted": ("接受", "Accepted"),
    "rejected": ("拒绝", "Rejected"),
    "reason": ("原因", "Reason"),
    "alpha": ("Cronbach α", "Cronbach's alpha"),
    "month": ("月份", "Month"),
    "not_reached": ("未达到", "not reached"),
    "not_bounded": ("数据未界定", "not bounded by the data"),
    "repeat": ("重复来电", "Repeat caller"),
    "(Intercept)": ("截距", "Intercept"),
    "handling_time_log2": ("处理时长（log2(1+小时)）", "Handling time, log2(1 + hours)"),
    "overall": ("总体", "Overall"),
    "work_orders": ("工单数", "Work orders"),
    "completed_surveys": ("回访完成数", "Completed surveys"),
    "valid_responses": ("有效回访数", "Valid responses"),
    "median_handling_hours": ("处理时长中位数（小时）", "Median handling time (hours)"),
    "ci": ("95%置信区间", "95% CI"),
    "rate_ci": ("满意率95%置信区间（%）", "95% CI of rate (%)"),
    "mean_ci": ("平均得分95%置信区间", "95% CI of mean"),
    "file": ("输入文件", "Input file"),
    "survey": ("回访数据", "Survey export"),
    "workorders": ("工单数据", "Work-order export"),
    "total": ("合计", "Total"),
    "cause": ("诉求类别", "Cause"),
    "scale": ("尺度", "Scale"),
    "reference_hours": ("快速处理参照时长（小时）", "Fast-handling reference (hours)"),
    "max_hours": ("评估上限（小时）", "Upper limit evaluated (hours)"),
    "boot_not_reached": ("自助样本中未达到", "Bootstrap samples not reaching it"),
    "dv": ("结果变量", "Outcome"),
    "between": ("分组变量", "Groups"),
    "method": ("检验", "Test"),
    "df": ("自由度", "df"),
    "effect_size": ("效应量", "Effect size"),
    "welch_anova": ("Welch方差分析", "Welch ANOVA"),
    "kruskal": ("Kruskal–Wallis检验", "Kruskal–Wallis test"),
    "pearson_chi2": ("Pearson卡方检验", "Pearson chi-square test"),
    "eta_squared": ("η²", "η²"),
    "epsilon_squared": ("ε²", "ε²"),
    "cramers_v": ("Cramér V", "Cramér's V"),
    "satisfied": ("是否满意", "Satisfied"),
    "item": ("题项", "Item"),
    "mean": ("均值", "Mean"),
    "sd": ("标准差", "SD"),
    "item_rest_r": ("题项-其余总分相关", "Item-rest correlation"),
    "alpha_if_dropped": ("删除该题后的α", "Alpha if item dropped"),
    "satisfaction": ("满意度量表", "Satisfaction scale"),
    "var(station)": ("供电所随机截距方差", "Variance of station intercepts"),
    "var(residual)": ("残差方差", "Residual variance"),
    "cutpoints": ("切点", "Cutpoints"),
    "variance_components": ("方差成分", "Variance components"),
    "fit_statistics": ("拟合统计量", "Fit statistics"),
    "models_key": ("模型", "Models"),
    "reference_levels": ("参照类别", "Reference levels"),
    "notes": ("注", "Note"),
    "table": ("表", "Table"),
    "cumulative_share": ("累计占比", "Cumulative share"),
    "cumulative_proportion": ("累计比例", "Cumulative proportion"),
    "predicted_rate": ("预测满意率", "Predicted satisfied rate"),
    "threshold": ("满意率下降阈值（约定口径）", "Drop threshold (a convention)"),
    "shape": ("判断", "Finding"),
    "shape_threshold": ("存在拐点", "Change point"),
    "kind_step": ("阶跃", "step"),
    "kind_slope_change": ("斜率变化", "slope change"),
    "shape_gradual": ("逐步下降，无阈值", "Gradual decline, no threshold"),
    "shape_insufficient_data": ("数据不足", "Insufficient data"),
    "change_point_p": ("拐点检验P值", "Change-point p"),
    "slope_per_doubling": ("时长翻倍满意率变化（百分点）", "Change per doubling (points)"),
    "breakpoint_hours": ("拐点（小时）", "Change point (hours)"),
    "drop_threshold_hours": ("下降{points:g}个百分点时长（约定）", "{points:g}-point drop (convention)"),
    "threshold_level": ("快速处理满意率减{points:g}个百分点", "{points:g} points below fast handling"),
    "coefficient_vs": ("系数（对数优势比，参照：{ref}）", "Coefficient (log-odds) against {ref}"),
    "pearson_r": ("Pearson相关系数", "Pearson r"),
    "conf_band": ("95%置信区间", "95% confidence interval"),
    # representativeness (T09-T12, F08-F09)
    "handling_band": ("处理时长分段", "Handling-time band"),
    "completed": ("回访成功", "Completed"),
    "no_answer": ("未接通", "No answer"),
    "refused": ("拒访", "Refused"),
    "completed_rate": ("回访成功率", "Response rate"),
    "no_answer_rate": ("未接通率", "No-answer rate"),
    "refused_rate": ("拒访率", "Refusal rate"),
    "no_workorders": ("未提供工单数据，无法计算。", "No work-order export given: not computed."),
    "all": ("全部回访样本", "All respondents"),
    "weight_min": ("最小权重", "Min. weight"),
    "weight_max": ("最大权重", "Max. weight"),
    "weight_mean": ("平均权重", "Mean weight"),
    "weight_sum": ("权重和", "Sum of weights"),
    "population": ("总体工单数", "Population work orders"),
    "cv": ("变异系数", "CV"),
    "n_eff": ("有效样本量", "Effective n"),
    "deff": ("设计效应", "Design effect"),
    "weighted": ("加权", "Weighted"),
    "unweighted": ("未加权", "Unweighted"),
    "difference": ("差值", "Difference"),
    "method_none": ("未加权", "Unweighted"),
    "method_rake": ("迭代比例加权", "Raking"),
    "method_ipw": ("逆回访倾向加权", "Inverse propensity"),
    "method_poststratify": ("事后分层", "Post-stratification"),
    "method_outcome_model": ("结果模型", "Outcome model"),
    "delta_shift": ("δ（对数优势）", "δ (log odds)"),
    "shift_refused": ("仅拒访者", "Refusals only"),
    "shift_no_answer": ("仅未接通者", "No-answers only"),
    "shift_all": ("全部未回访者", "All non-respondents"),
    "tipping_delta": ("临界δ", "Tipping δ"),
    "rate_bounds": ("全部不满意／全部满意", "All dissatisfied / all satisfied"),
    "difference_pp": ("差值（百分点）", "Difference (points)"),
    "domain": ("分组", "Domain"),
    "sat_overall_mean": ("总体满意度平均得分", "Mean overall satisfaction score"),
    "ame_weighted": ("加权效应", "Weighted effect"),
    "ame_unweighted": ("未加权效应", "Unweighted effect"),
    "weighting_converged": ("迭代{iterations}次收敛，最大边际误差{error}", "converged in {iterations} sweeps, largest margin error {error}"),
    "weighting_not_converged": ("未收敛", "did not converge"),
    "rake": ("迭代比例拟合（raking）", "raking"),
    "ipw": ("逆响应倾向加权", "inverse response propensity"),
    "poststratify": ("事后分层", "post-stratification"),
    "none": ("等权", "equal weights"),
    "stage_work_orders": ("工单", "Work orders"),
    "stage_completed": ("回访成功", "Surveys completed"),
    "stage_accepted": ("数据核对通过", "Survey rows accepted"),
    "stage_valid": ("有效回答", "Valid answers"),
    "share_of_work_orders": ("占工单比例", "Share of work orders"),
    "odds_ratio": ("优势比", "Odds ratio"),
    "rank": ("排序", "Rank"),
    # monitoring (T16-T18)
    "customer_pseudonym": ("客户（化名）", "Customer (pseudonym)"),
    "n_tickets": ("工单数", "Work orders"),
    "first_created": ("首次受理", "First ticket"),
    "last_created": ("最近受理", "Latest ticket"),
    "causes": ("诉求子类（按时间）", "Sub-causes (in time order)"),
    "last_sat_overall": ("最近回访总体满意度", "Latest overall score"),
    "risk": ("不满意风险（%）", "Dissatisfaction risk (%)"),
    "week_of": ("周（周一）", "Week of (Monday)"),
    "expected": ("期望数", "Expected"),
    "no_flags": ("本期无预警。", "Nothing flagged."),
    "dissatisfied_rate": ("不满意率（%）", "Dissatisfied rate (%)"),
    "centre_line": ("中心线（%）", "Centre line (%)"),
    "control_limits": ("控制限（%）", "Control limits (%)"),
    "signal": ("信号", "Signal"),
    "above": ("高于上控制限", "above the upper limit"),
    "below": ("低于下控制限", "below the lower limit"),
    # key drivers and importance-performance (T15, F10)
    "driver": ("驱动因素", "Driver"),
    "subcause": ("诉求子类", "Complaint sub-cause"),
    "handling_time": ("处理时长", "Handling time"),
    "resolved": ("问题解决情况", "Problem resolved"),
    "attitude": ("服务态度满意度", "Staff attitude (item)"),
    "speed": ("处理速度满意度", "Handling speed (item)"),
    "outcome_item": ("处理结果满意度", "Handling outcome (item)"),
    "importance_share": ("重要性占比（%）", "Share of explained variance (%)"),
    "importance_r2": ("重要性（R²）", "Importance (R²)"),
    "performance": ("表现（0–1）", "Performance (0–1)"),
    "quadrant": ("象限", "Quadrant"),
    "p_concentrate_here": ("落在重点改进区的概率", "P(concentrate here)"),
    "concentrate_here": ("重点改进区", "Concentrate here"),
    "keep_up": ("继续保持区", "Keep up the good work"),
    "low_priority": ("次要改进区", "Low priority"),
    "possible_overkill": ("过度投入区", "Possible overkill"),
    "sla_met": ("时限内办结", "Handled within SLA target"),
    "driver_set": ("因素组", "Set"),
    "operational": ("运营因素", "Operational drivers"),
    "items": ("满意度分项（单项重要性）", "Satisfaction items (item importance)"),
    "null_share_q95": ("置换零分布95%分位（%）", "Permutation null, 95th pct (%)"),
    "p_holm": ("Holm校正P值", "Holm-adjusted p"),
    "placed": ("已定位", "placed"),
    "no_detectable_importance": ("未检出重要性", "no detectable importance"),
    "no_performance_measure": ("构成类因素，无表现指标", "a composition, no performance measure"),
    "too_few_drivers": ("可定位因素不足两个", "fewer than two drivers to place"),
    "lever": ("改进杠杆", "Lever"),
    "effect_points": ("满意率变化（百分点）", "Change in satisfied rate (points)"),
    "dissatisfied_per_10k": ("每万件投诉不满意客户变化", "Change in dissatisfied customers per 10,000 complaints"),
    "evalue_point_ci": ("E值（点估计/置信限）", "E-value (point / CI)"),
    "share_through_resolution": ("经由办结的效应占比（%，95%置信区间）", "Share through resolution (%, 95% CI)"),
    "not_computed": ("未计算", "not computed"),
    "mediation_no_lever_model": ("分析计划未声明杠杆模型", "the plan declares no lever model"),
    "mediation_no_resolution": ("导出数据没有问题解决情况的回答（或全部相同）",
                                "the export has no resolution answers (or all are the same)"),
    "mediation_too_few": ("完整个案少于50条", "fewer than 50 complete cases"),
    "mediation_not_estimable": ("中介或结果Logit模型无法估计（完全分离）",
                                "the mediator or outcome logit cannot be fitted (separation)"),
    "mediation_total_includes_zero": ("总效应的置信区间包含0，占比无定义",
                                      "the total effect's interval includes 0, so a share is undefined"),
    "mediation_not_applicable": ("该类杠杆不做中介分析", "no mediation analysis for this kind of lever"),
    "no_levers": ("无改进杠杆表：分析计划未声明杠杆，或导出数据缺少杠杆模型所需的列。",
                  "No lever table: the plan declares no levers, or the export lacks a column the lever model needs."),
    # T21 associations, T22 / F11 station funnel
    "association_comparison": ("比较", "Comparison"),
    "standardised_rate": ("标准化满意率（%）", "Standardised satisfied rate (%)"),
    "reference_rate": ("参照水平满意率（%）", "Reference rate (%)"),
    "difference_points": ("差值（百分点）", "Difference (points)"),
    "repeat_true": ("有重复来电", "repeat calls"),
    "repeat_false": ("无重复来电", "no repeat calls"),
    "no_associations": ("无关联表：导出数据没有问题解决情况或重复来电，或模型无法估计。",
                        "No association table: the export has no resolution or repeat-call answers, or the model "
                        "cannot be fitted."),
    "observed_satisfied": ("满意数", "Satisfied"),
    "expected_satisfied": ("期望满意数", "Expected"),
    "limits_998": ("99.8%控制限（%）", "99.8% limits (%)"),
    "z_score": ("z", "z"),
    "q_value": ("q值（BH）", "q (BH)"),
    "fdr_flag": ("FDR信号", "FDR flag"),
    "fdr_above": ("高于总体", "above overall"),
    "fdr_below": ("低于总体", "below overall"),
    "funnel_not_computed": ("未计算漏斗图：回答或供电所过少，或病例组合模型无法估计。",
                            "Funnel not computed: too few answers or stations, or the case-mix model cannot be fitted."),
    "overall_rate": ("总体满意率", "Overall rate"),
    "limits_95": ("95%控制限", "95% limits"),
    "limits_99.8": ("99.8%控制限", "99.8% limits"),
    "flagged_station": ("预警供电所", "Flagged station"),
    "answers_n": ("回答数（对数刻度）", "Answers (log scale)"),
    "adjusted_satisfied_rate": ("风险调整满意率", "Risk-adjusted satisfied rate"),
    "overdispersion_phi": ("过度离散因子 φ = {phi:.2f}，控制限已放宽", "over-dispersion factor φ = {phi:.2f}; limits widened"),
}


def text(name: str, lang: Lang) -> str:
    """Label of a fixed word or column; the name itself when unknown."""
    pair = LABELS.get(name)
    return name if pair is None else pair[0 if lang == "zh" else 1]


def code(kind: str, value: str, lang: Lang, instrument: Instrument) -> str:
    """Label of an instrument code: kind is a label set (cause_l1, cause_l2, channel, resolved, ...)."""
    ls = instrument.label_sets.get(kind)
    if ls is None:
        return value
    table = ls.zh() if lang == "zh" else ls.en()
    return table.get(value, value)


def model(name: str, lang: Lang, plan: Plan) -> str:
    """Label of a model of the plan."""
    try:
        spec = plan.model(name)
    except KeyError:
        return name
    return spec.zh if lang == "zh" else spec.en


def term(name: str, lang: Lang, instrument: Instrument) -> str:
    """Readable label of a coefficient name such as ``cause_l2[staff_attitude]`` or
    ``cause_l1[outage]:log2(1 + handling_hours)``."""
    parts = []
    for piece in name.split(":"):
        m = re.fullmatch(r"(\w+)\[(.+)\]", piece)
        if m:
            parts.append(code(m.group(1), m.group(2), lang, instrument))
        elif piece == "log2(1 + handling_hours)":
            parts.append(text("handling_time_log2", lang))
        elif re.fullmatch(r"\d+\|\d+", piece):
            parts.append(("切点 " if lang == "zh" else "cut ") + piece)
        else:
            parts.append(text(piece, lang))
    return " × ".join(parts)

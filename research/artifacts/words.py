"""Every zh/en word a reader sees, by machine name: :data:`WORDS` and :func:`word`.

Result frames and CSVs carry machine names only (``outage``, ``rake``, ``concentrate_here``);
tables, figures, the report and the bulletin turn them into words here, at display time.
One key, one concept: two keys with the same Chinese text have the same English text and vice
versa (``tests/test_words.py`` checks it, and that every table, figure and bulletin table in
both languages finds a word for every key it asks for).

Words that are data stay in their files and are reached through :func:`word` with a
namespaced key ``<kind>:<code>``:

- instrument codes (``cause_l1:outage``, ``channel:hotline``, ``resolved:yes``) and item
  names (``item:sat_overall``): ``surveys/*.yaml`` (pass ``instrument=``);
- model and lever names (``model:ordinal``, ``lever:halve_outage``):
  ``paper/analysis_plan.yaml`` (pass ``plan=``).

A word may hold ``str.format`` fields (``{level}``, ``{n:,}``): :func:`word` fills them from its
keyword arguments. ``{level}`` is the confidence level shown, from the plan's ``conf_level``
(:func:`level_text`). How to add a word or a table: ``docs/architecture.md``.
"""

from __future__ import annotations

import string

LANGS = ("zh", "en")


class MissingWord(KeyError):
    """A display word asked for that :data:`WORDS` (or the instrument / plan) does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


#: fixed words: machine name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
    "cause_l1": ("诉求大类", "Cause group"),
    "cause_l2": ("诉求子类", "Complaint sub-cause"),
    "channel": ("受理渠道", "Channel"),
    "region": ("地市", "Region"),
    "station": ("供电所", "Station"),
    "model": ("模型", "Model"),
    "term": ("变量", "Term"),
    "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Std. error"),
    "statistic": ("统计量", "Statistic"),
    "p_value": ("P值", "p-value"),
    "conf_low": ("{level}置信下限", "{level} CI low"),
    "conf_high": ("{level}置信上限", "{level} CI high"),
    "n": ("样本量", "N"),
    "nobs": ("观测数", "Observations"),
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
    "ci": ("{level}置信区间", "{level} CI"),
    "rate_ci": ("满意率{level}置信区间（%）", "{level} CI of rate (%)"),
    "mean_ci": ("平均得分{level}置信区间", "{level} CI of mean"),
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
    "conf_band": ("{level}置信带", "{level} confidence band"),
    # representativeness (T09-T12, F08-F09)
    "handling_band": ("处理时长分段", "Handling-time band"),
    "completed": ("回访成功", "Surveys completed"),
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
    "method_rake": ("迭代比例拟合（raking）", "Raking"),
    "method_ipw": ("逆响应倾向加权", "Inverse response propensity"),
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
    "none": ("未加权", "unweighted"),
    "stage_work_orders": ("工单数", "Work orders"),
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
    # the permutation null's 95th percentile is fixed by the method (research.strategy.drivers), not the plan's level
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
    "share_through_resolution": ("经由办结的效应占比（%，{level}置信区间）", "Share through resolution (%, {level} CI)"),
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
    "observed_satisfied": ("满意数", "Satisfied, observed"),
    "expected_satisfied": ("期望满意数", "Satisfied, expected"),
    # the funnel's 95% and 99.8% limits are fixed by the method (Spiegelhalter 2005), not the plan's level
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
    # ---- bulletin (B01-B07)
    "indicator": ("指标", "Indicator"),
    "current": ("本期", "This period"),
    "previous": ("上期", "Previous period"),
    "last_year": ("去年同期", "Same period last year"),
    "change_previous": ("环比变化", "Change vs previous"),
    "change_last_year": ("同比变化", "Change vs last year"),
    "volume": ("工单量", "Work-order volume"),
    "volume_change": ("工单量环比", "Change in work-order volume"),
    "sla_rate": ("工单及时率", "Resolved within target"),
    "repeat_share": ("重复来电占比", "Repeat-caller share"),
    "rate_change": ("环比（百分点）", "Change (points)"),
    "adjusted_rate": ("调整后满意率", "Adjusted satisfied rate"),
    "raw_rate": ("原始满意率", "Raw satisfied rate"),
    "interval": ("区间", "Interval"),
    "versus_mean": ("与均值比较", "Against the mean"),
    "vs_below": ("低于均值（FDR校正后）", "Below the mean (after FDR)"),
    "vs_above": ("高于均值（FDR校正后）", "Above the mean (after FDR)"),
    "vs_none": ("无显著差异", "Not distinguishable"),
    "rank_interval": ("排名区间", "Rank interval"),
    "no_difference": ("本月各供电所之间无可检出的差异，不作排名；下表按地市、供电所名称列出。",
                      "No detectable difference between stations this month: stations are not ranked; "
                      "listed by region and name."),
    "ranking_note": ("调整后满意率为按本月全部工单的诉求子类、处理时长与渠道构成标准化的满意率（随机截距Logit模型）；"
                     "排名区间为{level:g}%模拟区间（2000次抽样），区间宽说明名次不可靠。",
                     "Adjusted rate: the satisfied rate standardised to this month's whole mix of sub-causes, "
                     "handling times and channels (random-intercept logit); rank intervals: {level:g}% from "
                     "2,000 simulated draws; a wide interval means the position is not reliable."),
    "flag_note": ("与均值比较：经病例组合调整的漏斗图z值，按Benjamini–Hochberg法控制错误发现率（q<0.05）。",
                  "Against the mean: risk-adjusted funnel z-score, Benjamini–Hochberg false discovery rate "
                  "q < 0.05 across stations."),
    "none_out_of_control": ("本期无失控供电所。", "No station out of control in this period."),
    "none_recurrence": ("本期无重复高发的诉求单元。", "No recurring complaint cell in this period."),
    "none_repeat": ("本期无重复来电客户。", "No repeat callers in this period."),
    "points_note": ("满意率、工单及时率、重复来电占比的变化以百分点计；工单量的变化以件计；"
                    "空白表示数据未覆盖该对比期。",
                    "Changes of rates in percentage points, of work orders in work orders; blank: "
                    "the data do not reach that comparison period."),
    "low_n_note": ("带*的供电所本周有效回访数少于10，控制限较宽。",
                   "Stations marked * had fewer than 10 valid answers this week: wide limits."),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "mean_note": ("全市（全部供电所）本月满意率 {mean}，有效回访 {n:,} 条。",
                  "Satisfied rate of all stations this month {mean}, {n:,} valid answers."),
    "missing": ("（未填写）", "(missing)"),
    "generated": ("统计口径：工单量按受理时间，满意率与重复来电占比按回访时间，工单及时率按办结时间。",
                  "Basis: work orders by creation time, satisfied rate and repeat-caller share by survey "
                  "time, resolution within target by resolution time."),
    "rank_interval_level": ("{level}排名区间", "{level} rank interval"),
    "ranking_not_computed": ("未计算排名：站点或样本过少，或模型无法拟合。",
                             "Ranking not computed: too few stations or answers, or the model failed."),
    "ranking_not_computed_because": ("未计算排名：站点或样本过少，或模型无法拟合。（{note}）",
                                     "Ranking not computed: too few stations or answers, or the model failed. "
                                     "({note})"),
    "indicator_n": ("{name}（n={n}）", "{name} (n = {n})"),
    "bulletin_day": ("日统计（{a}）", "Daily statistics ({a})"),
    "bulletin_week": ("周通报（{y}年第{w}周，{a}至{b}）", "Weekly bulletin ({y}-W{w:02d}, {a} to {b})"),
    "bulletin_month": ("月督导（{y}年{m}月，{a}至{b}）", "Monthly supervision ({y}-{m:02d}, {a} to {b})"),
    # ---- monitoring columns of the bulletin (research.strategy.monitoring frames)
    "dissatisfied": ("不满意数", "Dissatisfied"),
    "rate": ("不满意率", "Dissatisfied rate"),
    "centre": ("中心线", "Centre line"),
    "lcl": ("下控制限", "Lower control limit"),
    "ucl": ("上控制限", "Upper control limit"),
    "span_days": ("跨度（天）", "Span (days)"),
    "stations": ("涉及供电所", "Stations"),
    "n_surveyed": ("回访数", "Surveyed"),
    "last_satisfied": ("最近一次是否满意", "Last survey satisfied"),
    # ---- performance measures of the key drivers (research.strategy.drivers.PERFORMANCE_MEASURES)
    "measure_none": ("无（构成类因素）", "None (a composition, no favourable level)"),
    "measure_sla_met_rate": ("时限内办结率", "Share within SLA target"),
    "measure_no_repeat_rate": ("无重复来电率", "Share without repeat calls"),
    "measure_resolved_rate": ("问题解决率", "Share resolved"),
    "measure_item_score": ("单项得分（0–1）", "Item score (0–1)"),
    # ---- small pieces of text
    "sep_enum": ("、", ", "),
    "sep_list": ("、", "; "),
    "sep_clause": ("；", "; "),
    "paren": ("（{text}）", " ({text})"),
    "versus": (" 对比 ", " vs "),
    "table_title": ("表 {id}　{title}", "Table {id}. {title}"),
    "ref_table": ("表 {id}", "Table {id}"),
    "ref_figure": ("图 {id}", "Figure {id}"),
    "cutpoint_term": ("切点 {cut}", "cut {cut}"),
    "stamp": ("数据 sha256 {data} · 代码 {commit}", "data sha256 {data} · code {commit}"),
    "stamp_seed": ("{stamp} · 随机种子 {seed}", "{stamp} · seed {seed}"),
    "n_items": ("（{n}题）", " ({n} items)"),
    "lmg": ("LMG/Shapley分解", "LMG/Shapley decomposition"),
    "lmg_mcfadden": ("McFadden伪R²的LMG分解", "LMG of McFadden pseudo-R²"),
    # ---- sentences under tables (T04-T22); fields filled by the display functions
    "note_models_key": ("模型：{models}", "Models: {models}"),
    "note_reference_levels": ("参照类别：{refs}", "Reference levels: {refs}"),
    "note_odds_ratio_columns": ("{cols}列为优势比 exp(b)，方括号内为{level}置信区间；其余列为系数及其{level}置信区间；"
                                "阈值（切点）为对数优势尺度，括号内为标准误。",
                                "Columns {cols}: odds ratios exp(b) with {level} confidence intervals in brackets; "
                                "other columns: coefficients with {level} intervals; cutpoints on the log-odds scale "
                                "with standard errors in parentheses."),
    "note_holm_stars": ("* p<0.05, ** p<0.01, *** p<0.001；诉求子类的星号按各模型{k}个子类对比的Holm校正p值，"
                        "其余项为未校正p值。",
                        "* p<0.05, ** p<0.01, *** p<0.001; stars: Holm-adjusted across the {k} sub-cause "
                        "contrasts of each model; unadjusted for the other terms."),
    "note_weighting": ("{method}{on}；{conv}", "{method}{on}; {conv}"),
    "note_trimmed": ("截尾上限：平均权重的{cap:g}倍", "Trimmed at {cap:g} × the mean weight"),
    "note_weighted_units": ("满意率及其置信区间以%计，其标准误与差值以百分点计；平均得分为1–5分。",
                            "Satisfied rates and their intervals in %, their standard errors and differences in "
                            "percentage points; mean scores on the 1–5 scale."),
    "note_propensity": ("工单数 {n:,}；标准误按供电所聚类稳健（CR1）。",
                        "{n:,} work orders; standard errors cluster-robust by station (CR1)."),
    "note_levers_weighted": ("按全部工单加权；当前满意率 {base}%；{reps} 次按供电所整群自助法。",
                             "Weighted to all work orders; current satisfied rate {base}%; cluster bootstrap by "
                             "station, {reps} replicates."),
    "note_levers_unweighted": ("回访样本（未加权）；当前满意率 {base}%；{reps} 次按供电所整群自助法。",
                               "Respondents (unweighted); current satisfied rate {base}%; cluster bootstrap by "
                               "station, {reps} replicates."),
    "note_evalue": ("E值：斜线前为点估计的E值，斜线后为较接近无效应（1）的置信限的E值，置信区间包含1时为1；"
                    "数值越大，需要越强的未测混杂才能解释掉该效应。",
                    "E-value: before the slash for the point estimate, after it for the confidence limit nearer no "
                    "effect (1 when the interval includes 1); the larger, the stronger an unmeasured confounder must "
                    "be to explain the effect away."),
    "note_share_resolution": ("经由办结的效应占比：自然间接效应除以总效应（参数g公式，中介变量为回访答“已解决”），假定办结与满意度之间"
                              "无未测混杂；若“是否解决”的回答部分由满意与否引起，该占比被高估。负值表示经由办结的部分与总效应方向相反。",
                              "Share through resolution: natural indirect over total effect (parametric g-formula; "
                              "mediator: the callback answers \"resolved\"), assuming no unmeasured confounding of "
                              "resolution and satisfaction; overstated if the resolution answer is partly caused by "
                              "satisfaction. A negative share: the part through resolution runs against the total "
                              "effect."),
    "note_mediation_none": ("经由办结的效应占比对全部杠杆均未计算：{reason}。",
                            "Share through resolution not computed for any lever: {reason}."),
    "note_mediation_some": ("经由办结的效应占比未计算（{names}）：{reason}。",
                            "Share through resolution not computed ({names}): {reason}."),
    "note_driver_set": ("{set}：结果变量 {what}，合计R²={r2}（{kind}），样本量 {n:,}。",
                        "{set}: outcome {what}; together R² = {r2} ({kind}), n = {n:,}."),
    "note_drivers": ("满意度分项与总体满意度来自同一次回访（光环效应），单独分解，不与运营因素混合；“问题解决情况”亦为回访答案，"
                     "不列入。零分布：将该因素的行随机置换后重算的占比；Holm校正P值不低于0.05者为“未检出重要性”，不参与象限划分。"
                     "表现为处于有利水平的工单占比（处理时长与时限内办结：时限内办结率；重复来电：无重复来电率）；"
                     "诉求子类与受理渠道为构成类因素，无表现指标。",
                     "The satisfaction items come from the same callback as the overall score (a halo), so they are "
                     "decomposed apart and never mixed with the operational drivers; the resolution answer, also a "
                     "callback answer, is in neither. Null: the share after permuting the driver's rows; a "
                     "Holm-adjusted p of 0.05 or more is 'no detectable importance' and takes no quadrant. "
                     "Performance: share of tickets at the favourable level (handling time and SLA met: share within "
                     "the SLA target; repeat calls: share without); sub-cause and channel are compositions with no "
                     "performance measure. Shares describe association, not effects."),
    "note_repeat_callers": ("共 {n:,} 个重复致电事件（同一客户30天内两张及以上工单），按不满意风险列出前 {k} 个；客户仅以化名出现。",
                            "{n:,} repeat-call episodes (one customer, two or more work orders within 30 days); the "
                            "{k} of highest dissatisfaction risk are listed; customers appear only as pseudonyms."),
    "note_recurrence": ("共检验 {tested:,} 个供电所×诉求子类×周；单侧精确条件泊松检验，α=0.001。",
                        "{tested:,} station × sub-cause × week cells tested; exact conditional Poisson test, "
                        "one-sided, alpha = 0.001."),
    "note_false_signals": ("即使各供电所均无变化，{weeks} 周中每周（最多 {stations} 个供电所）预计仅因偶然就有 "
                           "{expected_per_week:.2f} 个信号（合计 {expected_total:.1f} 个），实际每周 {observed_per_week:.2f} "
                           "个（合计 {observed_total} 个）。p控制图只将供电所与其自身比较，用于发现突变；"
                           "长期、经病例组合调整后的差距见表T22。",
                           "Even if no station changed, chance alone gives {expected_per_week:.2f} signals a week "
                           "across up to {stations} stations ({expected_total:.1f} over {weeks} weeks); observed "
                           "{observed_per_week:.2f} a week ({observed_total} in all). The p-chart compares a station "
                           "only with itself and looks for sudden change; persistent, case-mix-adjusted gaps are "
                           "Table T22's."),
    "note_few_answers": ("*回答少于10份。", "* fewer than 10 answers."),
    "note_weighting_methods": ("满意率及其{level}置信区间（%）；泰勒线性化标准误，以供电所为整群。各方法均假定在加权变量给定时"
                               "回访与否与满意无关（随机缺失）；它们之间的差异只反映调整方式的选择，不反映这一假定是否成立"
                               "（见表T20）。",
                               "Satisfied rate and {level} interval (%); Taylor-linearization standard errors with "
                               "stations as clusters. Every method assumes that, given its variables, answering the "
                               "survey is unrelated to satisfaction (missing at random); their spread shows the choice "
                               "of adjustment, not whether that assumption holds (see Table T20)."),
    "note_delta": ("δ为未回访客户与协变量相同的已回访客户相比满意对数优势之差（δ=0即随机缺失）；区间按供电所整群稳健标准误、"
                   "t分布（G−1自由度）。临界δ为总体满意率恰好等于目标 {target}% 时的δ，“–”表示该组无论如何也无法改变结论；"
                   "界限为该组全部不满意／全部满意时的满意率。δ的合理范围无法由数据检验。",
                   "δ: log odds ratio of being satisfied, non-respondent against a respondent with the same "
                   "covariates (δ = 0: missing at random); intervals from cluster-robust (station) standard errors, "
                   "t with G − 1 df. Tipping δ: where the overall rate equals the target of {target}%; '–': no "
                   "shift of that group alone can carry it there. Bounds: the rate if every shifted non-respondent "
                   "were dissatisfied / satisfied. Which δ is plausible the data cannot tell."),
    "se_design_weighted": ("按全部工单加权，设计标准误以供电所为整群",
                           "weighted to all work orders, design-based standard errors with stations as clusters"),
    "se_cluster_robust": ("标准误按供电所聚类稳健", "standard errors cluster-robust by station"),
    "note_associations": ("回答 {n:,} 份；逻辑回归按诉求子类、处理时长、受理渠道、供电所与月份调整，{se}。"
                          "“问题解决情况”来自回访答案，重复来电多由不满意引起：二者部分是不满意的后果，差值描述满意与不满意客户"
                          "的不同，不是办结或减少重复来电能带来的满意率提升，故不列入改进杠杆（见表T14）。",
                          "{n:,} answers; logit adjusted for sub-cause, handling time, channel, station and month, "
                          "{se}. The resolution answer comes from the callback and repeat calls often follow "
                          "dissatisfaction: both are partly consequences of dissatisfaction, so the differences "
                          "describe who is satisfied, not what resolving more tickets or preventing repeat calls "
                          "would gain; they are not levers (see Table T14)."),
    "note_reference_normal": ("P值与置信区间：正态分布。", "p-values and intervals: normal distribution."),
    "note_reference_t": ("P值与置信区间：t分布，自由度 {df}。", "p-values and intervals: t with {df} df."),
    "note_few_clusters": ("供电所仅 {g} 个而模型参数有 {k} 个（G ≤ p）：模型不留剩余设计自由度，故t分布取 G − 1 = "
                          "{g1} 个自由度（与R survey包的degf及svymean相同）；无法对全部系数做联合检验，检验依赖于较少的供电所。",
                          "Only {g} stations for {k} model parameters (G ≤ p): the model leaves no residual design "
                          "degrees of freedom, so t uses G − 1 = {g1} df (as R survey's degf and svymean); no joint "
                          "test of all coefficients is possible and the tests rest on few stations."),
    "note_dispersion_used": ("存在过度离散（φ = {phi:.2f}），控制限与z已按φ放宽。",
                             "Over-dispersion present (φ = {phi:.2f}): limits and z widened by it."),
    "note_dispersion_not": ("过度离散因子 φ = {phi:.2f}，与1无显著差异，采用精确二项控制限。",
                            "Over-dispersion factor φ = {phi:.2f}, not distinguishable from 1: exact binomial limits."),
    "note_funnel": ("{k} 个供电所，总体满意率 {target}%；{n_sig} 个超出99.8%控制限，{n_fdr} 个q<0.05。{disp}"
                    "未标出者与总体的差异无法与偶然波动区分（并非“没有差异”）。",
                    "{k} stations, overall rate {target}%; {n_sig} outside the 99.8% limits, {n_fdr} with q < 0.05. "
                    "{disp} For the others no difference from the overall rate is detectable (which is not the same "
                    "as none)."),
}


def level_text(conf_level: float) -> str:
    """The confidence level as shown: 0.95 -> ``95%``, 0.9 -> ``90%``, 0.995 -> ``99.5%``."""
    return f"{100 * float(conf_level):g}%"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _pair(key: str, instrument, plan) -> tuple[str, str]:
    """(zh, en) of ``key``: a fixed word, or ``<kind>:<code>`` from the instrument or the plan."""
    if key in WORDS:
        return WORDS[key]
    kind, sep, code = key.partition(":")
    if sep and kind in ("model", "lever") and plan is not None:
        named = {m.name: m for m in (plan.models if kind == "model" else _levers(plan))}
        if code in named:
            return named[code].zh, named[code].en
    elif sep and kind == "item" and instrument is not None:
        for item in instrument.items:
            if item.name == code:
                return item.zh, item.en
    elif sep and instrument is not None and kind in instrument.label_sets:
        ls = instrument.label_sets[kind]
        zh, en = ls.zh(), ls.en()
        if code in zh:
            return zh[code], en[code]
    where = {"model": "the plan", "lever": "the plan", "item": "the instrument"}.get(kind, "the instrument")
    raise MissingWord(f"no display word for {key!r}: add it to research.artifacts.words.WORDS"
                      + (f" (or to {where})" if sep else ""))


def _levers(plan) -> tuple:
    spec = getattr(plan, "scenarios", None)
    return tuple(getattr(spec, "levers", None) or ())


def word(key: str, lang: str, *, instrument=None, plan=None, **fields) -> str:
    """The word a reader sees for machine name ``key`` in ``lang`` (``zh`` or ``en``).

    ``key``: a key of :data:`WORDS`, or ``<kind>:<code>`` looked up in ``instrument`` (a label
    set such as ``cause_l1``, ``channel``; ``item``) or ``plan`` (``model``, ``lever``).
    ``fields``: values of the word's ``str.format`` fields (e.g. ``level=level_text(0.95)``);
    a word with fields needs all of them.

    Raises :class:`MissingWord` for an unknown key or a missing field, ValueError for an unknown
    language: a word a reader would otherwise see as a machine name fails the build instead.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    template = _pair(key, instrument, plan)[0 if lang == "zh" else 1]
    needed = _fields(template)
    if not needed:
        return template
    missing = sorted(needed - set(fields))
    if missing:
        raise MissingWord(f"display word {key!r} needs {', '.join(missing)}")
    return template.format(**fields)


def template(key: str, lang: str) -> str:
    """The word of ``key`` with its ``{...}`` fields unfilled (for callers that fill them later)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    return _pair(key, None, None)[0 if lang == "zh" else 1]


def has_word(key: str) -> bool:
    """Whether ``key`` is a fixed word of :data:`WORDS`."""
    return key in WORDS

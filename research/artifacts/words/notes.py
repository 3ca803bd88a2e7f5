"""Sentences under tables (T04-T22; fields filled by the display functions) and small pieces of
text: separators, references, the footer stamp.
"""

from __future__ import annotations

#: machine name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
    # ---- rejection reasons of ingest (research.ingestion.faults.REASON_CODES; ingest_report.json, T02)
    "reason:conflicting_duplicate": ("工单编号重复且内容不一致", "ticket_id repeated with differing values"),
    "reason:duplicate": ("重复行", "identical copy of an earlier row"),
    "reason:missing_required": ("必填字段为空", "required field is blank"),
    "reason:invalid_datetime": ("日期时间无法识别", "unrecognised date or time"),
    "reason:unknown_label": ("未知标签", "label not in the instrument"),
    "reason:invalid_answer": ("满意度答案超出量表", "satisfaction answer outside the scale"),
    "reason:invalid_count": ("次数不是非负整数", "count is not a whole number >= 0"),
    "reason:invalid_text": ("文本含控制字符", "text holds control characters"),
    "reason:cause_mismatch": ("诉求子类不属于诉求大类", "sub-cause not in its cause group"),
    "reason:time_order": ("时间顺序错误", "times out of order"),
    "reason:no_workorder": ("无对应工单", "no matching work order"),
    # ---- units in the report's prose (values.csv)
    "hours_value": ("{x:.1f} 小时", "{x:.1f} hours"),
    "points_signed": ("{x:+.1f} 个百分点", "{x:+.1f} percentage points"),
    "points_value": ("{x:.1f} 个百分点", "{x:.1f} percentage points"),
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

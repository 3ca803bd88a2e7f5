"""Words of the strategy and monitoring tables and figures (T14-T18, T21-T23, F10-F12),
with the performance measures of the key drivers.
"""

from __future__ import annotations

#: machine name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
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
    # T23 / F12 typical cases (典型案例分析, research.strategy.typical_cases)
    "comments_compared": ("意见数（不满意/满意）", "Comments (dissatisfied / satisfied)"),
    "distinguishing_word": ("区分词", "Distinguishing word"),
    "typical_case": ("典型案例（不满意客户意见，已脱敏）", "Typical case (a dissatisfied customer's comment, masked)"),
    "no_typical_cases": ("无典型案例：客户意见过少，或没有词语在不满意与满意客户的意见之间有可检出的差异。",
                         "No typical cases: too few comments, or no word differs detectably between dissatisfied "
                         "and satisfied customers' comments."),
    "prior_pooled": ("合并词数", "the pooled number of words"),
    "note_typical_cases": ("意见为客户在回访中留下的自由文本（已脱敏）。经中文分词（jieba及领域词典）后，在每个诉求大类内"
                           "比较不满意与满意客户意见中各词语的出现频率：带信息Dirichlet先验（先验总量为{prior}）的对数"
                           "优势比及其z值（Monroe、Colaresi与Quinn 2008）；每类至多列{top}个z≥1.96、且在不满意意见中至少"
                           "出现{min_count}次的词语，按z值由高到低排列；词语与意见均按客户原文列出。留言的客户是自愿留言的一部分，"
                           "并非随机样本。",
                           "Comments are the free text customers left in the callback (masked). Segmented into words "
                           "(jieba with the domain dictionary), dissatisfied and satisfied customers' comments are "
                           "compared word by word within each cause group: log-odds with an informative Dirichlet "
                           "prior (prior total {prior}) and its z (Monroe, Colaresi & Quinn 2008); at most {top} words "
                           "a group with z >= 1.96 occurring at least {min_count} times in dissatisfied comments, highest z "
                           "first; words and comments are shown as the customers wrote them. Customers who comment choose "
                           "to, so they are not a random sample."),
    "note_typical_rule": ("典型案例的选取规则：对该诉求大类的每条不满意意见，计算其所含词语（有或无）与该类区分词（以z值"
                          "为权重）的余弦相似度，取最高者（相同文本只取一次，同分按工单编号）；不含任何区分词的意见不入选。"
                          "典型案例供专家团队分析敏感点，不代表所有不满意客户。",
                          "The rule for a typical case: for each dissatisfied comment of the cause group, the cosine "
                          "similarity between the set of its words and the group's distinguishing words weighted by "
                          "their z; the highest are shown (one per distinct text, ties by ticket id), and a comment "
                          "holding none of the words is never chosen. The cases are for the expert teams' analysis "
                          "of sensitive points and do not speak for every dissatisfied customer."),
    "z_distinguishing": ("z值（不满意意见相对满意意见）", "z (dissatisfied against satisfied comments)"),
    # ---- performance measures of the key drivers (research.strategy.drivers.PERFORMANCE_MEASURES)
    "measure_none": ("无（构成类因素）", "None (a composition, no favourable level)"),
    "measure_sla_met_rate": ("时限内办结率", "Share within SLA target"),
    "measure_no_repeat_rate": ("无重复来电率", "Share without repeat calls"),
    "measure_resolved_rate": ("问题解决率", "Share resolved"),
    "measure_item_score": ("单项得分（0–1）", "Item score (0–1)"),
}

"""Words of the bulletin (B01-B09, research.bulletin) and of the monitoring columns it shows.
"""

from __future__ import annotations

#: machine name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
    # ---- bulletin (B01-B09)
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
    "mean_handling_hours": ("平均处理时长（小时）", "Mean handling time (hours)"),
    "sorted_note": ("供电所按本期满意率由高到低排列。", "Stations by this period's satisfied rate, highest first."),
    "small_n_note": ("带*的供电所本期有效回访少于{n}条，满意率仅供参考，列于末尾、不参与排序。",
                     "Stations marked * had fewer than {n} valid responses this period: their rate is "
                     "shown for reference, listed last and not placed in the order."),
    "rising_term": ("词语", "Word"),
    "rising_n_period": ("本期次数", "Times this period"),
    "rising_n_baseline": ("此前8期次数", "Times in the 8 periods before"),
    "none_rising": ("本期不满意客户的意见中没有明显增多的词语。",
                    "No word rose markedly in dissatisfied customers' comments this period."),
    "rising_note": ("不满意客户意见（已脱敏）经中文分词后，本期与此前8期相比出现次数明显增多的词语（带信息先验的对数优势比，"
                    "Monroe等2008，z≥1.96，本期至少3次）：提示可能正在形成的一类问题，需结合典型案例核实；"
                    "词语与不满意之间是关联而非因果。",
                    "Words in dissatisfied customers' (masked) comments, segmented, that occur markedly more often "
                    "this period than in the 8 periods before (log-odds with an informative prior, Monroe et al. "
                    "2008; z >= 1.96, at least 3 times this period): a possible emerging class of problem, to be "
                    "checked against the cases themselves; an association with dissatisfaction, not a cause."),
    "list": ("榜单", "List"),
    "list_red": ("红榜", "Red list (above the mean)"),
    "list_black": ("黑榜", "Black list (below the mean)"),
    "no_red_black": ("本月没有供电所的调整后满意率与全市均值有可检出的差异，不设红黑榜。",
                     "No station's adjusted satisfied rate differs detectably from the overall rate this month: "
                     "no red or black list."),
    "red_black_note": ("红黑榜只列入经病例组合调整后满意率高于（红榜）或低于（黑榜）全市均值、且超出随机波动的供电所"
                       "（经调整的漏斗图，按Benjamini–Hochberg法控制错误发现率q<0.05）；名次靠前或靠后但与均值"
                       "无可检出差异的供电所不上榜。",
                       "Only stations whose case-mix-adjusted satisfied rate lies above (red) or below (black) the "
                       "overall rate beyond chance are listed (risk-adjusted funnel, Benjamini–Hochberg false "
                       "discovery rate q < 0.05); a station near the top or bottom of the order but not "
                       "distinguishable from the mean is on neither list."),
    # the opening paragraph (research.bulletin.summary)
    "summary_title": ("摘要", "Summary"),
    "summary_sentence": ("{text}。", "{text}."),
    "summary_volume": ("本期受理工单{n}件", "{n} work orders received this period"),
    "summary_change_count": ("，环比{change}件", " ({change} against the previous period)"),
    "summary_satisfied": ("满意率{rate}", "satisfied rate {rate}"),
    "summary_change_points": ("，环比{change}个百分点", " ({change} points against the previous period)"),
    "summary_unchanged": ("，与上期持平", " (unchanged from the previous period)"),
    "summary_sla": ("工单及时率{rate}", "{rate} resolved within target"),
    "summary_hours": ("平均处理时长{hours}小时", "mean handling time {hours} hours"),
    "summary_out_of_control": ("不满意率失控供电所{n}个", "{n} stations out of control"),
    "summary_recurrence": ("重复高发的供电所×诉求子类{n}个", "{n} recurring station x sub-cause cells"),
    "summary_ranked": ("各供电所经病例组合调整后的满意率存在可检出的差异，排名见下表",
                       "stations differ detectably after case-mix adjustment: ranking below"),
    "summary_not_ranked": ("各供电所之间无可检出的差异，不作排名",
                           "no detectable difference between stations: not ranked"),
    "hours_change": ("环比（小时）", "Change (hours)"),
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
    "points_note": ("满意率、工单及时率、重复来电占比的变化以百分点计；工单量的变化以件计；平均处理时长"
                    "（本期办结工单）的变化以小时计；空白表示数据未覆盖该对比期。",
                    "Changes of rates in percentage points, of work orders in work orders, of the mean "
                    "handling time (work orders resolved in the period) in hours; blank: the data do not "
                    "reach that comparison period."),
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
    # the bulletin's charts (research.bulletin.charts): title chart_<key>, caption chart_<key>_caption
    "chart_trend": ("近{n}期满意率与工单量走势", "Satisfied rate and work orders over the last {n} periods"),
    "chart_trend_caption": ("上图：满意率（折线）及其{level}置信区间（阴影，Wilson法）；下图：受理工单量。"
                            "本期为空心大圆点与深色柱；满意率按回访时间、工单量按受理时间统计。",
                            "Top: satisfied rate (line) with its {level} confidence interval (band, Wilson); "
                            "bottom: work orders received. This period: the large open dot and the dark bar; "
                            "rates by survey time, work orders by creation time."),
    "chart_causes": ("各诉求大类工单量：本期与上期", "Work orders by cause group: this period and the previous"),
    "chart_causes_caption": ("灰色为上期，深色为本期；按受理时间统计。",
                             "Grey: the previous period; dark: this period; by creation time."),
    "chart_stations": ("各供电所本期满意率及其{level}置信区间", "Satisfied rate of each station this period "
                       "with its {level} confidence interval"),
    "chart_stations_caption": ("点为满意率，横线为{level}置信区间（Wilson法），虚线为全部供电所的满意率；"
                               "顺序同分供电所表。空心灰点为有效回访少于{n}条的供电所，仅供参考、不参与排序；"
                               "区间与虚线相交的供电所与总体无可检出差异。",
                               "Dot: satisfied rate; line: its {level} confidence interval (Wilson); dashed: "
                               "the rate of all stations; order as in the station table. Open grey dots: "
                               "stations with fewer than {n} valid responses, for reference only and not "
                               "placed in the order; a station whose interval crosses the dashed line is not "
                               "distinguishable from the whole."),
    "chart_week_tick": ("第{w}周", "W{w:02d}"),
    "chart_rate_ci": ("满意率（点）及其{level}置信区间（线）", "Satisfied rate (dot) with its {level} CI (line)"),
    "chart_small_n": ("有效回访少于{n}条（仅供参考）", "Fewer than {n} valid responses (for reference)"),
    "chart_overall": ("全部供电所 {rate}", "All stations {rate}"),
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
}

"""Words of the report as a document (:mod:`research.artifacts.report`): numbered titles and
references of tables and figures, the appendix, dates and the issuing unit, and handling-time bands.
"""

from __future__ import annotations

#: machine name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
    # ---- tables and figures numbered in order of appearance (report)
    "report_table_ref": ("表{n}", "Table {n}"),
    "report_figure_ref": ("图{n}", "Figure {n}"),
    "report_table_title": ("表{n}　{title}", "Table {n}. {title}"),
    "report_appendix_table_ref": ("附表{n}", "Table A{n}"),
    "report_appendix_table_title": ("附表{n}　{title}", "Table A{n}. {title}"),
    "report_figure_title": ("图{n}　{title}", "Figure {n}. {title}"),
    "report_source_file": ("（{id}；数据文件 {name}.csv）", " ({id}; data file {name}.csv)"),
    "report_see_also": ("（见{ref}。）", "(See {ref}.)"),
    "report_in_appendix": ("“{title}”篇幅较长，列于附录（{ref}）。", "“{title}” is long and is given in the appendix ({ref})."),
    "report_appendix": ("附录", "Appendix"),
    "report_appendix_tables": ("附录{letter}　详细表格", "Appendix {letter}. Detailed tables"),
    # ---- dates and the issuing unit (paper/analysis_plan.yaml, report:)
    "date_long": ("{y}年{m}月{d}日", "{y}-{m:02d}-{d:02d}"),
    "report_issuer_default": ("未注明编制单位", "issuing unit not stated"),
    # ---- effects on a probability shown in percentage points (T05, T12)
    "p_satisfied_points": ("满意概率（百分点）", "P(satisfied), percentage points"),
    "ame_weighted_points": ("加权效应（百分点）", "Weighted effect (points)"),
    "ame_unweighted_points": ("未加权效应（百分点）", "Unweighted effect (points)"),
    "note_effect_points": ("满意概率的效应及其置信区间以百分点计：-4.5 表示满意率低4.5个百分点。",
                           "Effects on the probability of being satisfied and their intervals in percentage "
                           "points: -4.5 means a satisfied rate 4.5 points lower."),
    # ---- handling-time bands (research.stats.bands: 0-4h, 1-3d, >7d)
    "band_hours": ("{a}–{b}小时", "{a}–{b} hours"),
    "band_days": ("{a}–{b}天", "{a}–{b} days"),
    "band_over_hours": ("{a}小时以上", "over {a} hours"),
    "band_over_days": ("{a}天以上", "over {a} days"),
}

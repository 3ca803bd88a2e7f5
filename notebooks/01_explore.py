# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 Explore the sample / 样本探索
#
# The committed synthetic exports (`data/raw/`): a post-resolution survey and the
# work orders it was drawn from, as the package's ingest accepted them. This notebook
# looks at what was rejected and why, describes the accepted responses, and shows the
# descriptive tables (T01–T03) and figures (F01, F02, F03, F07) of the report. All
# analysis lives in `research`; the cells below only call it and display the results.
#
# The results are read from the build folder (`build/`, written by `research
# reproduce`; `RESEARCH_BUILD` names another) when it is there; the first line printed
# says whether it is current (built from the sample, plan and instrument as they are
# now). Set `RECOMPUTE = True` below to ingest the raw exports again instead; without
# a build the notebook does so by itself.
#
# 读取已提交的合成样本（回访问卷与工单）经数据校验后的结果，查看被拒绝的行及原因，描述有效回访，
# 并展示报告中的描述性表格（T01–T03）与图（F01、F02、F03、F07）。结果取自 `research reproduce`
# 生成的 `build/` 目录（首行说明其是否为最新）；设 `RECOMPUTE = True` 则从原始导出文件重新计算。
# 所有分析逻辑都在 `research` 包中，本笔记本只调用与展示。

# %%
import pandas as pd

from research.pipeline import notebook_data
from research.artifacts import registry
from research.ingestion.run import format_report

pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 160)
LANG = "zh"  # figure and label language: "zh" or "en"
RECOMPUTE = False  # True: ingest data/raw/ again instead of reading the build folder

# %% [markdown]
# ## 1 Load the ingested sample / 读取校验结果
#
# `ingest` parses both exports against the instrument (`surveys/*.yaml`),
# pseudonymises customer ids, and accounts for every row: rows read = accepted +
# rejected, per file. `notebook_data.load` reads what it wrote into the build
# folder (`ingest/`), or runs it again.
#
# 每个文件读取的行数都等于接受行数加拒绝行数；客户编号经过假名化处理。

# %%
data = notebook_data.load(recompute=RECOMPUTE, models=False)
print(data.message)
r, ins = data.ingest, data.instrument
print(format_report(r.report))

# %% [markdown]
# ## 2 Rejected rows by reason / 按原因统计的拒绝行
#
# Each rejected row keeps its primary reason, every reason that applied, and which
# column held which value, so a data owner can fix the export.
#
# 每一条被拒绝的行都记录了主要原因、全部原因以及出错的字段和取值，便于数据提供方修正。

# %%
reason_zh = {k: v["zh"] for k, v in r.report["reasons"].items()}
by_reason = r.rejected.groupby(["file", "reason"]).size().rename("rows").reset_index()
by_reason.assign(label=by_reason["reason"].map(reason_zh))

# %%
r.rejected[["file", "source_row", "reason", "reasons", "detail"]].head(12)

# %% [markdown]
# ## 3 Responses by cause group and sub-cause / 各诉求大类与子类的回访量
#
# The taxonomy of the source paper: four cause groups (service, outages, supply
# capability, voltage quality) and their sub-causes.
#
# 诉求分类沿用原文：供电服务、停电、供电能力、电压质量四个大类及其子类。

# %%
l1_zh, l2_zh = ins.label_sets["cause_l1"].zh(), ins.label_sets["cause_l2"].zh()
by_group = r.responses.groupby("cause_l1").size().rename("responses").reset_index()
by_group.assign(label=by_group["cause_l1"].map(l1_zh),
                share=by_group["responses"] / len(r.responses))

# %%
by_sub = r.responses.groupby(["cause_l1", "cause_l2"]).size().rename("responses").reset_index()
by_sub.assign(label=by_sub["cause_l2"].map(l2_zh)).sort_values("responses", ascending=False)

# %% [markdown]
# ## 4 Handling time / 处理时长
#
# Handling time is hours from acceptance to resolution (`handling_hours`);
# `sla_met` says whether the ticket met its handling-time target (`surveys/sla.yaml`).
#
# 处理时长为受理到办结的小时数；`sla_met` 表示是否在时限内办结。

# %%
(r.responses.groupby("cause_l1")["handling_hours"]
 .describe(percentiles=[0.25, 0.5, 0.75, 0.9])
 .join(r.responses.groupby("cause_l1")["sla_met"].mean().rename("sla_met_share")))

# %% [markdown]
# ## 5 Descriptive tables T01–T03 / 描述性表格
#
# Each table's data (machine column names, full precision) as the registry's builder
# made it: the build's `tables/<name>.csv`, or built again when recomputing.
#
# 表格数据由登记表中的构建函数生成（取自 `tables/` 或重新计算）。

# %%
spec = registry.get("T01")
print(spec.id, spec.title(LANG), "|", spec.caption(LANG))
data.table("T01")

# %%
spec = registry.get("T02")
print(spec.id, spec.title(LANG), "|", spec.caption(LANG))
data.table("T02")

# %%
spec = registry.get("T03")
print(spec.id, spec.title(LANG), "|", spec.caption(LANG))
data.table("T03")

# %% [markdown]
# ## 6 Figures F01, F02, F03, F07 / 描述性图
#
# Each figure: the registry's builder gives the data plotted (`figure_data`), its
# drawer the figure — the build's PNG, or drawn again when recomputing (here in
# Chinese; set `LANG = "en"` above for English).
#
# 每张图先由构建函数得到绘图数据，再由绘图函数画出（取自 `figures/` 或重新绘制）。

# %%
data.figure("F01", LANG)

# %%
data.figure("F02", LANG)

# %%
data.figure("F03", LANG)

# %%
monthly = data.figure_data("F07")
data.figure("F07", LANG)

# %% [markdown]
# ## 7 Summary / 小结

# %%
print(f"responses accepted: {len(r.responses):,}; rejected survey rows: "
      f"{(r.rejected['file'] == 'survey').sum():,}; satisfied rate (unweighted): "
      f"{r.report['responses']['satisfied_rate_unweighted']:.1%}; months surveyed: {len(monthly)}")

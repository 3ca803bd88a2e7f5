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
# # 03 What to improve first / 改进策略的优先次序
#
# The source paper (基于客户抱怨视角的供电服务提升策略研究) proposes strategies
# without measuring them: a "日统计、周通报、月督导" routine (daily statistics,
# weekly bulletin, monthly supervision), an early warning for repeat callers
# (重复致电预警), and expert teams for hard technical causes ("处理一宗诉求,
# 解决一类问题"). This notebook puts numbers on each, from the fitted plan:
#
# 1. how fast each cause group must be handled (tolerance thresholds, shortest first);
# 2. where speed buys the most satisfaction (marginal effect of doubling the handling time);
# 3. which sub-causes stay least satisfied after adjustment (candidates for expert teams);
# 4. how much less satisfied repeat callers are;
# 5. the named values the report quotes, each traced to the file, row and column that holds it.
#
# The results are read from the build folder (`build/`, written by `research reproduce`;
# `RESEARCH_BUILD` names another) when it is there; the first line printed says whether
# it is current. Set `RECOMPUTE = True` below to fit the plan again instead (about a
# minute); without a build the notebook does so by itself.
#
# 原文提出的策略未经量化。本笔记本依据模型结果逐一量化：各诉求大类的处理时长容忍阈值、
# 处理时长翻倍的边际效应、调整后满意率最低的诉求子类、重复来电的影响，以及报告引用的命名数值。
# 结果取自 `research reproduce` 生成的 `build/` 目录（首行说明其是否为最新）；设 `RECOMPUTE = True` 则重新拟合。

# %%
import numpy as np
import pandas as pd

from research.pipeline import notebook_data

pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 160)
RECOMPUTE = False  # True: fit the plan again instead of reading the build folder

# %% [markdown]
# ## 1 The fitted results / 拟合结果
#
# The same results as notebook 02: the ingested sample and the fitted plan.
#
# 与笔记本02相同的结果：校验后的样本与全部模型。

# %%
data = notebook_data.load(recompute=RECOMPUTE)
print(data.message)
r, fit, plan, ins = data.ingest, data.results, data.plan, data.instrument
l1_zh, l2_zh = ins.label_sets["cause_l1"].zh(), ins.label_sets["cause_l2"].zh()
print(f"{len(r.responses):,} responses; models: {', '.join(m.name for m in plan.models)}; "
      f"threshold bootstrap: {data.threshold_reps} replicates")

# %% [markdown]
# ## 2 Tolerance thresholds, shortest first / 容忍阈值（由短到长）
#
# The threshold is the handling time after which a cause group's predicted satisfied
# rate is more than 5 points below its level at fast handling. A group with a short
# threshold loses satisfaction within hours: it is the one the **daily statistics**
# (日统计) should watch, ticket by ticket, before the threshold passes; groups with
# thresholds of days suit the **weekly bulletin** (周通报), and those beyond a week
# the **monthly supervision** (月督导). `conf_high` is missing where the bootstrap
# curve did not fall that far within the observed handling times.
#
# 容忍阈值：预测满意率比快速处理时下降超过5个百分点时的处理时长。阈值以小时计的诉求大类应纳入
# **日统计**逐单跟踪；阈值以天计的适合**周通报**；超过一周的纳入**月督导**。

# %%
th = fit["thresholds"].sort_values("threshold_hours")
th.assign(label=th["cause_l1"].map(l1_zh), threshold_days=th["threshold_hours"] / 24)[
    ["cause_l1", "label", "threshold_hours", "conf_low", "conf_high", "threshold_days",
     "reference_hours", "reference_rate", "boot_reps", "boot_not_reached", "n"]]

# %% [markdown]
# ## 3 Where speed buys the most / 提速收益最大的诉求大类
#
# Average marginal effect of doubling the handling time on the probability of being
# satisfied, in percentage points, by cause group. Two models answer differently:
# the `logit` has one handling-time slope for all groups (groups differ only through
# their base rates; the report's `ame_doubling_*` values use it), while
# `speed_by_cause` lets each cause group have its own slope. Rows are ranked by the
# latter, most negative first: the top group is where halving the handling time
# gains the most satisfied customers per ticket.
#
# 处理时长翻倍对满意概率的平均边际效应（百分点）。`logit` 模型各诉求大类共用一个时长斜率
# （报告中的 `ame_doubling_*` 取自该模型），`speed_by_cause` 模型每个大类各有斜率；
# 按后者由负到正排序，排在最前的大类缩短处理时长的收益最大。

# %%
me = fit["marginal_effects"].query(
    "scale == 'p_satisfied' and model in ['logit', 'speed_by_cause']")
ranked = me.pivot(index="cause_l1", columns="model", values="estimate") * 100
ranked = ranked.sort_values("speed_by_cause")
ranked.assign(label=ranked.index.map(l1_zh))

# %%
me = me.assign(label=me["cause_l1"].map(l1_zh), points=me["estimate"] * 100)
me.sort_values(["model", "estimate"])[
    ["model", "cause_l1", "label", "points", "conf_low", "conf_high", "p_value", "n"]]

# %% [markdown]
# ## 4 Sub-causes ranked by adjusted satisfied rate / 各诉求子类调整后满意率排序
#
# Average adjusted predictions of the logit model (handling time, channel and repeat
# calls held as observed), lowest first. Sub-causes at the top that stem from the
# network itself (outages, low or unstable voltage, overloaded transformers) are the
# cases for the bureau- and station-level **expert teams** (专家团队): solving the
# root cause once removes a whole class of complaints (处理一宗诉求, 解决一类问题).
# Service sub-causes at the top (attitude, billing, follow-up) call for rules and
# training rather than engineering.
#
# Logit模型的平均调整预测满意率，由低到高。排名靠前且源于电网本身的子类（停电、电压、重过载等）
# 应交由局、所两级**专家团队**从根源上解决；排名靠前的服务类子类（态度、电费、回访）则需制度与培训。

# %%
sub = fit["predictions"].query(
    "model == 'logit' and quantity == 'aap_subcause' and scale == 'p_satisfied'")
sub = sub.sort_values("estimate").reset_index(drop=True)
sub.index = sub.index + 1
sub.assign(group=sub["cause_l1"].map(l1_zh), label=sub["cause_l2"].map(l2_zh))[
    ["cause_l1", "group", "cause_l2", "label", "estimate", "conf_low", "conf_high"]]

# %% [markdown]
# ## 5 Repeat callers / 重复来电
#
# `repeat` is true when the customer called more than once about the ticket. The
# coefficient is adjusted for cause, handling time and channel; for the logit and
# ordinal models, `odds_ratio` = exp(estimate). A clearly lower satisfaction of
# repeat callers supports the paper's **early warning** (重复致电预警): flag a ticket
# at the second call and give it a named owner before the customer is lost.
#
# `repeat` 为重复来电标志。系数已调整诉求类别、处理时长与渠道；Logit与有序模型的优势比为exp(系数)。
# 重复来电者满意度明显偏低，支持原文的**重复致电预警处置机制**：第二次来电即预警，并指定专人跟进。

# %%
rep = fit["estimates"].query("term == 'repeat'")
rep.assign(odds_ratio=np.where(rep["model"].isin(["logit", "ordinal", "speed_by_cause"]),
                               np.exp(rep["estimate"]), np.nan))[
    ["model", "estimate", "std_error", "p_value", "conf_low", "conf_high", "odds_ratio"]]

# %%
# unadjusted, for comparison: satisfied rate and count by repeat status
r.responses.groupby("repeat")["satisfied"].agg(satisfied_rate="mean", n="count")

# %% [markdown]
# ## 6 The named values the report quotes / 报告引用的命名数值
#
# Every number in the report's prose is a named value with its source file, row and
# column, and the table or figure that shows it; the report templates refer to them
# as `{{ name }}`.
#
# 报告正文中的每个数字都是命名数值，注明来源文件、行、列及展示该数字的表或图。

# %%
values = data.values
values[["name", "zh", "en", "source", "row", "column", "artifact"]]

# %%
# the files the named values come from (the table above is long and shown in part)
values["source"].value_counts().sort_index()

# %%
quoted = ["sat_rate_overall", "threshold_shortest_cause", "ame_doubling_largest_cause",
          "subcause_lowest", "subcause_lowest_rate", "repeat_odds_ratio"]
values.set_index("name").loc[quoted, ["zh", "en"]]

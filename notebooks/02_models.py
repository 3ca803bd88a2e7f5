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
# # 02 Models / 模型
#
# The analysis plan (`paper/analysis_plan.yaml`) declares every model as data:
# a linear model, a proportional-odds (ordinal) model, a logit of being satisfied,
# a linear mixed model with a random intercept per station, and `speed_by_cause`,
# an ordinal model with one handling-time slope per cause group. This notebook shows
# the plan fitted, the check of the proportional-odds assumption, predictions,
# marginal effects and the model figures F04–F06.
#
# The fitted results are read from the build folder (`build/`, written by `research
# reproduce`; `RESEARCH_BUILD` names another) when it is there; the first line printed
# says whether it is current (built from the sample, plan and instrument as they are
# now). Set `RECOMPUTE = True` below to fit the plan again instead (about a minute;
# `RESEARCH_NOTEBOOK_BOOT_REPS` reduces the threshold bootstrap); without a build the
# notebook does so by itself.
#
# 分析计划以数据形式声明全部模型：线性模型、比例优势模型、是否满意的Logit模型、
# 含供电所随机截距的线性混合模型，以及按诉求大类分别估计处理时长斜率的 `speed_by_cause`。
# 本笔记本展示全部模型的结果，检验比例优势假设，展示预测值、边际效应与图F04–F06。
# 结果取自 `research reproduce` 生成的 `build/` 目录（首行说明其是否为最新）；设 `RECOMPUTE = True` 则重新拟合。

# %%
import numpy as np
import pandas as pd

from research.pipeline import notebook_data
from research.artifacts.labels import term
from research.models.fit import fit_model, tidy_estimates, tidy_fit
from research.models.run import summarize

pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 160)
LANG = "zh"
RECOMPUTE = False  # True: fit the plan again instead of reading the build folder

# %% [markdown]
# ## 1 The analysis plan / 分析计划
#
# The committed plan, and the number of threshold bootstrap replicates behind the
# results shown (the plan's own, unless the build or the recompute asked for fewer).
#
# 已提交的分析计划，以及所展示结果的容忍阈值自助法次数。

# %%
data = notebook_data.load(recompute=RECOMPUTE)
print(data.message)
plan, ins = data.plan, data.instrument
print(f"threshold bootstrap: {data.threshold_reps} replicates, seed {plan.thresholds.bootstrap_seed}")
pd.DataFrame([{"model": m.name, "family": m.family, "formula": m.formula, "se": m.se,
               "cluster_or_group": m.cluster or m.group, "zh": m.zh} for m in plan.models])

# %% [markdown]
# ## 2 The ingested sample / 校验后的样本

# %%
r = data.ingest
print(f"{len(r.responses):,} responses accepted, {len(r.rejected):,} rows rejected")

# %% [markdown]
# ## 3 One model on its own / 单个模型
#
# `fit_model` fits one model of the plan; `tidy_estimates` and `tidy_fit` give the
# package's tidy schema (`model, term, estimate, std_error, statistic, p_value,
# conf_low, conf_high, ...`) and the one-row fit statistics.
#
# 单独拟合比例优势模型，查看统一格式的估计结果与拟合统计量。

# %%
fm = fit_model(plan.model("ordinal"), r.responses, plan=plan, instrument=ins)
tidy_fit(fm)[["model", "family", "nobs", "loglik", "aic", "bic", "converged", "n_dropped"]]

# %%
tidy_estimates(fm, plan.conf_level).head(8)

# %% [markdown]
# ## 4 The whole plan, fitted / 全部模型的拟合结果
#
# `research.models.run.fit_plan` fits every model, then predictions, marginal effects,
# the Brant test, the tolerance thresholds (spline logit with a cluster bootstrap by
# station), group comparisons and the scale's reliability; `research reproduce` wrote
# its tables into the build's `fit/` folder, read here (or fitted again).
#
# 全部模型及预测值、边际效应、Brant检验、容忍阈值、组间比较与信度（取自 `fit/` 或重新拟合）。

# %%
fit = data.results
print(summarize(fit))

# %%
fit["model_fit"][["model", "family", "outcome", "nobs", "loglik", "aic", "bic", "converged",
                  "n_dropped"]]

# %%
fit["notes"]  # anything the run had to adapt (empty on the sample)

# %% [markdown]
# ## 5 A handling-time slope per cause group / 各诉求大类的处理时长斜率
#
# `speed_by_cause`: proportional-odds coefficients (log odds of a higher answer).
# The `cause_l1[...]:log2(1 + handling_hours)` terms are the change in log odds when
# a ticket of that cause group takes twice as long (on the `1 + hours` scale).
#
# `speed_by_cause` 模型中，交互项表示处理时长（1+小时）翻倍时该诉求大类满意度对数优势的变化。

# %%
est = fit["estimates"].query("model == 'speed_by_cause'")
est.assign(label=[term(t, LANG, ins) for t in est["term"]])[
    ["term", "label", "estimate", "std_error", "p_value", "conf_low", "conf_high", "kind"]]

# %% [markdown]
# ## 6 Brant test of proportional odds / 比例优势假设的Brant检验
#
# A small p-value says a term's effect differs between the cut points of the scale.
# With ~19,000 responses the omnibus test detects small departures; the per-term
# rows show where they are.
#
# P值较小说明该变量的效应在各切点间不一致；样本量大时总体检验对细微偏离也很敏感，逐项结果指出偏离所在。

# %%
brant = fit["brant"]
brant.assign(label=[term(t, LANG, ins) for t in brant["term"]])[
    ["model", "term", "label", "statistic", "df", "p_value"]]

# %% [markdown]
# ## 7 Predicted satisfied rate by sub-cause / 各诉求子类的调整后满意率
#
# Average adjusted predictions of the logit: every ticket given sub-cause *s*,
# everything else as observed, averaged (delta-method 95% intervals).
#
# Logit模型的平均调整预测：所有工单都设为该子类、其余变量保持不变后的平均满意概率。

# %%
pred = fit["predictions"].query(
    "model == 'logit' and quantity == 'aap_subcause' and scale == 'p_satisfied'")
pred.assign(label=pred["cause_l2"].map(ins.label_sets["cause_l2"].zh())).sort_values("estimate")[
    ["cause_l1", "cause_l2", "label", "estimate", "conf_low", "conf_high"]]

# %% [markdown]
# ## 8 Marginal effect of doubling the handling time / 处理时长翻倍的边际效应
#
# Change in the probability of being satisfied when the handling time of a cause
# group's tickets doubles, by model (percentage points).
#
# 各诉求大类工单处理时长翻倍时满意概率的变化（百分点），按模型列出。

# %%
me = fit["marginal_effects"].query("scale == 'p_satisfied'")
(me.pivot(index="cause_l1", columns="model", values="estimate") * 100).round(2)

# %%
me[["model", "cause_l1", "estimate", "std_error", "conf_low", "conf_high", "n"]]

# %% [markdown]
# ## 9 Figures F04, F05, F06 / 模型图
#
# F04 is the key figure: the predicted satisfied rate against handling time per
# cause group, with the tolerance thresholds. F05: sub-cause effects of the ordinal
# model. F06: correlations of the four satisfaction items.
#
# F04为关键图：各诉求大类的预测满意率随处理时长的变化及容忍阈值；F05为子类效应森林图；F06为题项相关热图。

# %%
data.figure("F04", LANG)

# %%
data.figure("F05", LANG)

# %%
data.figure("F06", LANG)

# %% [markdown]
# ## 10 Summary / 小结

# %%
slopes = est[est["term"].str.contains("handling_hours")]
omnibus_p = brant.query("model == 'ordinal' and term == 'omnibus'")["p_value"].iloc[0]
print(f"models fitted: {len(fit['model_fit'])}; Brant omnibus p (ordinal) = {omnibus_p:.3g}; "
      f"speed_by_cause slopes from {slopes['estimate'].min():.3f} "
      f"to {slopes['estimate'].max():.3f}; "
      f"odds ratio of a doubling, steepest group: {np.exp(slopes['estimate'].min()):.2f}")

"""Comparing stations fairly: risk-adjusted funnel plots and rankings that can say "no difference".

Functions (pure: DataFrames in, DataFrames out; nothing is read or written):

- :func:`funnel` -- one row per station: observed and case-mix-expected satisfied
  answers, the indirectly standardised satisfied rate, 95% and 99.8% funnel limits
  around the overall rate, an over-dispersion factor, z-scores, Benjamini-Hochberg
  q-values and the two flag rules (Spiegelhalter 2005).
- :func:`funnel_limits` -- the funnel's control limits for given numbers of answers
  (the curves of the funnel plot).
- :func:`fit_case_mix` -- the case-mix logit (no station term) the funnel standardises by.
- :func:`fit_random_intercept_logit` -- logit random-intercept model fitted by the
  Laplace approximation, as R ``lme4::glmer(..., family = binomial)`` (``nAGQ = 1``).
- :func:`rank_stations` -- stations ranked on the adjusted satisfied rate of that model
  with simulated intervals on the ranks, *only* when the between-station variance is
  distinguishable from zero.

What question each answers
--------------------------
The funnel answers "is this station's satisfied rate, given the complaints it had to
handle, further from the overall rate than chance allows?" -- the persistently poor (or
good) station. It compares every station with the same target, so unlike the p-chart
(:func:`research.strategy.monitoring.p_chart`, which compares a station with its own past) it can
flag a station that has always been poor. The ranking answers "in what order would the
stations come if they all handled the same complaints?", and with its rank intervals how
sure that order is. Both are associations: a station's adjusted rate also carries
whatever differs between stations and is not in the case mix (its customers, its region).

The funnel and the case-mix model are in :mod:`research.strategy.stations_funnel`, the
random-intercept logit in :mod:`research.strategy.stations_glmm` and the ranking in
:mod:`research.strategy.stations_ranks`; each docstring gives its method. Every name that
scripts, benchmarks and tests use is importable from here.

References
----------
Spiegelhalter, D. J. (2005) Funnel plots for comparing institutional performance.
Statistics in Medicine 24(8), 1185-1202.
Benjamini, Y. & Hochberg, Y. (1995) Controlling the false discovery rate. JRSS B 57, 289-300.
Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015) Fitting linear mixed-effects models
using lme4. Journal of Statistical Software 67(1).
Self, S. G. & Liang, K.-Y. (1987) Asymptotic properties of maximum likelihood estimators
and likelihood ratio tests under nonstandard conditions. JASA 82, 605-610.
Goldstein, H. & Spiegelhalter, D. J. (1996) League tables and their limitations. JRSS A
159(3), 385-443.
"""

from __future__ import annotations

from research.strategy.stations_funnel import (_FUNNEL_COLUMNS, _VARIABLES, CASE_MIX_RHS,  # noqa: F401
                                               FUNNEL_LEVELS, MIN_ROWS, _design, _empty_funnel, bh_qvalues,
                                               fit_case_mix, funnel, funnel_limits, funnel_table,
                                               interpolated_cdf, overdispersion_factor)
from research.strategy.stations_glmm import GlmmFit, _laplace, _modes, fit_random_intercept_logit  # noqa: F401
from research.strategy.stations_ranks import _RANK_COLUMNS, _empty_rank, rank_stations  # noqa: F401

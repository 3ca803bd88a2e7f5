"""Stage 4, strategy: what a manager can act on, and what to watch.

- :mod:`research.strategy.causal` -- E-values of the levers, with
  :mod:`~research.strategy.causal_mediation` (mediation through resolution) and
  :mod:`~research.strategy.causal_associations` (associations of post-treatment variables);
- :mod:`research.strategy.scenarios` -- levers by g-computation with bootstrap
  intervals and mediation through resolution;
- :mod:`research.strategy.sensitivity` -- non-response sensitivity:
  :mod:`~research.strategy.sensitivity_weighting` (weighting methods side by side) and
  :mod:`~research.strategy.sensitivity_delta` (delta adjustment, tipping deltas);
- :mod:`research.strategy.drivers` -- key-driver importance (LMG / Shapley) and IPA, in steps:
  :mod:`~research.strategy.drivers_design` (the design), :mod:`~research.strategy.drivers_lmg`
  (subset R², Shapley weights), :mod:`~research.strategy.drivers_bootstrap` (cluster bootstrap),
  :mod:`~research.strategy.drivers_ipa` (quadrants), :mod:`~research.strategy.drivers_null`
  (permutation null);
- :mod:`research.strategy.monitoring` -- :mod:`~research.strategy.monitoring_pchart` (p-charts),
  :mod:`~research.strategy.monitoring_recurrence` and :mod:`~research.strategy.monitoring_cusum`
  (recurrence flags), :mod:`~research.strategy.monitoring_repeat` (repeat callers);
- :mod:`research.strategy.stations` -- :mod:`~research.strategy.stations_funnel` (risk-adjusted
  funnel), :mod:`~research.strategy.stations_glmm` (random-intercept logit) and
  :mod:`~research.strategy.stations_ranks` (station ranks).

Each old module re-exports the names of its parts, so ``from research.strategy.monitoring import
p_chart`` keeps working.
"""

"""Estimators: arrays and frames in, fits out; no plan, no files, no display.

- :mod:`research.stats.ordinal` -- proportional-odds logit (R ``MASS::polr``);
  :mod:`research.stats.brant` -- its Brant test of proportional odds;
- :mod:`research.stats.mixed` -- random-intercept REML from per-group sufficient
  statistics (R ``lme4::lmer``);
- :mod:`research.stats.sandwich` -- cluster-robust covariances (R ``sandwich``);
- :mod:`research.stats.design_based` -- survey linearisation of calibrated
  estimators (R ``survey``): means here, regressions in :mod:`research.stats.svy_models`,
  the influence-value variance in :mod:`research.stats.linearization`, calibrated weights
  in :mod:`research.stats.calibration`;
- :mod:`research.stats.weights` -- raking and its diagnostics (R ``survey::rake``);
  :mod:`research.stats.bands` -- handling-time bands;
- :mod:`research.stats.comparisons` -- group comparisons with effect sizes;
- :mod:`research.stats.reliability` -- scale reliability (Cronbach's alpha, omega);
- :mod:`research.stats.changepoint` -- change points in a monitored series.
"""

"""The package's one Wilson score interval of a binomial proportion.

Wilson (1927), *JASA* 22:209-212: ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with
``p = x / n`` and ``z`` the normal quantile of ``0.5 + conf_level / 2``; R
``binom::binom.wilson(x, n)`` and ``prop.test(x, n, correct = FALSE)$conf.int``. Computed by
statsmodels (``proportion_confint(method="wilson")``, which clips to [0, 1]).
"""

from __future__ import annotations

import numpy as np


def wilson_interval(successes, trials, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes`` out of ``trials`` (array-likes of counts, or any
    non-negative weights: weighted counts are used as they are).

    Returns ``(low, high)`` arrays of proportions in [0, 1], NaN where ``trials`` is 0 or less
    (or missing). The interval always holds ``p`` (rounding at ``p`` = 0 or 1 is clipped to it).
    """
    from statsmodels.stats.proportion import proportion_confint

    x = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    ok = n > 0
    safe_n = np.where(ok, n, 1.0)
    safe_x = np.where(ok, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = proportion_confint(safe_x, safe_n, alpha=1 - conf_level, method="wilson")
        p = safe_x / safe_n
    low = np.minimum(np.asarray(low, dtype="float64"), p)
    high = np.maximum(np.asarray(high, dtype="float64"), p)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)
